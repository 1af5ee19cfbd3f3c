// Compiles the eBPF C fixtures in test/fixtures/bpf with the system clang, once per test process,
// into a temporary directory. Objects are build output, never committed.
import { execFileSync } from 'node:child_process';
import { mkdtempSync, readdirSync } from 'node:fs';
import { arch, tmpdir } from 'node:os';
import { basename, join, resolve } from 'node:path';

export const FIXTURE_DIR = resolve(import.meta.dirname, '../fixtures/bpf');
const MULTIARCH = { x64: 'x86_64', arm64: 'aarch64' }[arch() as 'x64' | 'arm64'] ?? arch();

let compiled: Map<string, string> | undefined;

export function clangAvailable(): boolean {
  try {
    execFileSync('clang', ['--version'], { stdio: 'ignore' });
    return true;
  } catch {
    return false;
  }
}

/** Compile one source with extra flags (e.g. -target bpfeb) into `dir`. */
export function compile(source: string, dir: string, target = 'bpf', suffix = ''): string {
  const out = join(dir, `${basename(source, '.c')}${suffix}.o`);
  execFileSync('clang', ['-O2', '-g', '-target', target, `-I/usr/include/${MULTIARCH}-linux-gnu`, '-c', source, '-o', out], {
    stdio: 'pipe',
  });
  return out;
}

/** name (without .c) → compiled object path. */
export function fixtures(): Map<string, string> {
  if (compiled) return compiled;
  const dir = mkdtempSync(join(tmpdir(), 'bpfready-fixtures-'));
  compiled = new Map();
  for (const f of readdirSync(FIXTURE_DIR)
    .filter((n) => n.endsWith('.c'))
    .sort()) {
    compiled.set(basename(f, '.c'), compile(join(FIXTURE_DIR, f), dir));
  }
  return compiled;
}
