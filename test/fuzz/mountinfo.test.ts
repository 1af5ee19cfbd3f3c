// The mountinfo parser, strict and lenient, against random and mutated mount tables.
import { readFileSync } from 'node:fs';
import { describe, expect, it } from 'vitest';
import { parseMountinfo, parseMountinfoLenient } from '../../src/kernel/mountinfo.ts';
import { fuzz } from './harness.ts';

const fixture = (name: string) => readFileSync(new URL(`../fixtures/mountinfo/${name}`, import.meta.url), 'utf8');

describe('parseMountinfo (fuzz)', () => {
  it('survives 100k fuzzed inputs: every input parses or is a ParseError, none hangs', () => {
    const enc = new TextEncoder();
    const dec = new TextDecoder();
    const seeds = ['node-bpffs.txt', 'escapes.txt', 'malformed.txt'].map((f) => enc.encode(fixture(f)));
    const stats = fuzz((bytes) => parseMountinfo(dec.decode(bytes), 'fuzz'), seeds, { iterations: 100_000, seed: 4 });
    expect(stats.crashes).toEqual([]);
    expect(stats.inputs).toBe(100_000);
    // Both paths must be exercised, or the fuzzer is not testing the parser.
    expect(stats.parsed).toBeGreaterThan(1000);
    expect(stats.rejected).toBeGreaterThan(1000);
    // A hang, not a speed goal: one input of a few KiB taking a second would mean runaway backtracking.
    expect(stats.slowest).toBeLessThan(1000);
    const lenient = fuzz((bytes) => parseMountinfoLenient(dec.decode(bytes), 'fuzz'), seeds, { iterations: 20_000, seed: 5 });
    expect(lenient.crashes).toEqual([]);
    expect(lenient.rejected).toBe(0);
    console.info(
      `mountinfo fuzz: ${stats.inputs} inputs, ${stats.parsed} parsed, ${stats.rejected} rejected, slowest ${stats.slowest.toFixed(2)} ms`,
    );
  });
});
