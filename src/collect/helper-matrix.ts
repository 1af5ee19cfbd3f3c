// The helper matrix is ~6,500 program loads and the verifier dominates its cost: spread the
// program types over worker threads and this thread. fds are per process, so a worker's loads are
// as real as ours, and the dependencies of a prepared load (an extension's target program, BTF)
// stay open here until every worker has answered.
//
// Jobs are added in batches as program types are found loadable; each batch has a shared counter
// from which every thread claims the next chunk of a row when it is free. The workers start on the
// first batch while this thread still probes the program types that need BTF, the map types and
// the rest; then it joins them.
//
// With the native shim (docs/native-shim.md) the loads of every row whose attr holds no fd of ours
// go to `bpfready-shim loads` instead, one process per batch that forks a loader per CPU: no worker
// thread to start. Its answers are interpreted here exactly as in-process loads; if it fails or
// answers anything but the batch, those rows are loaded here after all.
import type { ProbeEnv, PreparedLoad } from '../probes/engine.ts';
import { prepareLoad, probeHelpers } from '../probes/engine.ts';
import { helperLogLevel, helperProgramTable, loadedHelperIds, rowType } from '../probes/helpers.ts';
import type { RawOutcome } from '../contract/interpret.ts';
import { checkCaps, shimCanLoad, startShim, type ShimRun } from './shim-loads.ts';
import { takeSpeculation, type Speculation } from './shim-early.ts';
import type { ProgRecipe } from '../probes/programs.ts';
import { probeError, type ProbeResult } from '../contract/result.ts';
import type { WorkerReply, WorkerRequest } from './helper-worker.ts';
import type { HelperPool } from './helper-pool.ts';
export { defaultWorkers, HelperPool, takePrewarmedPool, prewarmHelperPool } from './helper-pool.ts';

export interface HelperJob {
  progType: string;
  ids: number[];
}
export interface HelperJobResult extends HelperJob {
  results: ProbeResult[];
}

/** Helper ids per claimed job: four chunks per row of ~211 helpers. */
const CHUNK = 56;

interface Batch {
  queue: { job: HelperJob; prepared: PreparedLoad }[];
  next: Int32Array;
  remote: Promise<WorkerReply['rows']>[];
}

interface ShimJob {
  job: HelperJob;
  prepared: PreparedLoad;
  loaded: number[];
}

/** The rows of one shim batch this matrix uses, by their index in the batch. */
interface ShimPart {
  shim: string;
  run: Pick<ShimRun, 'reader' | 'done' | 'kill'>;
  jobs: Map<number, ShimJob>;
  /** Rows already interpreted from their answers (used only if the whole batch is answered well). */
  results: Map<number, HelperJobResult>;
}

export interface MatrixOptions {
  /** Path of bpfready-shim: its `loads` makes the loads it can (never with a token). */
  shim?: string;
  /** Told once why the shim's answers were not used (they were then loaded in process). */
  onShimError?: (err: Error) => void;
}

/** The helper matrix of one probe: add() batches as program types load, then drain() (results come per chunk of a row). */
export class HelperMatrix {
  readonly #env: ProbeEnv;
  readonly #recipes: Map<string, ProgRecipe>;
  readonly #pool: HelperPool | undefined;
  readonly #batches: Batch[] = [];
  readonly #results: HelperJobResult[] = [];
  readonly #deps: PreparedLoad[] = [];
  readonly #shim: string | undefined;
  readonly #shimParts: ShimPart[] = [];
  #earlyPart: ShimPart | undefined;
  readonly #onShimError: (err: Error) => void;
  /** The batch sent before this probe began (src/collect/shim-early.ts), once looked for; null: none. */
  #early: Speculation | null | undefined;

  constructor(env: ProbeEnv, recipes: Map<string, ProgRecipe>, pool: HelperPool | undefined, opts: MatrixOptions = {}) {
    this.#env = env;
    this.#recipes = recipes;
    // Token probes explain EPERM through a closure that cannot cross threads: keep them here.
    this.#pool = env.tokenFd === undefined && pool?.size ? pool : undefined;
    // Nor through the shim: a token is an fd of ours, and token probes keep the in-process path.
    this.#shim = env.tokenFd === undefined ? opts.shim : undefined;
    this.#onShimError =
      opts.onShimError ?? ((err) => process.stderr.write(`bpfready: ${err.message}; helper loads made in process instead\n`));
  }

  /** Send the jobs the shim can load to it; returns the others. */
  #toShim(jobs: { job: HelperJob; prepared: PreparedLoad }[]): { job: HelperJob; prepared: PreparedLoad }[] {
    const shim = this.#shim;
    if (!shim) return jobs;
    const env = this.#env;
    const loads = { programs: helperProgramTable(), logLevel: helperLogLevel(env), logSize: 64 * 1024 };
    if (this.#early === undefined) this.#early = takeSpeculation(shim, loads) ?? null;
    const early = this.#early;
    const rest: typeof jobs = [];
    const fresh: ShimJob[] = [];
    for (const j of jobs) {
      if (!shimCanLoad(j.prepared.spec)) {
        rest.push(j);
        continue;
      }
      const loaded = loadedHelperIds(j.job.ids, env);
      // A row the early batch made exactly these loads for: its answers are this row's.
      const row = early?.row(j.prepared.spec, loaded);
      if (row === undefined) fresh.push({ ...j, loaded });
      else (this.#earlyPart ??= this.#part(shim, early!.run)).jobs.set(row, { ...j, loaded });
    }
    if (early && !this.#earlyPart) {
      // Not one guess was right (no type loaded, say): stop those loads now.
      early.discard();
      this.#early = null;
    }
    if (fresh.length) {
      const run = startShim(shim, { rows: fresh.map((j) => ({ spec: j.prepared.spec, progs: j.loaded })), ...loads });
      const part = this.#part(shim, run);
      fresh.forEach((j, i) => part.jobs.set(i, j));
    }
    return rest;
  }

  /** A batch's rows for this matrix: each one is interpreted as soon as its answers are all there. */
  #part(shim: string, run: ShimPart['run']): ShimPart {
    const part: ShimPart = { shim, run, jobs: new Map(), results: new Map() };
    const caps = this.#env.heldCaps ?? this.#env.caps;
    run.reader.onRow = (row) => {
      // Answers given with other capabilities are refused when the batch is done (drain()).
      if (run.reader.caps === caps) this.#interpret(part, row);
    };
    this.#shimParts.push(part);
    return part;
  }

  #interpret(part: ShimPart, row: number): void {
    const j = part.jobs.get(row);
    const outcomes = part.run.reader.rows[row];
    if (!j || !outcomes || part.results.has(row)) return;
    const answers = new Map(j.loaded.map((id, k) => [id, outcomes[k]!]));
    part.results.set(row, runHere(j.job, j.prepared, this.#env, answers));
  }

  add(jobs: HelperJob[]): void {
    if (!jobs.length) return;
    const queue: Batch['queue'] = [];
    const whole: { job: HelperJob; prepared: PreparedLoad }[] = [];
    for (const job of jobs) {
      // job.progType is the row's key: a program type, or "<type>/<attach>" with its own recipe.
      const prepared = prepareLoad(rowType(job.progType), this.#recipes.get(job.progType) ?? {}, this.#env);
      if (!('spec' in prepared)) {
        this.#results.push({ ...job, results: job.ids.map(() => prepared) });
        continue;
      }
      this.#deps.push(prepared);
      whole.push({ job, prepared });
    }
    for (const { job, prepared } of this.#toShim(whole)) {
      // Rows are claimed in chunks: a row's loads cost 20–150 µs each depending on the program type
      // (tracing's are the dearest), and a whole dear row claimed last would leave the other threads
      // idle while one finishes it.
      for (let k = 0; k < job.ids.length; k += CHUNK)
        queue.push({ job: { progType: job.progType, ids: job.ids.slice(k, k + CHUNK) }, prepared });
    }
    const next = new Int32Array(new SharedArrayBuffer(4));
    const env = this.#env;
    const req: WorkerRequest = {
      env: {
        caps: env.caps,
        kernVersion: env.kernVersion,
        statsLog: env.statsLog ?? false,
        ...(env.unprivDisabled !== undefined ? { unprivDisabled: env.unprivDisabled } : {}),
        ...(env.lockdown !== undefined ? { lockdown: env.lockdown } : {}),
        ...(env.childUserNs ? { childUserNs: true } : {}),
        ...(env.initUserNs === false ? { initUserNs: false } : {}),
        ...(env.full ? { full: true } : {}),
      },
      jobs: queue.map(({ job, prepared }) => ({ progType: job.progType, spec: prepared.spec, ids: job.ids })),
      next,
    };
    const pool = this.#pool;
    const remote = pool ? Array.from({ length: pool.size }, async (_, i) => (await pool.run(i, req)).rows) : [];
    // Observed in drain(); this keeps an early worker failure from being an unhandled rejection.
    for (const r of remote) r.catch(() => undefined);
    this.#batches.push({ queue, next, remote });
  }

  /** Close the fds the prepared loads hold; drain() does it too (closing twice is harmless). */
  close(): void {
    for (const p of this.#deps) for (const fd of p.deps) fd.close();
    this.#early?.discard();
    // A table that threw before drain(): its shims' loads are not wanted (after drain, a no-op).
    for (const p of this.#shimParts) p.run.kill();
  }

  /** Claim and probe what the workers have not taken yet, then collect every result. */
  async drain(): Promise<HelperJobResult[]> {
    try {
      let shimFailed = false;
      for (const { queue, next } of this.#batches) {
        for (let i = Atomics.add(next, 0, 1); i < queue.length; i = Atomics.add(next, 0, 1)) {
          const { job, prepared } = queue[i]!;
          this.#results.push(runHere(job, prepared, this.#env));
        }
      }
      // Every worker reply of every batch at once: a failed worker fails all its pending requests
      // together, and none of them may go unobserved.
      const settled = await Promise.allSettled(this.#batches.flatMap((b) => b.remote));
      for (const s of settled) if (s.status === 'fulfilled') this.#results.push(...s.value);
      // What the shims answered so far, then the rest as it comes (#part() interprets it).
      for (const part of this.#shimParts) for (const row of part.jobs.keys()) this.#interpret(part, row);
      const caps = this.#env.heldCaps ?? this.#env.caps;
      for (const part of this.#shimParts) {
        let ok = false;
        try {
          await part.run.done;
          try {
            checkCaps(part.run.reader.caps, caps);
          } catch (e) {
            throw new Error(`${part.shim} loads: ${(e as Error).message}`);
          }
          ok = true;
        } catch (err) {
          if (!shimFailed) this.#onShimError(err as Error);
          shimFailed = true;
        }
        for (const [row, { job, prepared }] of part.jobs) {
          if (ok) this.#interpret(part, row);
          this.#results.push(ok ? part.results.get(row)! : runHere(job, prepared, this.#env));
        }
      }
      // Jobs a failed worker had claimed have no row: probe them here, so a worker crash costs
      // time, not results.
      const chunkKey = (j: HelperJob): string => `${j.progType}#${j.ids[0]}`;
      const done = new Set(this.#results.map(chunkKey));
      for (const { queue } of this.#batches) {
        for (const { job, prepared } of queue) if (!done.has(chunkKey(job))) this.#results.push(runHere(job, prepared, this.#env));
      }
      return this.#results;
    } finally {
      this.close();
    }
  }
}

function runHere(job: HelperJob, prepared: PreparedLoad, env: ProbeEnv, answers?: ReadonlyMap<number, RawOutcome>): HelperJobResult {
  try {
    return { ...job, results: Object.values(probeHelpers(job.progType, prepared, env, job.ids, answers)) };
  } catch (err) {
    return { ...job, results: job.ids.map(() => probeError(undefined, String(err))) };
  }
}
