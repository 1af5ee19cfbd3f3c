// The ownership annotation, read back from the cluster where anyone may have edited it.
import { describe, expect, it } from 'vitest';
import { decodeOwned } from '../../src/publish/labels.ts';
import { fuzz } from './harness.ts';

describe('decodeOwned (fuzz)', () => {
  it('the ownership annotation read back from the cluster never throws and yields only valid keys', () => {
    // It is input someone else can edit: a broken value must not stop us, nor make us remove labels
    // outside our prefix.
    const seeds = ['program-type.xdp,map-type.hash', 'a,,b', ' x ,y'].map((t) => new TextEncoder().encode(t));
    const stats = fuzz(
      (b) => {
        for (const k of decodeOwned('bpfready.io', new TextDecoder().decode(b))) {
          if (!k.startsWith('bpfready.io/') || k.includes(',')) throw new Error(`bad key ${k}`);
        }
      },
      seeds,
      { iterations: 100_000 },
    );
    expect(stats.crashes).toEqual([]);
    expect(stats.parsed).toBe(100_000);
  });
});
