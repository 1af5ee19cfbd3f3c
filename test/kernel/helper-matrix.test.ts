// The helper matrix split over threads (src/collect/helper-matrix.ts) against the real kernel: the rows
// are claimed in chunks by this thread and the worker threads, and whatever a thread answers, the
// matrix is the one a single thread finds; chunks a dying worker had claimed are probed here.
import { describe, expect, it } from 'vitest';
import { HELPER_NAMES } from '../../src/native/uapi-names.ts';
import { probeProgramType, type ProbeEnv } from '../../src/probes/engine.ts';
import { buildEnv, probeTables } from '../../src/collect/index.ts';
import { HelperMatrix, HelperPool } from '../../src/collect/helper-matrix.ts';
import type { WorkerRequest } from '../../src/collect/helper-worker.ts';
import type { ProgRecipe } from '../../src/probes/programs.ts';
import { rootOnly } from '../helpers/root.ts';

const skip = rootOnly('test/kernel/helper-matrix.test.ts (loads programs)');
const ALL = HELPER_NAMES.map((_, id) => id).slice(1);

describe.skipIf(skip)('helper matrix over threads', () => {
  it('gives the same matrix, in the same order, with one thread and with a worker', async () => {
    // No cache passed: each call probes afresh.
    const alone = await probeTables({ workers: 0, families: ['programTypes', 'helpers'] });
    const shared = await probeTables({ workers: 1, families: ['programTypes', 'helpers'] });
    expect(JSON.stringify(shared.helpers)).toBe(JSON.stringify(alone.helpers));
    expect(Object.values(alone.helpers.xdp ?? {}).filter((r) => r.status === 'supported').length).toBeGreaterThan(50);
  });

  it('probes here the chunks a worker claimed before it died, and reports the same rows', async () => {
    const env: ProbeEnv = buildEnv();
    const recipes = new Map<string, ProgRecipe>();
    for (const t of ['xdp', 'socket_filter']) {
      const o = probeProgramType(t, env);
      expect(o.result.status, t).toBe('supported');
      if (o.recipe) recipes.set(t, o.recipe);
    }
    const rows = async (pool: HelperPool | undefined) => {
      const m = new HelperMatrix(env, recipes, pool);
      m.add([
        { progType: 'xdp', ids: ALL },
        { progType: 'socket_filter', ids: ALL },
      ]);
      const out: Record<string, Record<number, string>> = {};
      for (const r of await m.drain()) r.ids.forEach((id, i) => ((out[r.progType] ??= {})[id] = r.results[i]!.status));
      return out;
    };
    const reference = await rows(undefined);
    let claimed = 0;
    // A stand-in for a worker that takes two chunks off the shared counter and then exits.
    const dying = {
      size: 1,
      run: async (_i: number, req: WorkerRequest) => {
        claimed = Atomics.add(req.next, 0, 2) < req.jobs.length ? 2 : 0;
        throw new Error('helper worker exited (code 1) with requests pending');
      },
      close: async () => {},
    } as unknown as HelperPool;
    const recovered = await rows(dying);
    expect(claimed).toBe(2);
    expect(recovered).toEqual(reference);
    expect(Object.keys(recovered.xdp ?? {})).toHaveLength(ALL.length);
  });
});

describe('helper pool', () => {
  it('refuses a request to a worker that has exited instead of waiting for it forever', async () => {
    const pool = new HelperPool(1);
    await pool.close();
    await expect(
      pool.run(0, { env: { caps: 0n, kernVersion: 0 }, jobs: [], next: new Int32Array(new SharedArrayBuffer(4)) }),
    ).rejects.toThrow(/exited/);
  });
});
