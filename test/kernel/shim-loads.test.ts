// The helper matrix's loads through `bpfready-shim loads` (src/collect/shim-loads.ts, docs/native-shim.md)
// against the real kernel: every table is the one the in-process loads give, as root and with only
// some capabilities; a shim that answers anything but the batch is named and the loads are made in
// process instead.
import { spawnSync } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { buildEnv, probeTables, type Tables } from '../../src/collect/index.ts';
import { LOAD_SHIM, loadShimPath } from '../../src/collect/shim-path.ts';
import { decodeAnswers, encodeBatch, shimLoads, type ShimBatch } from '../../src/collect/shim-loads.ts';
import { helperProgramTable } from '../../src/probes/helpers.ts';
import { HELPER_NAMES } from '../../src/native/uapi-names.ts';
import { rootOnly } from '../helpers/root.ts';
import { expectSameTables, scriptFolder } from '../helpers/stand-in.ts';

const skip = rootOnly('test/kernel/shim-loads.test.ts (loads programs)');
const FAKE = join(import.meta.dirname, 'fake-loads-shim.ts');
const { dir, script } = scriptFolder('bpfready-shim-loads-');

describe.skipIf(skip || !loadShimPath())('helper loads through bpfready-shim (real kernel)', () => {
  it('gives every table the in-process loads give, as root, and the shim really made the loads', async () => {
    const log = join(dir, 'calls');
    const wrapper = script('logging-shim', `echo "$*" >> ${log}\nexec ${LOAD_SHIM} "$@"`);
    const errors: string[] = [];
    const viaShim = await probeTables({ loadShim: wrapper, onShimError: (e) => errors.push(e.message) });
    const inProcess = await probeTables({ workers: 0 });
    expect(errors).toEqual([]);
    expect(readFileSync(log, 'utf8')).toMatch(/^loads/);
    expectSameTables(viaShim, inProcess, 'as root');
    expect(Object.values(viaShim.helpers.xdp ?? {}).filter((r) => r.status === 'supported').length).toBeGreaterThan(50);
  });

  // Fewer capabilities, in a process of their own: the shim inherits exactly them, and what they
  // hide reads not-permitted through the shim as it does in process (never cached across privilege:
  // each probe has its own cache).
  it.each(['cap_bpf', 'cap_bpf,cap_perfmon', 'none'])('gives the same tables with only %s', (keep) => {
    const run = spawnSync(LOAD_SHIM, ['caps', '--keep', keep, '--', process.execPath, 'test/kernel/shim-loads-runner.ts'], {
      maxBuffer: 64 << 20,
    });
    expect(run.status, run.stderr.toString()).toBe(0);
    const { shim, inProcess, errors } = JSON.parse(run.stdout.toString()) as { shim: Tables; inProcess: Tables; errors: string[] };
    expect(errors).toEqual([]);
    expectSameTables(shim, inProcess, `with ${keep}`);
    const notPermitted = Object.values(shim.helpers)
      .flatMap((row) => Object.values(row))
      .filter((r) => r.status === 'not-permitted');
    expect(notPermitted.length).toBeGreaterThan(0);
  });

  it.each([
    ['truncated answers', 'cat > /dev/null; printf BRA1'],
    ['a wrong count', `cat > /dev/null; printf 'BRA1\\001\\000\\000\\000\\000\\000\\000\\000\\000\\000\\000\\000'`],
    ['an error exit', 'cat > /dev/null; echo "bpfready-shim loads: something broke" >&2; exit 125'],
    ['a crash', 'kill -SEGV $$'],
    // Answers come as they are done and their rows are interpreted at once: none of that may be
    // used when the batch does not end well (the stand-in's answers, all "loaded", are wrong).
    ['answers cut short after some rows', `${process.execPath} ${FAKE} | head -c 2000`],
    ['a failure after every answer', `${process.execPath} ${FAKE}; exit 3`],
  ])('names %s and makes the loads in process instead', async (name, body) => {
    const bad = script(name.replace(/ /g, '-'), body);
    const errors: string[] = [];
    const tables = await probeTables({ loadShim: bad, onShimError: (e) => errors.push(e.message), families: ['programTypes', 'helpers'] });
    const reference = await probeTables({ workers: 0, families: ['programTypes', 'helpers'] });
    expect(errors).toHaveLength(1);
    expect(errors[0]).toContain(bad);
    expect(JSON.stringify(tables.helpers)).toBe(JSON.stringify(reference.helpers));
  });

  it('answers a batch in request order, errno and log per load, and its own capabilities', async () => {
    const env = buildEnv();
    const unknown = HELPER_NAMES.length + 5;
    const programs = [...helperProgramTable()];
    // A helper id past the last one: "invalid func unknown#N" in every kernel's log.
    programs.push(new Uint8Array([0x85, 0, 0, 0, unknown, 0, 0, 0, 0xb7, 0, 0, 0, 0, 0, 0, 0, 0x95, 0, 0, 0, 0, 0, 0, 0]));
    const batch: ShimBatch = {
      rows: [
        {
          spec: { progType: 1, insns: new Uint8Array(0) },
          progs: [programs.length - 1, HELPER_NAMES.indexOf('ktime_get_ns'), programs.length - 1],
        },
      ],
      programs,
      logLevel: 1,
      logSize: 65536,
    };
    const [row] = await shimLoads(LOAD_SHIM, batch, env.heldCaps ?? env.caps);
    expect(row).toHaveLength(3);
    expect(row![0]).toMatchObject({ ok: false, errno: 22, log: expect.stringContaining(`#${unknown}`) });
    expect(row![1]).toEqual({ ok: true, log: '' }); // bpf_ktime_get_ns, offered to socket filters
    expect(row![2]).toEqual(row![0]);
  });

  it('refuses a batch that ends early, with a message', () => {
    const batch: ShimBatch = {
      rows: [{ spec: { progType: 1, insns: new Uint8Array(0) }, progs: [1] }],
      programs: helperProgramTable(),
      logLevel: 1,
      logSize: 4096,
    };
    const input = encodeBatch(batch);
    const run = spawnSync(LOAD_SHIM, ['loads'], { input: input.subarray(0, input.length - 3) });
    expect(run.status).toBe(125);
    expect(run.stderr.toString()).toMatch(/^bpfready-shim loads: the batch ends early/);
  });
});

describe('shim answers', () => {
  const batch: ShimBatch = {
    rows: [{ spec: { progType: 1, insns: new Uint8Array(0) }, progs: [1, 2] }],
    programs: helperProgramTable(),
    logLevel: 1,
    logSize: 4096,
  };
  const answers = (count: number, caps: bigint, tail = true, extra = 0): Uint8Array => {
    const log = new TextEncoder().encode('unknown func');
    const b = new Uint8Array(16 + 8 + 8 + log.length + (tail ? 4 : 0) + extra);
    const v = new DataView(b.buffer);
    v.setUint32(0, 0x31415242, true);
    v.setUint32(4, count, true);
    v.setUint32(8, Number(caps & 0xffffffffn), true);
    v.setUint32(12, Number(caps >> 32n), true);
    v.setUint32(16, 0, true); // loaded, no log
    v.setUint32(20, 0, true);
    v.setUint32(24, 22, true);
    v.setUint32(28, log.length, true);
    b.set(log, 32);
    if (tail) v.setUint32(32 + log.length, 0x31455242, true);
    return b;
  };
  it('reads well-formed answers', () => {
    expect(decodeAnswers(answers(2, 5n), batch, 5n)).toEqual([
      [
        { ok: true, log: '' },
        { ok: false, errno: 22, log: 'unknown func' },
      ],
    ]);
  });
  it('refuses a wrong count, other capabilities, a missing end mark and trailing bytes', () => {
    expect(() => decodeAnswers(answers(3, 5n), batch, 5n)).toThrow('3 answers for 2 requests');
    expect(() => decodeAnswers(answers(2, 7n), batch, 5n)).toThrow(/capabilities 0x7, this process with 0x5/);
    expect(() => decodeAnswers(answers(2, 5n, false), batch, 5n)).toThrow(/truncated/);
    expect(() => decodeAnswers(answers(2, 5n, true, 4), batch, 5n)).toThrow(/BRE1/);
    expect(() => decodeAnswers(answers(2, 5n).subarray(0, 30), batch, 5n)).toThrow(/truncated/);
  });
});
