// The ELF/BTF object reader against 100k mutated objects (bit flips, byte runs inserted, deleted and
// duplicated, interesting integers) of real clang output, plus random bytes: every input must parse or
// throw ParseError (0 crashes), and none may take long (0 hangs). Deterministic: a failure reproduces
// from its seed.
import { execFileSync } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { resolve } from 'node:path';
import { describe, expect, it } from 'vitest';
import { ParseError } from '../../src/base/errors.ts';
import { parseBpfObject } from '../../src/kernel/elf-bpf.ts';
import { requirementsFromObject } from '../../src/requirements/from-elf.ts';
import { fuzz, mutateBytes, rng } from './harness.ts';
import { clangAvailable, fixtures } from '../requirements/fixtures.ts';
import { skipUnless } from '../helpers/skip.ts';

// A hang is a loop that does not end; single slow inputs on a shared 2-core machine are GC pauses (they
// re-time under 10 ms), so the bound is generous.
const HANG_MS = 5_000;
const noClang = skipUnless(clangAvailable(), 'test/fuzz/elf.test.ts', 'clang is not installed; there are no seed objects');

// Objects built by others add what our fixtures lack: CO-RE relocations (.BTF.ext), .text functions
// called from several programs, clang 14's .maps layout.
const CORPUS_SEEDS = ['biopattern', 'capable', 'hardirqs'].map((n) => resolve(import.meta.dirname, '../corpus/libbpf-tools', `${n}.bpf.o`));

function seeds(): Uint8Array[] {
  const out: Uint8Array[] = CORPUS_SEEDS.map((p) => readFileSync(p));
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

describe.skipIf(noClang)('ELF reader fuzz', () => {
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
    console.log(
      `fuzz-elf: 100000 mutated objects from ${s.length} seeds in ${Math.round(performance.now() - t0)} ms: parsed ${parsed}, rejected ${rejected}, crashes ${crashes.length}, slowest ${slowest.toFixed(1)} ms`,
    );
    expect(crashes).toEqual([]);
    expect(slowest).toBeLessThan(HANG_MS);
    // The mutations must exercise the reader, not only its magic check.
    expect(parsed).toBeGreaterThan(1_000);
  }, 600_000);

  it('section headers rewritten field by field (type, offset, size, link, info, entsize of any section, section 0 included): 0 crashes', () => {
    // Byte-level mutation rarely turns section 0 into a relocation table or points a symbol table
    // past the file; these edits do it on purpose.
    const rand = rng(0x5ec);
    const interesting = [0n, 1n, 2n, 3n, 4n, 9n, 24n, 0x7fffffffn, 0xffffffffn, 1n << 40n, 0xffffffffffffffffn];
    const crashes: unknown[] = [];
    let rejected = 0;
    for (const seed of seeds()) {
      if (seed.length < 64) continue; // a seed that is not an object at all (an objcopy that printed nothing)
      const v = new DataView(seed.buffer, seed.byteOffset, seed.byteLength);
      const shoff = Number(v.getBigUint64(0x28, true));
      const shnum = v.getUint16(0x3c, true);
      for (let i = 0; i < 400; i++) {
        const b = new Uint8Array(seed);
        const w = new DataView(b.buffer);
        const h = shoff + Math.floor(rand() * shnum) * 64;
        const val = interesting[Math.floor(rand() * interesting.length)]!;
        // [field offset, width]: sh_type, sh_offset, sh_size, sh_link, sh_info, sh_entsize
        const [off, width] = (
          [
            [4, 4],
            [24, 8],
            [32, 8],
            [40, 4],
            [44, 4],
            [56, 8],
          ] as const
        )[Math.floor(rand() * 6)]!;
        if (width === 4) w.setUint32(h + off, Number(val & 0xffffffffn), true);
        else w.setBigUint64(h + off, val, true);
        try {
          parse(b);
        } catch (e) {
          if (e instanceof ParseError) rejected++;
          else crashes.push(e);
        }
      }
    }
    expect(crashes.slice(0, 3)).toEqual([]);
    expect(rejected).toBeGreaterThan(100);
    // Section 0 made a relocation, symbol or string table that spans the file and links the real
    // symbol table: read as a table, it used to run off the end (RangeError, exit 70).
    for (const seed of seeds()) {
      if (seed.length < 64) continue;
      const v = new DataView(seed.buffer, seed.byteOffset, seed.byteLength);
      const shoff = Number(v.getBigUint64(0x28, true));
      const shnum = v.getUint16(0x3c, true);
      const symtab = Array.from({ length: shnum }, (_, i) => i).find((i) => v.getUint32(shoff + i * 64 + 4, true) === 2) ?? 0;
      for (const type of [2, 3, 4, 9]) {
        const b = new Uint8Array(seed);
        const w = new DataView(b.buffer);
        w.setUint32(shoff + 4, type, true);
        w.setBigUint64(shoff + 32, BigInt(b.length - (b.length % 24)), true);
        w.setUint32(shoff + 40, symtab, true);
        w.setUint32(shoff + 44, 1, true);
        expect(() => parse(b)).toThrow(ParseError);
      }
    }
  });

  it('harness run (random and mutated): 0 crashes, 0 hangs', () => {
    const stats = fuzz(parse, seeds(), { iterations: 20_000, seed: 7 });
    console.log(
      `fuzz-elf harness: ${stats.inputs} inputs, parsed ${stats.parsed}, rejected ${stats.rejected}, crashes ${stats.crashes.length}, slowest ${stats.slowest.toFixed(1)} ms`,
    );
    expect(stats.crashes).toEqual([]);
    expect(stats.slowest).toBeLessThan(HANG_MS);
  }, 600_000);
});
