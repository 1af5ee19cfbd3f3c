// What one probe may reuse from an earlier one, as one object its owner creates and passes in: the
// daemon holds one for its lifetime, a one-shot command none (probe() then makes a fresh one), a
// test its own. Nothing here is module state, so two owners never share an answer.
//
// The rule (docs/architecture.md, collect/): only conclusive results (supported, unsupported) are
// kept, and they are kept per privilege context — capabilities, token, bpffs mounts, lockdown, the
// JIT switch, seccomp — so an answer that depends on who asks is probed again whenever that changes.
// Not-permitted and error results are never kept.
import { isConclusive, type ProbeResult, type ResultMap } from '../contract/result.ts';
import type { FactSection } from '../contract/report.ts';
import type { EngineBtf } from '../contract/probe-env.ts';
import type { ProgRecipe } from '../probes/programs.ts';
import type { TokenManager } from '../token/manager.ts';

/** The conclusive results of one privilege context. */
export interface ContextCache {
  results: Map<string, ProbeResult>;
  /** The recipe that made each program type load, reused for its helper row. */
  recipes: Map<string, ProgRecipe>;
  /** Helper rows per program type: the results, and the ids still inconclusive. */
  rows: Map<string, { results: ResultMap; pending: number[] }>;
}

/** A process alternates between few contexts (its own, and its token's); the oldest is forgotten. */
const MAX_CONTEXTS = 4;

/**
 * Attaching creates and removes a cgroup and a network namespace: its section is reused while the
 * privilege context is the same, and probed again after this long so a transient error does not stick.
 */
export const ATTACH_MAX_AGE_MS = 10 * 60_000;

/** BTF answers that can let the parsed BTF go between probes while keeping what they answered. */
export type ReleasableBtf = EngineBtf & { release(): void };

export class ProbeCache implements Disposable {
  readonly #contexts = new Map<string, ContextCache>();
  #attach: { key: string; section: FactSection; at: number } | undefined;
  /** Whether the kernel takes log_level BPF_LOG_STATS alone (5.2+); undefined until a load said so. */
  statsLog: boolean | undefined;
  /** The vmlinux BTF answers, by the BTF file's identity (src/collect/index.ts BtfAnswers). */
  btf: { key: string; btf: ReleasableBtf } | undefined;
  /** Owns the token fd across probes (src/token/manager.ts); created by the first full probe. */
  tokens: TokenManager | undefined;

  /** The results of context `key`, created empty on first use; the least recently used beyond four goes. */
  context(key: string): ContextCache {
    let c = this.#contexts.get(key);
    if (c) this.#contexts.delete(key);
    else c = { results: new Map(), recipes: new Map(), rows: new Map() };
    this.#contexts.set(key, c);
    while (this.#contexts.size > MAX_CONTEXTS) this.#contexts.delete(this.#contexts.keys().next().value!);
    return c;
  }

  /** How many privilege contexts have results here. */
  get contexts(): number {
    return this.#contexts.size;
  }

  /** The attach section probed in context `key`, if it is not older than ATTACH_MAX_AGE_MS at `now`. */
  attach(key: string, now: number): FactSection | undefined {
    const a = this.#attach;
    return a?.key === key && now - a.at < ATTACH_MAX_AGE_MS ? a.section : undefined;
  }

  setAttach(key: string, section: FactSection, at: number): void {
    this.#attach = { key, section, at };
  }

  /** Close the token and forget everything. */
  close(): void {
    this.tokens?.close();
    this.tokens = undefined;
    this.#contexts.clear();
    this.#attach = undefined;
    this.statsLog = undefined;
    this.btf = undefined;
  }

  [Symbol.dispose](): void {
    this.close();
  }
}

/** The result under `key` in `ctx`, or run() — kept only when conclusive. */
export function cached(ctx: Map<string, ProbeResult>, key: string, run: () => ProbeResult): ProbeResult {
  const hit = ctx.get(key);
  if (hit) return hit;
  const r = run();
  if (isConclusive(r)) ctx.set(key, r);
  return r;
}
