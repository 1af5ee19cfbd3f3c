// The probe engine's front door. `probeTables()` runs the program, map, helper, attach-type and
// misc tables for one privilege context; `probe()` adds the kernel identity and whatever system
// sections are available, and is what the CLI, the daemon and `check` call.
//
// Caching: what a probe may reuse is in the ProbeCache its caller passes (src/collect/cache.ts):
// conclusive results only, keyed by the privilege context. Without one, nothing is reused.
import { release as osRelease, version as osVersion, machine as osMachine } from 'node:os';
import { join } from 'node:path';
import { HELPER_NAMES, MAP_TYPE_NAMES, PROG_TYPE_NAMES } from '../native/uapi-names.ts';
import { progLoad } from '../native/bpf.ts';
import { raiseMemlockLimit } from '../native/libc.ts';
import { RETURN_ZERO } from '../native/insn.ts';
import { Btf, btfFileKey, BtfKind } from '../kernel/btf.ts';
import { readMountinfoText } from '../kernel/mountinfo.ts';
import { kernelVersionCode } from '../kernel/osrelease.ts';
import { capabilityNames, inInitUserNamespace, readOwnStatus } from '../kernel/procstatus.ts';
import { readLockdownMode } from '../kernel/security.ts';
import { readSysctlInt } from '../kernel/sysctl.ts';
import type { Fact, FactSection, ProbeReport } from '../contract/report.ts';
import {
  btfQueries,
  inheritHelpers,
  MISC_PROBES,
  prepareLoad,
  probeAttachTypes,
  probeAttachVariant,
  probeHelpers,
  probeMapType,
  probeProgramType,
  type EngineBtf,
  type ProbeEnv,
  type TokenOp,
} from '../probes/engine.ts';
import type { ProgRecipe } from '../probes/programs.ts';
import { isConclusive, probeError, type ProbeResult, type ResultMap } from '../contract/result.ts';
import { cached, ProbeCache, type ReleasableBtf } from './cache.ts';
import { defaultWorkers, HelperMatrix, HelperPool, takePrewarmedPool, type HelperJob } from './helper-matrix.ts';
import { HELPER_VARIANTS, PROGRAM_TYPES } from '../probes/programs.ts';
import { answeredBtf, ATTACH_BTF_QUERIES, askAttachBtf, type AttachBtfAnswers } from '../attach/btf-answers.ts';
import type { AttachBtf } from '../attach/context.ts';
import { startAttachWorker } from '../attach/netns.ts';

export interface Tables {
  programTypes: ResultMap;
  mapTypes: ResultMap;
  helpers: Record<string, ResultMap>;
  attachTypes: ResultMap;
  misc: ResultMap;
}

export interface TableOptions {
  hostRoot?: string;
  tokenFd?: number;
  /** Key of the token's delegation, part of the cache key (the token fd number alone is not). */
  tokenKey?: string;
  explainTokenEperm?: (op: TokenOp) => string | undefined;
  /** Worker threads for the helper matrix; default: one per extra CPU, at most 3. */
  workers?: number;
  /**
   * bpfready-shim's path: the helper matrix's loads go through its `loads` (docs/native-shim.md)
   * instead of worker threads. Never for a token probe.
   */
  loadShim?: string;
  /** Told why the shim's answers were not used (default: a line on stderr). */
  onShimError?: (err: Error) => void;
  /** Probe only these families (default all). */
  families?: readonly (keyof Tables)[];
  /** Also the probes that leave marks on the node (off by default; docs/probes.md). */
  full?: boolean;
  /** What earlier probes found that this one may reuse; default: a fresh cache, nothing reused. */
  cache?: ProbeCache;
}

/** A sysctl's value under the host root, or undefined when it cannot be read (src/kernel/sysctl.ts). */
function sysctl(hostRoot: string, name: string): number | undefined {
  const r = readSysctlInt(hostRoot, name);
  return r.ok ? r.value : undefined;
}

/**
 * The vmlinux BTF questions the engine asks (target ids, struct members, enum values), answered once
 * and remembered: a daemon re-probe asks the same questions and gets the remembered answers without
 * the BTF in memory. The BTF is parsed for this alone (not from loadBtfFile's shared cache) so that
 * release() can free it at once when the tables have asked their last question, before the helper
 * answers and the report are built (docs/probes.md, "Memory").
 */
class BtfAnswers implements ReleasableBtf {
  readonly #hostRoot: string;
  readonly #memo = new Map<string, unknown>();
  #btf: Btf | undefined;
  /** The attach section's answers (src/attach/btf-answers.ts), made with the first batch. */
  #attach: AttachBtfAnswers | undefined;
  constructor(hostRoot: string) {
    this.#hostRoot = hostRoot;
  }
  /** Why the BTF file could not be parsed, if it could not: every answer is then "not found". */
  parseError: string | undefined;
  /** The parsed BTF, held until release(): the engine's questions come in bursts. */
  #load(): Btf | undefined {
    if (this.#btf || this.parseError) return this.#btf;
    try {
      this.#btf = Btf.open(join(this.#hostRoot, 'sys/kernel/btf/vmlinux'));
    } catch (err) {
      this.parseError = err instanceof Error ? err.message : String(err);
    }
    return this.#btf;
  }
  /** Free the parsed BTF now (a later question parses it again); the remembered answers stay. */
  release(): void {
    this.#btf?.free();
    this.#btf = undefined;
  }
  #ask<T>(key: string, f: (btf: Btf) => T, none: T): T {
    if (this.#memo.has(key)) return this.#memo.get(key) as T;
    const btf = this.#load();
    // A copy: names in an answer are slices of the BTF string section (~2 MiB), and one kept slice
    // would keep the whole section alive between the daemon's cycles.
    const v = btf ? structuredClone(f(btf)) : none;
    this.#memo.set(key, v);
    return v;
  }
  findId(kind: number, name: string): number | undefined {
    const key = `id:${kind}:${name}`;
    if (!this.#memo.has(key)) {
      // First question: answer every name the tables, and the attach section, may ask in one pass
      // (no name index).
      const queries = [...btfQueries(), ...ATTACH_BTF_QUERIES, [kind, name] as const];
      const ids = this.#load()?.findIds(queries) ?? queries.map(() => undefined);
      queries.forEach(([k, n], i) => this.#memo.set(`id:${k}:${n}`, ids[i]));
      // While the BTF is held: the struct sizes the attach probes need come from it.
      this.#attach ??= askAttachBtf(this);
    }
    return this.#memo.get(key) as number | undefined;
  }
  /**
   * What the attach section needs of vmlinux BTF (src/attach/btf-answers.ts), or why there is none:
   * made with the first batch of questions, while the BTF was held, or now if none has been asked.
   */
  attachInput(): AttachBtfInput {
    if (!this.#attach) this.findId(...ATTACH_BTF_QUERIES[0]!);
    return this.parseError !== undefined ? { btfMissing: this.parseError } : { btf: this.#attach! };
  }
  structMembers(id: number): ReturnType<Btf['structMembers']> {
    return this.#ask(`members:${id}`, (b) => b.structMembers(id), []);
  }
  typeRef(id: number): number {
    return this.#ask(`ref:${id}`, (b) => b.typeRef(id), 0);
  }
  enumValues(name: string): Map<string, bigint> | undefined {
    // The enum's id comes from the batched name pass; only its enumerators are read here.
    const id = this.findId(BtfKind.ENUM, name) ?? this.findId(BtfKind.ENUM64, name);
    return id === undefined ? undefined : this.#ask(`enum:${id}`, (b) => b.enumValuesOf(id), undefined);
  }
}

/** vmlinux BTF as the attach section gets it: the answers to its questions, or why there are none. */
type AttachBtfInput = { btf: AttachBtfAnswers } | { btfMissing: string };

function vmlinuxBtf(hostRoot: string, cache: ProbeCache): { btf?: ReleasableBtf; missing?: string; errno?: string } {
  let key: string;
  try {
    key = btfFileKey(join(hostRoot, 'sys/kernel/btf/vmlinux'));
  } catch (err) {
    const code = (err as NodeJS.ErrnoException).code;
    return { missing: err instanceof Error ? err.message : String(err), ...(code ? { errno: code } : {}) };
  }
  // Parsed on the first question, not here: the helper workers start meanwhile.
  if (cache.btf?.key !== key) cache.btf = { key, btf: new BtfAnswers(hostRoot) };
  return cache.btf;
}

// Whether a verifier log at level BPF_LOG_STATS alone is accepted (5.2+): one load per cache.
function kernelTakesStatsLog(cache: ProbeCache): boolean {
  if (cache.statsLog === undefined) {
    const r = progLoad({ progType: 1, insns: RETURN_ZERO, logLevel: 4 });
    if (r.ok) r.fd.close();
    // EPERM says nothing either way: keep level 1, which every kernel takes, and ask again later.
    if (r.ok || r.errno !== 1) cache.statsLog = r.ok;
    return r.ok;
  }
  return cache.statsLog;
}

export function buildEnv(opts: TableOptions = {}, cache: ProbeCache = opts.cache ?? new ProbeCache()): ProbeEnv {
  // Idempotent (a getrlimit when it is raised already): pre-5.11 kernels charge maps to it.
  raiseMemlockLimit();
  const hostRoot = opts.hostRoot ?? '/';
  const { btf, missing, errno: btfErrno } = vmlinuxBtf(hostRoot, cache);
  const unpriv = sysctl(hostRoot, 'kernel.unprivileged_bpf_disabled');
  const lockdown = readLockdownMode(hostRoot);
  const inInitNs = inInitUserNamespace();
  const childUserNs = opts.tokenFd === undefined && inInitNs === false;
  // Our own thread, whatever the host root: its effective capabilities and seccomp mode.
  const status = readOwnStatus('thread');
  const thread = { caps: status.caps.effective, seccomp: status.fields['Seccomp'] ?? '?' };
  return {
    ...(lockdown !== undefined ? { lockdown } : {}),
    // In a child user namespace the kernel sees none of our capabilities (docs/kernel-notes.md#eperm-first).
    caps: childUserNs ? 0n : thread.caps,
    heldCaps: thread.caps,
    seccomp: thread.seccomp,
    ...(childUserNs ? { childUserNs } : {}),
    ...(inInitNs === false ? { initUserNs: false } : {}),
    kernVersion: kernelVersionCode(),
    statsLog: kernelTakesStatsLog(cache),
    ...(unpriv !== undefined ? { unprivDisabled: unpriv } : {}),
    ...(btf ? { btf } : { btfMissing: missing ?? 'no vmlinux BTF', ...(btfErrno ? { btfErrno } : {}) }),
    ...(opts.tokenFd !== undefined ? { tokenFd: opts.tokenFd } : {}),
    ...(opts.full ? { full: true } : {}),
    ...(opts.explainTokenEperm ? { explainTokenEperm: opts.explainTokenEperm } : {}),
  };
}

const HELPER_IDS = HELPER_NAMES.map((_, id) => id).slice(1);
const HELPER_KEYS = HELPER_NAMES.map((h) => `bpf_${h}`);

function contextKey(env: ProbeEnv, opts: TableOptions): string {
  // Of the mount table only bpffs mounts can change what bpf() lets us do (delegation, tokens):
  // containers coming and going on the host must not throw the cache away.
  let mounts = '';
  try {
    mounts = readMountinfoText()
      .split('\n')
      .filter((l) => / - bpf /.test(l))
      .join('\n');
  } catch {
    // Without a mount table we still key on capabilities and token.
  }
  // Besides capabilities, token and mounts: lockdown (hides helpers), the JIT switch (tracing and
  // extension programs need the JIT) and our seccomp mode (a filter can refuse bpf() itself).
  const jit = sysctl(opts.hostRoot ?? '/', 'net.core.bpf_jit_enable');
  // `full` too: a row probed without the marking helpers lists them as not probed, not pending.
  return `${env.full ? 'full|' : ''}${env.caps.toString(16)}|${opts.tokenKey ?? (env.tokenFd !== undefined ? `fd${env.tokenFd}` : '-')}|${env.unprivDisabled ?? '?'}|${hash(mounts)}|${env.lockdown ?? '?'}|${jit ?? '?'}|${env.seccomp ?? '?'}`;
}

function hash(s: string): string {
  let h = 0x811c9dc5;
  for (let i = 0; i < s.length; i++) h = Math.imul(h ^ s.charCodeAt(i), 0x01000193);
  return (h >>> 0).toString(16);
}

export async function probeTables(opts: TableOptions = {}): Promise<Tables> {
  const cache = opts.cache ?? new ProbeCache();
  const env = buildEnv(opts, cache);
  const key = contextKey(env, opts);
  const { results: ctx, recipes: ctxRecipes, rows } = cache.context(key);
  const want = new Set(opts.families ?? ['programTypes', 'mapTypes', 'helpers', 'attachTypes', 'misc']);
  // Start workers only when there is a helper matrix to share; they warm up while we probe types.
  const uncachedHelpers = want.has('helpers') && rows.size === 0;
  const workers = opts.workers ?? defaultWorkers();
  const shim = uncachedHelpers && opts.tokenFd === undefined ? opts.loadShim : undefined;
  const pool =
    uncachedHelpers && !shim && workers > 0 && opts.tokenFd === undefined
      ? (takePrewarmedPool(workers) ?? new HelperPool(workers))
      : undefined;
  let matrix: HelperMatrix | undefined;
  try {
    matrix = new HelperMatrix(env, ctxRecipes, pool, {
      ...(shim ? { shim } : {}),
      ...(opts.onShimError ? { onShimError: opts.onShimError } : {}),
    });
    const helpers: Record<string, ResultMap> = {};
    const probed: ResultMap = {};
    // Program types that need no BTF first: their helper rows go to the workers at once, while this
    // thread parses BTF for the rest (tracing, lsm, struct_ops, ext).
    const needsBtf = (name: string) => (PROGRAM_TYPES[name] ?? []).some((r) => r.btf || r.extTarget || r.member);
    // A row whose every entry was conclusive is reused whole; otherwise only its inconclusive ids are
    // probed again.
    const queueRow = (rowKey: string, jobs: HelperJob[]): void => {
      const row = rows.get(rowKey);
      const ids = row ? row.pending : HELPER_IDS;
      if (ids.length) jobs.push({ progType: rowKey, ids });
      helpers[rowKey] = row?.results ?? {};
    };
    // The "<type>/<attach>" rows of a program type (programs.ts HELPER_VARIANTS), after its own in
    // the report; [from, to]: a row that is the same as another of its class.
    const variantKeys = new Map<string, string[]>();
    const copies: [from: string, to: string][] = [];
    const variantRows = (name: string, typeResult: ProbeResult, jobs: HelperJob[]): void => {
      const keys: string[] = [];
      variantKeys.set(name, keys);
      const own = typeResult.status === 'supported' ? ctxRecipes.get(name)?.attach : undefined;
      for (const cls of HELPER_VARIANTS[name] ?? []) {
        if (own && cls.includes(own)) continue;
        let probedKey: string | undefined;
        for (const attach of cls) {
          const rowKey = `${name}/${attach}`;
          keys.push(rowKey);
          if (typeResult.status !== 'supported') {
            helpers[rowKey] = inheritHelpers(name, typeResult);
            continue;
          }
          const r = cached(ctx, `prog:${rowKey}`, () => {
            const o = probeAttachVariant(name, attach, env);
            if (o.recipe) ctxRecipes.set(rowKey, o.recipe);
            return o.result;
          });
          if (r.status !== 'supported' || !ctxRecipes.has(rowKey)) {
            helpers[rowKey] = inheritHelpers(name, r, `${name} with expected attach type ${attach}`);
          } else if (probedKey) {
            copies.push([probedKey, rowKey]);
          } else {
            probedKey = rowKey;
            queueRow(rowKey, jobs);
          }
        }
      }
    };
    const names = PROG_TYPE_NAMES.filter((n): n is string => Boolean(n));
    for (const group of [names.filter((n) => !needsBtf(n)), names.filter(needsBtf)]) {
      const jobs: HelperJob[] = [];
      for (const name of group) {
        const result = cached(ctx, `prog:${name}`, () => {
          const o = probeProgramType(name, env);
          if (o.recipe) ctxRecipes.set(name, o.recipe);
          return o.result;
        });
        probed[name] = result;
        if (!want.has('helpers')) continue;
        variantRows(name, result, jobs);
        if (result.status !== 'supported') {
          helpers[name] = inheritHelpers(name, result);
          continue;
        }
        if (!ctxRecipes.has(name)) {
          helpers[name] = inheritHelpers(
            name,
            probeError(
              undefined,
              `supported, but no program of this type loaded here to probe its helpers with (${result.detail ?? 'proven without a target'})`,
            ),
          );
          continue;
        }
        queueRow(name, jobs);
      }
      matrix.add(jobs);
    }
    const programTypes: ResultMap = Object.fromEntries(names.map((n) => [n, probed[n]!]));

    const mapTypes: ResultMap = {};
    if (want.has('mapTypes')) {
      for (const name of MAP_TYPE_NAMES) if (name) mapTypes[name] = cached(ctx, `map:${name}`, () => probeMapType(name, env));
    }

    const attachTypes: ResultMap = {};
    if (want.has('attachTypes')) {
      const results = probeAttachTypes(env, programTypes, (k) => ctx.get(`attach:${k}`));
      for (const [k, v] of Object.entries(results)) {
        attachTypes[k] = v;
        if (isConclusive(v)) ctx.set(`attach:${k}`, v);
      }
    }

    const misc: ResultMap = {};
    if (want.has('misc')) {
      for (const [name, run] of Object.entries(MISC_PROBES)) misc[name] = cached(ctx, `misc:${name}`, () => run(env));
    }

    // The tables' last BTF question is behind us: free it before the helper answers arrive.
    (env.btf as ReleasableBtf | undefined)?.release();
    if (want.has('helpers')) {
      // Results come per chunk of a row, in whatever order the threads answered.
      const fresh = new Map<string, { row: ResultMap; pending: number[] }>();
      for (const { progType, ids, results } of await matrix.drain()) {
        let f = fresh.get(progType);
        if (!f) fresh.set(progType, (f = { row: { ...helpers[progType] }, pending: [] }));
        ids.forEach((id, i) => {
          const r = results[i]!;
          f.row[HELPER_KEYS[id]!] = r;
          // A helper left alone for its marks stays so in this (not full) context: not pending.
          if (!isConclusive(r) && !r.notProbed) f.pending.push(id);
        });
      }
      for (const [progType, { row, pending }] of fresh) {
        // Helper names in enum order.
        const ordered = Object.fromEntries(HELPER_IDS.map((id) => [HELPER_KEYS[id]!, row[HELPER_KEYS[id]!]!]));
        rows.set(progType, { results: ordered, pending: pending.sort((a, b) => a - b) });
        helpers[progType] = ordered;
      }
    }
    for (const [from, to] of copies) helpers[to] = helpers[from]!;
    const orderedHelpers: Record<string, ResultMap> = want.has('helpers')
      ? Object.fromEntries(names.flatMap((n) => [n, ...(variantKeys.get(n) ?? [])]).map((k) => [k, helpers[k]!]))
      : {};

    return { programTypes, mapTypes, helpers: orderedHelpers, attachTypes, misc };
  } finally {
    // A table that threw between add() and drain() must not leave the prepared loads' fds open.
    matrix?.close();
    (env.btf as ReleasableBtf | undefined)?.release();
    await pool?.close();
  }
}

export interface ProbeOptions extends TableOptions {
  signal?: AbortSignal;
  /** Leave out the attach section (it creates and removes a cgroup and a network namespace). */
  skipAttach?: boolean;
  /** Only the bpf() tables (program, map, helper, attach-type, misc): bpftool's scope. */
  tablesOnly?: boolean;
}

/**
 * The whole report: the tables, the system facts, attachability, bpffs mounts and the token view.
 * A section whose collector fails becomes an error fact; the rest of the report stands.
 */
export async function probe(opts: ProbeOptions = {}): Promise<ProbeReport> {
  // Without the caller's cache, this probe's own: its token is closed when the report is made.
  if (!opts.cache) {
    using cache = new ProbeCache();
    return await probe({ ...opts, cache });
  }
  const cache = opts.cache;
  const started = performance.now();
  const hostRoot = opts.hostRoot ?? '/';
  const env = buildEnv(opts, cache);
  // Attaching waits on the kernel more than it computes: when it must run, its probes run in lanes on
  // this thread while the tables wait on the helper loads (docs/probes.md#attach-section).
  const attachPromise = opts.tablesOnly || opts.skipAttach ? undefined : cachedAttach(env, opts, cache);
  // Load the other collectors while the tables are probed (they are awaited below).
  const factsModule = opts.tablesOnly ? undefined : import('../facts/index.ts');
  const tokenModule = opts.tablesOnly ? undefined : import('../token/manager.ts');
  for (const m of [factsModule, tokenModule]) m?.catch(() => undefined);
  const tables = await probeTables(opts);
  // Shutdown aborts between sections; a section in flight finishes (the daemon waits at most 5 s).
  opts.signal?.throwIfAborted();
  if (opts.tablesOnly) {
    return {
      schemaVersion: 1,
      generatedAt: new Date().toISOString(),
      durationMs: Math.round(performance.now() - started),
      kernel: { release: osRelease(), version: osVersion(), machine: osMachine() },
      context: {
        euid: process.geteuid?.() ?? -1,
        effective: capabilityNames(env.heldCaps ?? env.caps),
        ...(env.childUserNs ? { initUserNamespace: false } : {}),
      },
      ...tables,
    };
  }
  const facts = await section('system facts', async () => (await factsModule!).collectSystemFacts({ hostRoot }));
  opts.signal?.throwIfAborted();
  const attach = await attachPromise;
  opts.signal?.throwIfAborted();
  // Owns the token fd across probes: rediscovers bpffs mounts and re-creates the token only when the
  // mount table or our capabilities change (src/token/manager.ts).
  const { TokenManager } = await tokenModule!;
  const tokens = (cache.tokens ??= new TokenManager({ hostRoot, tables: (o) => probeTables({ ...o, hostRoot, workers: 0, cache }) }));
  tokens.refresh();
  // A failing token probe costs the token section, not the report.
  const tokenResult = await section('token', () => tokens.tokenProbe());
  const token = tokenResult !== null && 'error' in tokenResult ? null : tokenResult;
  const tokenError = tokenResult !== null && 'error' in tokenResult ? tokenResult.error : undefined;
  const { kernel: factsKernel, ...factSections } = 'error' in facts ? { kernel: undefined } : facts;
  if ('security' in factSections && factSections.security?.bpf_lsm) {
    // The BPF LSM is usable only if the lsm program type also loads (docs/kernel-notes.md#bpf-lsm).
    const lsm = tables.programTypes.lsm!;
    factSections.security.bpf_lsm_program_type = {
      ...lsm,
      detail: `lsm program type: ${lsm.status}${lsm.detail ? ` (${lsm.detail})` : ''}`,
    };
  }
  return {
    schemaVersion: 1,
    generatedAt: new Date().toISOString(),
    durationMs: Math.round(performance.now() - started),
    // uname(2) of the running kernel; the host's files may add the distro but never blank these.
    kernel: {
      ...(factsKernel ?? {}),
      release: factsKernel?.release || osRelease(),
      version: factsKernel?.version || osVersion(),
      machine: factsKernel?.machine || osMachine(),
    },
    context: {
      euid: process.geteuid?.() ?? -1,
      effective: capabilityNames(env.heldCaps ?? env.caps),
      ...(env.childUserNs ? { initUserNamespace: false } : {}),
      ...(token ? { tokenMount: token.mount } : {}),
    },
    ...tables,
    ...('error' in facts ? { facts: { collector: facts.error } } : factSections),
    ...(attach ? { attach } : {}),
    bpffs: tokens.bpffs(),
    token,
    ...(tokenError ? { tokenError } : {}),
  };
}

async function section<T>(name: string, run: () => Promise<T>): Promise<T | { error: Fact }> {
  try {
    return await run();
  } catch (err) {
    return { error: probeError(undefined, `${name} collector failed: ${err instanceof Error ? err.message : String(err)}`) };
  }
}

// The attach section is reused while the privilege context is the same — its permission-dependent
// answers are never reused across a change of context (src/collect/cache.ts). It runs on this thread:
// its probes mostly wait for the kernel (detaching is closing, done on libuv's pool) and for a child
// process and a worker thread of their own, and begin once this thread waits for the helper matrix
// (docs/probes.md#attach-section).
async function cachedAttach(env: ProbeEnv, opts: ProbeOptions, cache: ProbeCache): Promise<FactSection> {
  const key = contextKey(env, opts);
  const hit = cache.attach(key, performance.now());
  if (hit) return hit;
  // vmlinux BTF comes from this thread's answers, by then made with the tables' first BTF question:
  // the attach probes neither parse it again nor index its names.
  const answers = cache.btf?.btf instanceof BtfAnswers ? cache.btf.btf : undefined;
  const vmlinuxBtf = (): { btf: AttachBtf } | { btfMissing: string } => {
    const input = answers?.attachInput() ?? { btfMissing: env.btfMissing ?? 'no vmlinux BTF' };
    return 'btf' in input ? { btf: answeredBtf(input.btf) } : input;
  };
  const hostRoot = opts.hostRoot ?? '/';
  const result = await section('attach', async () => {
    // The section's worker thread now (this runs before the first await); its probes once loaded,
    // which is when this thread waits.
    const namespaceWorker = startAttachWorker(hostRoot);
    return (await import('../attach/index.ts')).probeAttach({ hostRoot, vmlinuxBtf, namespaceWorker });
  });
  const sectionValue: FactSection = 'error' in result ? { collector: result.error } : result;
  cache.setAttach(key, sectionValue, performance.now());
  return sectionValue;
}

export { prepareLoad, probeHelpers, ProbeCache };
