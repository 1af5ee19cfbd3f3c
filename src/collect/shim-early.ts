// The helper matrix's first loads, started before the engine is imported (docs/probes.md, "Speed
// against bpftool"): `bpfready probe` sends, first thing, one batch to `bpfready-shim loads` with a
// row for every program type whose first recipe needs no BTF, guessing that the type loads with that
// recipe. The probe later takes the answers of each row whose load it would have sent itself, the very
// same attr and programs (rowKey()), and sends the rest when it knows them; a guess that was wrong
// (the type did not load, or another recipe did) costs loads, never results.
//
// This module and what it imports load no koffi and no engine (~18 ms of imports on the development
// VM, before the first load could go out): the rows come from the program table (src/probes/programs.ts)
// and the marking helpers (src/probes/marks.ts), both free of koffi; test/unit/shim-early.test.ts holds
// the attr built here to the one the engine builds.
import { callHelper, encode, exit, mov64Imm } from '../native/insn.ts';
import { ATTACH_TYPE_NAMES, HELPER_NAMES, PROG_TYPE_NAMES } from '../native/uapi-names.ts';
import { kernelVersionCode } from '../kernel/osrelease.ts';
import type { ProgLoadSpec } from '../native/bpf.ts';
import type { RawOutcome } from '../contract/interpret.ts';
import { SIDE_EFFECT_HELPERS } from '../probes/marks.ts';
import { PROGRAM_TYPES } from '../probes/programs.ts';
import { checkCaps, rowKey, sameLoads, startShim, type ShimBatch, type ShimRow, type ShimRun } from './shim-loads.ts';

/** `call <id>; r0 = 0; exit` for every helper id, as src/probes/helpers.ts encodes them. */
function helperPrograms(): Uint8Array[] {
  return HELPER_NAMES.map((_, id) => encode([callHelper(id), mov64Imm(0, 0), exit()]));
}

/** A batch the probe did not ask for yet, and its answers when they come. */
export class Speculation {
  readonly shim: string;
  readonly batch: ShimBatch;
  /** The shim at work on it. */
  readonly run: ShimRun;
  readonly #rows = new Map<string, number>();
  /** The rows a helper matrix took (by index in the batch). */
  readonly used = new Set<number>();
  constructor(shim: string, batch: ShimBatch, run: ShimRun) {
    this.shim = shim;
    this.batch = batch;
    this.run = run;
    batch.rows.forEach((r, i) => this.#rows.set(rowKey(r.spec, r.progs), i));
  }
  /** The index of the batch's row that makes exactly these loads, if there is one. */
  row(spec: ProgLoadSpec, progs: readonly number[]): number | undefined {
    const i = this.#rows.get(rowKey(spec, progs));
    if (i !== undefined) this.used.add(i);
    return i;
  }
  /** Every row's answers, provided the shim ran with `caps` (else it rejects, as for any batch). */
  async answers(caps: bigint): Promise<RawOutcome[][]> {
    const rows = await this.run.done;
    try {
      checkCaps(this.run.reader.caps, caps);
    } catch (e) {
      throw new Error(`${this.shim} loads: ${(e as Error).message}`);
    }
    return rows;
  }
  /** Stop the shim if its answers are not wanted any more. */
  discard(): void {
    this.run.kill();
  }
}

/** The speculative rows: each program type's first recipe, where it needs neither BTF nor fds of ours. */
export function speculativeRows(opts: { full?: boolean } = {}): ShimRow[] {
  const ids = HELPER_NAMES.flatMap((h, id) => (id > 0 && (opts.full || !Object.hasOwn(SIDE_EFFECT_HELPERS, h)) ? [id] : []));
  const kernVersion = kernelVersionCode();
  const rows: ShimRow[] = [];
  for (const [name, recipes] of Object.entries(PROGRAM_TYPES)) {
    const r = recipes[0];
    const progType = PROG_TYPE_NAMES.indexOf(name);
    if (!r || progType < 0 || r.btf || r.member || r.extTarget) continue;
    const spec: ProgLoadSpec = { progType, insns: new Uint8Array(0), license: 'GPL' };
    if (r.attach) spec.expectedAttachType = ATTACH_TYPE_NAMES.indexOf(r.attach);
    if (r.flags) spec.progFlags = r.flags;
    if (r.kernVersion) spec.kernVersion = kernVersion;
    rows.push({ spec, progs: ids });
  }
  return rows;
}

let pending: Speculation | undefined;

/** Send the speculative batch to the shim now; the next helper matrix that uses this shim takes it (takeSpeculation). */
export function speculateHelperLoads(shim: string, opts: SpeculationOptions = {}): Speculation {
  pending?.discard();
  const batch = speculativeBatch(opts);
  pending = new Speculation(shim, batch, startShim(shim, batch));
  return pending;
}

export interface SpeculationOptions {
  /** Rows for `bpfready probe --full` (the helpers that mark the node too). */
  full?: boolean;
  /** Other rows than speculativeRows() (tests). */
  rows?: ShimRow[];
}

/** The speculative batch: the rows, the helper programs, the log the probe will most likely ask for. */
export function speculativeBatch(opts: SpeculationOptions = {}): ShimBatch {
  return {
    rows: opts.rows ?? speculativeRows(opts),
    programs: helperPrograms(),
    // BPF_LOG_STATS (4), which 5.2+ kernels take (src/probes/helpers.ts): a kernel that does not
    // gets no row of this batch.
    logLevel: 4,
    logSize: 64 * 1024,
  };
}

/**
 * The pending speculation if it went to this shim and loads what `like` would load; it is then the
 * caller's. One that does not match (another shim, another log level) is stopped: nobody will take it.
 */
export function takeSpeculation(shim: string, like: Omit<ShimBatch, 'rows'>): Speculation | undefined {
  const s = pending;
  if (!s) return undefined;
  pending = undefined;
  if (s.shim === shim && sameLoads(s.batch, like)) return s;
  s.discard();
  return undefined;
}

/** Stop a speculation nobody took (the command ended without a helper matrix: usage error, --help). */
export function discardSpeculation(): void {
  pending?.discard();
  pending = undefined;
}
