// The helper matrix's first loads, started before the engine is imported (docs/probes.md, "Speed
// against bpftool"): `bpfready probe` sends, first thing, one batch to `bpfready-shim loads` with a
// row for every program type whose first recipe needs no BTF, guessing that the type loads with that
// recipe. The probe later takes the answers of each row whose load it would have sent itself, the very
// same attr and programs (rowKey()), and sends the rest when it knows them; a guess that was wrong
// (the type did not load, or another recipe did) costs loads, never results.
import { PROGRAM_TYPES } from '../probes/programs.ts';
import { helperLogLevel, helperProgramTable, loadedHelperIds } from '../probes/helpers.ts';
import { ATTACH_TYPE_NAMES, HELPER_NAMES, PROG_TYPE_NAMES } from '../native/uapi-names.ts';
import { kernelVersionCode } from '../kernel/osrelease.ts';
import type { ProgLoadSpec } from '../native/bpf.ts';
import type { RawOutcome } from '../contract/interpret.ts';
import { decodeAnswers, rowKey, sameLoads, startShim, type ShimBatch, type ShimRow, type ShimRun } from './shim-loads.ts';

/** A batch the probe did not ask for yet, and its answers when they come. */
export class Speculation {
  readonly shim: string;
  readonly batch: ShimBatch;
  readonly #run: ShimRun;
  readonly #rows = new Map<string, number>();
  #decoded: Promise<RawOutcome[][]> | undefined;
  constructor(shim: string, batch: ShimBatch, run: ShimRun) {
    this.shim = shim;
    this.batch = batch;
    this.#run = run;
    batch.rows.forEach((r, i) => this.#rows.set(rowKey(r.spec, r.progs), i));
  }
  /** The index of the batch's row that makes exactly these loads, if there is one. */
  row(spec: ProgLoadSpec, progs: readonly number[]): number | undefined {
    return this.#rows.get(rowKey(spec, progs));
  }
  /** Every row's answers, provided the shim ran with `caps` (else it rejects, as for any batch). */
  answers(caps: bigint): Promise<RawOutcome[][]> {
    this.#decoded ??= this.#run.output.then((out) => {
      try {
        return decodeAnswers(out, this.batch, caps);
      } catch (e) {
        throw new Error(`${this.shim} loads: ${(e as Error).message}`);
      }
    });
    return this.#decoded;
  }
  /** Stop the shim if its answers are not wanted any more. */
  discard(): void {
    this.#run.kill();
  }
}

/** The speculative rows: each program type's first recipe, where it needs neither BTF nor fds of ours. */
export function speculativeRows(opts: { full?: boolean } = {}): ShimRow[] {
  const ids = loadedHelperIds(HELPER_NAMES.map((_, id) => id).slice(1), opts);
  const kernVersion = kernelVersionCode();
  const rows: ShimRow[] = [];
  for (const [name, recipes] of Object.entries(PROGRAM_TYPES)) {
    const r = recipes[0];
    if (!r || r.btf || r.member || r.extTarget) continue;
    const spec: ProgLoadSpec = { progType: PROG_TYPE_NAMES.indexOf(name), insns: new Uint8Array(0), license: 'GPL' };
    if (r.attach) spec.expectedAttachType = ATTACH_TYPE_NAMES.indexOf(r.attach);
    if (r.flags) spec.progFlags = r.flags;
    if (r.kernVersion) spec.kernVersion = kernVersion;
    rows.push({ spec, progs: ids });
  }
  return rows;
}

let pending: Speculation | undefined;

/**
 * Send the speculative batch to the shim now; the next helper matrix that uses this shim takes it
 * (takeSpeculation). `statsLog`: the log level the probe will most likely use (5.2+ kernels).
 */
export function speculateHelperLoads(shim: string, opts: { full?: boolean; rows?: ShimRow[]; statsLog?: boolean } = {}): Speculation {
  pending?.discard();
  const batch: ShimBatch = {
    rows: opts.rows ?? speculativeRows(opts),
    programs: helperProgramTable(),
    logLevel: helperLogLevel({ statsLog: opts.statsLog ?? true }),
    logSize: 64 * 1024,
  };
  pending = new Speculation(shim, batch, startShim(shim, batch));
  return pending;
}

/** The pending speculation if it went to this shim and loads what `like` would load; it is then the caller's. */
export function takeSpeculation(shim: string, like: Omit<ShimBatch, 'rows'>): Speculation | undefined {
  const s = pending;
  if (!s || s.shim !== shim || !sameLoads(s.batch, like)) return undefined;
  pending = undefined;
  return s;
}

/** Stop a speculation nobody took (the command ended without a helper matrix: usage error, --help). */
export function discardSpeculation(): void {
  pending?.discard();
  pending = undefined;
}
