// The ELF/BTF object reader against 100k mutated objects (bit flips, byte runs inserted, deleted and
// duplicated, interesting integers) of real clang output, plus random bytes: every input must parse or
// throw ParseError (0 crashes), and none may take long (0 hangs). Deterministic: a failure reproduces
// from its seed.
import { execFileSync } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { describe, expect, it } from 'vitest';
import { ParseError } from '../../src/errors.ts';
import { parseBpfObject } from '../../src/kernel/elf-bpf.ts';
import { requirementsFromObject } from '../../src/requirements/from-elf.ts';
import { fuzz, mutateBytes, rng } from '../fuzz/harness.ts';
import { clangAvailable, fixtures } from './fixtures.ts';

// A hang is a loop that does not end; single slow inputs on a shared 2-core machine are GC pauses (they
// re-time under 10 ms), so the bound is generous.
const HANG_MS = 5_000;
const haveClang = clangAvailable();
if (!haveClang) console.warn('test/requirements/fuzz-elf.test.ts: SKIP: clang is not installed; there are no seed objects');

function seeds(): Uint8Array[] {
  const out: Uint8Array[] = [];
  for (const path of fixtures().values()) {
    out.push(readFileSync(path));
    // Without DWARF the same object is a third of the size, so mutations land in the parts we read.
    try {
      out.push(execFileSync('llvm-objcopy', ['--strip-debug', path, '/dev/stdout']));
    } catch {
      // llvm-objcopy comes with llvm; without it the full objects still seed the run.
    }
  }
  return out;
}

const parse = (b: Uint8Array): unknown => requirementsFromObject(parseBpfObject(b, 'fuzz.o'));

describe.skipIf(!haveClang)('ELF reader fuzz', () => {
  it('100k mutated objects: 0 crashes, 0 hangs', () => {
    const s = seeds();
    const rand = rng(0xb9f);
    let parsed = 0;
    let rejected = 0;
    let slowest = 0;
    const crashes: { seedIndex: number; error: unknown }[] = [];
    const t0 = performance.now();
    for (let i = 0; i < 100_000; i++) {
      const k = Math.floor(rand() * s.length);
      const input = mutateBytes(s[k]!, rand);
      const t = performance.now();
      try {
        parse(input);
        parsed++;
      } catch (e) {
        if (e instanceof ParseError) rejected++;
        else if (crashes.length < 5) crashes.push({ seedIndex: i, error: e });
      }
      slowest = Math.max(slowest, performance.now() - t);
    }
    console.log(`fuzz-elf: 100000 mutated objects from ${s.length} seeds in ${Math.round(performance.now() - t0)} ms: parsed ${parsed}, rejected ${rejected}, crashes ${crashes.length}, slowest ${slowest.toFixed(1)} ms`);
    expect(crashes).toEqual([]);
    expect(slowest).toBeLessThan(HANG_MS);
    // The mutations must exercise the reader, not only its magic check.
    expect(parsed).toBeGreaterThan(1_000);
  }, 600_000);

  it('harness run (random and mutated): 0 crashes, 0 hangs', () => {
    const stats = fuzz(parse, seeds(), { iterations: 20_000, seed: 7 });
    console.log(`fuzz-elf harness: ${stats.inputs} inputs, parsed ${stats.parsed}, rejected ${stats.rejected}, crashes ${stats.crashes.length}, slowest ${stats.slowest.toFixed(1)} ms`);
    expect(stats.crashes).toEqual([]);
    expect(stats.slowest).toBeLessThan(HANG_MS);
  }, 600_000);
});
