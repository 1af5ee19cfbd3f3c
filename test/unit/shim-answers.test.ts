// The shim's answers as they come (src/collect/shim-loads.ts AnswerReader): `bpfready-shim loads`
// writes them in request order as its loaders finish, in pieces of any size; each row is handed on
// as soon as its last answer is there, and the whole is refused unless it ends exactly as it must.
import { describe, expect, it } from 'vitest';
import { AnswerReader, decodeAnswers, type ShimBatch } from '../../src/collect/shim-loads.ts';
import { helperProgramTable } from '../../src/probes/helpers.ts';

const batch: ShimBatch = {
  rows: [
    { spec: { progType: 1, insns: new Uint8Array(0) }, progs: [1, 2] },
    { spec: { progType: 6, insns: new Uint8Array(0) }, progs: [3] },
  ],
  programs: helperProgramTable(),
  logLevel: 4,
  logSize: 4096,
};

/** Well-formed answers: loaded, then a refusal with a log, then a refusal without one. */
function answers(): Uint8Array {
  const log = Buffer.from('program of this type cannot use helper bpf_map_delete_elem#3\nprocessed 1 insns');
  const b = Buffer.alloc(16 + 8 + 8 + log.length + 8 + 4);
  b.writeUInt32LE(0x31415242, 0);
  b.writeUInt32LE(3, 4);
  b.writeUInt32LE(0x1f, 8);
  let o = 16 + 8; // the first: errno 0, no log
  b.writeUInt32LE(22, o);
  b.writeUInt32LE(log.length, o + 4);
  log.copy(b, o + 8);
  o += 8 + log.length;
  b.writeUInt32LE(1, o); // EPERM, no log
  o += 8;
  b.writeUInt32LE(0x31455242, o);
  return b;
}

describe('the shim answers, read as they come', () => {
  it('hands on each row when its last answer is there, whatever the pieces', () => {
    const whole = answers();
    const expected = decodeAnswers(whole, batch, 0x1fn);
    expect(expected).toEqual([
      [
        { ok: true, log: '' },
        { ok: false, errno: 22, log: 'program of this type cannot use helper bpf_map_delete_elem#3\nprocessed 1 insns' },
      ],
      [{ ok: false, errno: 1, log: '' }],
    ]);
    for (const size of [1, 3, 7, 16, 100]) {
      const reader = new AnswerReader(batch);
      const seen: [row: number, at: number][] = [];
      let at = 0;
      reader.onRow = (row) => seen.push([row, at]);
      for (; at < whole.length; at += size) reader.push(whole.subarray(at, at + size));
      expect(reader.end(), `pieces of ${size}`).toEqual(expected);
      expect(reader.caps).toBe(0x1fn);
      // Row 0 as soon as its two answers were in, before row 1's and the end mark.
      expect(seen.map(([row]) => row)).toEqual([0, 1]);
      expect(seen[0]![1]).toBeLessThan(whole.length - 12);
    }
  });

  it('refuses what stops early, runs on after the end mark, or has no header', () => {
    const whole = answers();
    const cut = new AnswerReader(batch);
    cut.push(whole.subarray(0, whole.length - 2));
    expect(() => cut.end()).toThrow(/truncated at byte \d+ \(in the end mark\)/);
    const more = new AnswerReader(batch);
    more.push(whole);
    expect(() => more.push(new Uint8Array(4))).toThrow(/BRE1/);
    expect(() => new AnswerReader(batch).end()).toThrow(/in the header/);
    const wrong = Buffer.from(whole);
    wrong.writeUInt32LE(0, 0);
    expect(() => new AnswerReader(batch).push(wrong)).toThrow(/BRA1/);
  });
});
