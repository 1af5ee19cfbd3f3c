// readFileMapped (src/native/libc.ts): the bytes of a file through mmap(2), or undefined so that the
// caller reads it. vmlinux BTF is the file it is for (6.16+ maps it); a pipe-like /proc file and a
// missing path cannot be mapped.
import { existsSync, mkdtempSync, readFileSync, statSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { readFileMapped } from '../../src/native/libc.ts';

const VMLINUX = '/sys/kernel/btf/vmlinux';

describe('readFileMapped', () => {
  it.runIf(existsSync(VMLINUX))('returns exactly the bytes read(2) returns for vmlinux BTF, or undefined where it cannot map it', () => {
    const mapped = readFileMapped(VMLINUX, statSync(VMLINUX).size);
    if (mapped === undefined) {
      console.warn(`readFileMapped: this kernel does not map ${VMLINUX} (before 6.16); the caller reads it`);
      return;
    }
    expect(Buffer.compare(Buffer.from(mapped), readFileSync(VMLINUX))).toBe(0);
  });

  it('gives undefined, not an error, for files it cannot map and for bad sizes', () => {
    expect(readFileMapped('/proc/self/status', 4096)).toBeUndefined();
    expect(readFileMapped('/nonexistent/bpfready', 4096)).toBeUndefined();
    expect(readFileMapped(VMLINUX, 0)).toBeUndefined();
    // A regular file could shrink between the stat and the copy (SIGBUS): only sysfs is mapped.
    const dir = mkdtempSync(join(tmpdir(), 'bpfready-mapped-'));
    writeFileSync(join(dir, 'blob'), Buffer.alloc(8192, 1));
    expect(readFileMapped(join(dir, 'blob'), 8192)).toBeUndefined();
    // A size that is not the file's (it changed since the caller's stat) is not trusted either.
    if (existsSync(VMLINUX)) expect(readFileMapped(VMLINUX, statSync(VMLINUX).size - 1)).toBeUndefined();
  });
});
