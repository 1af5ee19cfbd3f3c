// The early helper batch (src/collect/shim-early.ts) builds, without koffi or the engine, the loads
// the engine would send: the first recipes of the program types that need no BTF, the helper
// programs, and the helpers the default probe leaves alone. Held here to what the engine builds: a
// row that drifts would never be taken (only time lost), a marking helper in it would be loaded
// before the probe could refuse it.
import { describe, expect, it } from 'vitest';
import { speculativeBatch, speculativeRows } from '../../src/collect/shim-early.ts';
import { rowKey, sameLoads } from '../../src/collect/shim-loads.ts';
import { prepareLoad, type ProbeEnv } from '../../src/probes/engine.ts';
import { helperLogLevel, helperProgramTable, loadedHelperIds } from '../../src/probes/helpers.ts';
import { PROGRAM_TYPES } from '../../src/probes/programs.ts';
import { HELPER_NAMES } from '../../src/native/uapi-names.ts';
import { kernelVersionCode } from '../../src/kernel/osrelease.ts';

const ALL = HELPER_NAMES.map((_, id) => id).slice(1);

describe('the early helper batch', () => {
  it('leaves alone exactly the helpers the probe leaves alone', () => {
    const ids = speculativeRows()[0]!.progs;
    expect(ids).toEqual(loadedHelperIds(ALL, {}));
    expect(speculativeRows({ full: true })[0]!.progs).toEqual(loadedHelperIds(ALL, { full: true }));
  });

  it('loads the helper programs with the log the probe asks for', () => {
    const like = { programs: helperProgramTable(), logLevel: helperLogLevel({ statsLog: true }), logSize: 64 * 1024 };
    expect(sameLoads(speculativeBatch(), like)).toBe(true);
    // and sameLoads() tells a batch of other programs or another log apart
    expect(sameLoads(speculativeBatch(), { ...like, logLevel: helperLogLevel({ statsLog: false }) })).toBe(false);
    const other = [...like.programs];
    other[5] = new Uint8Array(other[5]!.length);
    expect(sameLoads(speculativeBatch(), { ...like, programs: other })).toBe(false);
  });

  it('has one row per program type whose first recipe needs no BTF, the attr the engine builds from it', () => {
    const env = { caps: 0n, kernVersion: kernelVersionCode() } as ProbeEnv;
    const ids = loadedHelperIds(ALL, env);
    const expected: string[] = [];
    for (const [name, recipes] of Object.entries(PROGRAM_TYPES)) {
      const first = recipes[0]!;
      if (first.btf || first.member || first.extTarget) continue;
      const prepared = prepareLoad(name, first, env);
      if (!('spec' in prepared)) throw new Error(`${name}: ${prepared.detail}`);
      expected.push(rowKey(prepared.spec, ids));
    }
    expect(speculativeRows().map((r) => rowKey(r.spec, r.progs))).toEqual(expected);
  });
});
