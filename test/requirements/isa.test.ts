// The ISA version an object needs (src/kernel/bpf-isa.ts, docs/requirements.md "ISA"), on objects
// real clang 19 compiles from one source at -mcpu=v1..v4 (test/fixtures/bpf-isa/isa.c). Each
// object's version is also read from llvm-objdump's disassembly — another tool's decoding, not
// ours — and the two must agree. Then the v4 object meets a real kernel: this one loads it, and
// the saved report of Debian's 6.1 kernel (probed in qemu, where gotol loads but the rest of v4 is
// refused) says why it would not load there and what to do.
import { execFileSync, spawnSync } from 'node:child_process';
import { mkdtempSync, readFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { describe, expect, it } from 'vitest';
import { isaVersion } from '../../src/kernel/bpf-isa.ts';
import { parseBpfObject } from '../../src/kernel/elf-bpf.ts';
import { progLoad } from '../../src/native/bpf.ts';
import { requirementsFromObject } from '../../src/requirements/from-elf.ts';
import { BIN } from '../e2e/process.ts';
import { isRoot, rootOnly } from '../helpers/root.ts';
import { skipUnless } from '../helpers/skip.ts';

const SOURCE = resolve(import.meta.dirname, '../fixtures/bpf-isa/isa.c');
const CLANG = 'clang-19';
const OBJDUMP = 'llvm-objdump-19';
const has = (tool: string) => spawnSync(tool, ['--version'], { stdio: 'ignore' }).status === 0;
const skip = skipUnless(
  has(CLANG) && has(OBJDUMP),
  'test/requirements/isa.test.ts',
  'clang-19 is not installed (Debian package clang-19: -mcpu=v4 needs LLVM 18 or later)',
);
const VERSIONS = [1, 2, 3, 4] as const;

function compileAt(v: number, dir: string): string {
  const out = join(dir, `isa-v${v}.o`);
  const multiarch = `/usr/include/${process.arch === 'arm64' ? 'aarch64' : 'x86_64'}-linux-gnu`;
  execFileSync(CLANG, ['-O2', '-g', '-target', 'bpf', `-mcpu=v${v}`, `-I${multiarch}`, '-c', SOURCE, '-o', out], { stdio: 'pipe' });
  return out;
}

/** The ISA version llvm-objdump's mnemonics imply (its syntax: `r0 = *(s8 *)(r10 - 1)`, `if w1 < 5`). */
function objdumpVersion(path: string): number {
  const text = execFileSync(OBJDUMP, ['-d', '--no-show-raw-insn', path], { encoding: 'utf8' });
  const lines = text.split('\n').filter((l) => /^\s+\d+:\t/.test(l));
  if (lines.some((l) => /\*\(s(8|16|32) \*\)|bswap(16|32|64)|\bs[/%]=|\bgotol\b|= \(s(8|16|32)\)/.test(l))) return 4;
  if (lines.some((l) => /\bif w\d+ /.test(l))) return 3;
  if (lines.some((l) => /\bif r\d+ (s?<|s?<=) /.test(l))) return 2;
  return 1;
}

describe.skipIf(skip)('ISA version of real objects (clang 19, -mcpu=v1..v4)', () => {
  const dir = mkdtempSync(join(tmpdir(), 'bpfready-isa-'));
  const objects = new Map(VERSIONS.map((v) => [v, compileAt(v, dir)]));

  it('agrees with llvm-objdump on each object, and the four differ', () => {
    const ours = VERSIONS.map((v) => {
      const path = objects.get(v)!;
      const obj = parseBpfObject(readFileSync(path), path);
      expect(obj.programs).toHaveLength(1);
      const mine = isaVersion(obj.programs[0]!.linked.insns, obj.littleEndian);
      expect(mine, `-mcpu=v${v}`).toBe(objdumpVersion(path));
      // A compiler never needs more than it was allowed.
      expect(mine).toBeLessThanOrEqual(v);
      return mine;
    });
    // The source is written so that each level changes the code; else this test proves little.
    expect(new Set(ours).size).toBeGreaterThanOrEqual(3);
    expect(ours[3]).toBe(4);
  });

  it('the requirement is the one version the object needs, none for v1 code', () => {
    for (const v of VERSIONS) {
      const path = objects.get(v)!;
      const obj = parseBpfObject(readFileSync(path), path);
      const isa = requirementsFromObject(obj).filter((r) => r.kind === 'feature' && r.name.startsWith('isa-'));
      const need = isaVersion(obj.programs[0]!.linked.insns, obj.littleEndian);
      expect(isa).toEqual(need === 1 ? [] : [{ kind: 'feature', name: `isa-v${need}` }]);
    }
  });

  it.skipIf(!isRoot && rootOnly('test/requirements/isa.test.ts kernel load'))(
    'this kernel loads the v4 code, and check --elf calls it ready here',
    () => {
      const path = objects.get(4)!;
      const obj = parseBpfObject(readFileSync(path), path);
      const r = progLoad({ progType: 1, insns: obj.programs[0]!.linked.insns, license: 'GPL', logLevel: 1 });
      if (r.ok) r.fd.close();
      expect(r.ok, r.ok ? '' : r.log).toBe(true);
      const probe = JSON.parse(execFileSync(BIN, ['probe', '--json', '--tables-only'], { encoding: 'utf8', maxBuffer: 64 << 20 }));
      expect(probe.misc.v4_isa_extension.status).toBe('supported');
      const check = spawnSync(BIN, ['check', '--elf', path, '--json'], { encoding: 'utf8' });
      expect(check.status, check.stdout + check.stderr).toBe(0);
    },
  );

  it("against Debian 6.1's saved report: v4 code is not ready, with a remedy; v3 code is", () => {
    const v4 = spawnSync(BIN, ['check', '--elf', objects.get(4)!, '--against', 'debian-6.1.0-57-amd64'], { encoding: 'utf8' });
    expect(v4.status, v4.stdout + v4.stderr).toBe(1);
    expect(v4.stdout).toContain('feature:isa-v4');
    expect(v4.stdout).toContain('clang -mcpu=v3');
    const v3 = spawnSync(BIN, ['check', '--elf', objects.get(3)!, '--against', 'debian-6.1.0-57-amd64'], { encoding: 'utf8' });
    expect(v3.status, v3.stdout + v3.stderr).toBe(0);
  });
});
