// The helper matrix is ~6,500 program loads and the verifier dominates its cost: spread the
// program types over worker threads and probe a share on this thread meanwhile. fds are per
// process, so a worker's loads are as real as ours, and the dependencies of a prepared load (an
// extension's target program, BTF) stay open here until every worker has answered.
import { availableParallelism } from 'node:os';
import { Worker } from 'node:worker_threads';
import type { ProbeEnv, PreparedLoad } from './engine.ts';
import { prepareLoad, probeHelpers } from './engine.ts';
import type { ProgRecipe } from './programs.ts';
import { probeError, type ProbeResult } from './result.ts';
import type { WorkerReply, WorkerRequest } from './helper-worker.ts';

export interface HelperJob {
  progType: string;
  ids: number[];
}
export interface HelperJobResult extends HelperJob {
  results: ProbeResult[];
}

/** Workers started ahead of need: their start-up overlaps the program and map probes. */
export class HelperPool {
  readonly #workers: Worker[] = [];
  readonly #ready: Promise<void>[] = [];
  constructor(size: number) {
    for (let i = 0; i < size; i++) {
      const w = new Worker(new URL('./helper-worker.ts', import.meta.url));
      this.#workers.push(w);
      this.#ready.push(
        new Promise((resolve, reject) => {
          w.once('message', () => resolve());
          w.once('error', reject);
        }),
      );
    }
  }
  get size(): number {
    return this.#workers.length;
  }
  /** Resolves once worker i has finished its imports. */
  ready(i: number): Promise<void> {
    return this.#ready[i]!;
  }
  run(i: number, req: WorkerRequest): Promise<WorkerReply> {
    const w = this.#workers[i]!;
    return new Promise((resolve, reject) => {
      const onError = (err: Error) => {
        w.off('message', onMessage);
        reject(err);
      };
      const onMessage = (reply: WorkerReply) => {
        w.off('error', onError);
        resolve(reply);
      };
      w.once('message', onMessage);
      w.once('error', onError);
      w.postMessage(req);
    });
  }
  async close(): Promise<void> {
    await Promise.all(this.#workers.map((w) => w.terminate()));
  }
}

export function defaultWorkers(): number {
  return Math.min(3, Math.max(0, availableParallelism() - 1));
}

interface Prepared {
  job: HelperJob;
  prepared: PreparedLoad | ProbeResult;
}

export async function runHelperMatrix(
  jobs: HelperJob[],
  env: ProbeEnv,
  recipes: Map<string, ProgRecipe>,
  pool: HelperPool | undefined,
): Promise<HelperJobResult[]> {
  const items: Prepared[] = jobs.map((job) => ({ job, prepared: prepareLoad(job.progType, recipes.get(job.progType) ?? {}, env) }));
  try {
    // Token probes explain EPERM through a closure that cannot cross threads: keep them here.
    if (!pool || pool.size === 0 || env.tokenFd !== undefined) return items.map(runHere(env));
    // A shared queue, one program type at a time: a worker still starting takes nothing, and
    // whoever is free takes the next type, so the threads finish together.
    const queue = items.filter((s) => 'spec' in s.prepared);
    const results = items.filter((s) => !('spec' in s.prepared)).map(runHere(env));
    const workerEnv: WorkerRequest['env'] = {
      caps: env.caps,
      kernVersion: env.kernVersion,
      ...(env.unprivDisabled !== undefined ? { unprivDisabled: env.unprivDisabled } : {}),
    };
    const remote = Array.from({ length: pool.size }, async (_, i) => {
      await pool.ready(i);
      for (let item = queue.shift(); item; item = queue.shift()) {
        const spec = (item.prepared as PreparedLoad).spec;
        const reply = await pool.run(i, { env: workerEnv, jobs: [{ progType: item.job.progType, spec, ids: item.job.ids }] });
        results.push(...reply.rows);
      }
    });
    for (let item = queue.shift(); item; item = queue.shift()) {
      results.push(runHere(env)(item));
      // Let worker replies in, so they get their next type without waiting for this loop.
      await new Promise((r) => setImmediate(r));
    }
    await Promise.all(remote);
    return results;
  } finally {
    for (const item of items) if ('spec' in item.prepared) for (const fd of item.prepared.deps) fd.close();
  }
}

function runHere(env: ProbeEnv): (item: Prepared) => HelperJobResult {
  return ({ job, prepared }) => {
    if (!('spec' in prepared)) return { ...job, results: job.ids.map(() => prepared) };
    try {
      return { ...job, results: Object.values(probeHelpers(job.progType, prepared, env, job.ids)) };
    } catch (err) {
      return { ...job, results: job.ids.map(() => probeError(undefined, String(err))) };
    }
  };
}
