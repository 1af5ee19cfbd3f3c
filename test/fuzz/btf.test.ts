// The BTF parser against 100k random and mutated blobs, and every query on what parses.
import { readFileSync } from 'node:fs';
import { describe, expect, it } from 'vitest';
import { Btf, BtfKind } from '../../src/kernel/btf.ts';
import { buildBtf } from '../unit/parsers/btf-builder.ts';
import { BASE_TYPES, MINIMAL } from '../unit/parsers/btf-samples.ts';
import { fuzz } from './harness.ts';

const fixture = (name: string) => readFileSync(new URL(`../fixtures/kernel/${name}`, import.meta.url));

describe('Btf.parse (fuzz)', () => {
  it('survives 100k random and mutated blobs (fuzz)', () => {
    const seeds = [
      MINIMAL,
      fixture('btf-sample.el.btf'),
      fixture('btf-sample.eb.btf'),
      buildBtf(BASE_TYPES),
      buildBtf(BASE_TYPES, { littleEndian: false }),
    ];
    const stats = fuzz(
      (bytes) => {
        const btf = Btf.parse(bytes, { input: 'fuzz' });
        // Everything reachable from a parsed blob must be safe too.
        for (let id = 0; id <= btf.typeCount + 1; id++) {
          btf.name(id);
          btf.structMembers(id);
          btf.funcParams(id);
        }
        btf.declTagged('bpf_kfunc');
        btf.enumValues('colour');
        btf.findId(BtfKind.FUNC, 'tagged_fn');
      },
      seeds,
      { iterations: 100_000 },
    );
    console.log(
      `btf fuzz: ${stats.inputs} inputs, ${stats.parsed} parsed, ${stats.rejected} rejected, slowest ${stats.slowest.toFixed(2)} ms`,
    );
    expect(stats.crashes).toEqual([]);
    expect(stats.parsed).toBeGreaterThan(100);
    expect(stats.slowest).toBeLessThan(1000); // a hang, not a speed goal
  });
});
