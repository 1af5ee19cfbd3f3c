// Shared by the native-shim tests (test/kernel/shim-*.test.ts): stand-in shims written as shell
// scripts in a temporary folder of the test file's own, and the table comparison they all make.
import { chmodSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, expect } from 'vitest';
import type { Tables } from '../../src/collect/index.ts';

/** A temporary folder removed after the file's tests, and a writer of executable scripts in it. */
export function scriptFolder(prefix: string): { dir: string; script: (name: string, body: string) => string } {
  const dir = mkdtempSync(join(tmpdir(), prefix));
  afterAll(() => rmSync(dir, { recursive: true, force: true }));
  return {
    dir,
    /** A stand-in shim: a shell script (named for what it does wrong, or a logging wrapper of the real one). */
    script(name: string, body: string): string {
      const p = join(dir, name);
      writeFileSync(p, `#!/bin/sh\n${body}\n`);
      chmodSync(p, 0o755);
      return p;
    },
  };
}

const FAMILIES = ['programTypes', 'mapTypes', 'helpers', 'attachTypes', 'misc'] as const;

/** Every table family of two probes, equal as JSON. */
export function expectSameTables(a: Tables, b: Tables, what: string): void {
  for (const f of FAMILIES) expect(JSON.stringify(a[f]), `${f} ${what}`).toBe(JSON.stringify(b[f]));
}
