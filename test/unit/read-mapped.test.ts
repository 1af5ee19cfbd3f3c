// mapFile (src/native/libc.ts): a sysfs file through one mmap(2), or undefined so that the caller
// reads it. vmlinux BTF is the file it is for (6.16+ maps it); a pipe-like /proc file, a regular
// file and a missing path are not mapped.
import { existsSync, mkdtempSync, readFileSync, statSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { mapFile } from '../../src/native/libc.ts';

const VMLINUX = '/sys/kernel/btf/vmlinux';

describe('mapFile', () => {
  it.runIf(existsSync(VMLINUX))('maps exactly the bytes read(2) returns for vmlinux BTF, or gives undefined where it cannot map it', () => {
    const m = mapFile(VMLINUX, statSync(VMLINUX).size);
    if (m === undefined) {
      console.warn(`mapFile: this kernel does not map ${VMLINUX} (before 6.16); the caller reads it`);
      return;
    }
    const maps = () =>
      readFileSync('/proc/self/maps', 'utf8')
        .split('\n')
        .filter((l) => l.endsWith(VMLINUX)).length;
    expect(maps()).toBeGreaterThan(0);
    const before = maps();
    expect(Buffer.compare(Buffer.from(m.bytes.slice()), readFileSync(VMLINUX))).toBe(0);
    m.unmap();
    m.unmap(); // twice is harmless
    expect(maps()).toBe(before - 1);
  });

  it('gives undefined, not an error, for files it cannot map and for bad sizes', () => {
    expect(mapFile('/proc/self/status', 4096)).toBeUndefined();
    expect(mapFile('/nonexistent/bpfready', 4096)).toBeUndefined();
    expect(mapFile(VMLINUX, 0)).toBeUndefined();
    // A regular file could shrink under the mapping (SIGBUS): only sysfs is mapped.
    const dir = mkdtempSync(join(tmpdir(), 'bpfready-mapped-'));
    writeFileSync(join(dir, 'blob'), Buffer.alloc(8192, 1));
    expect(mapFile(join(dir, 'blob'), 8192)).toBeUndefined();
    // A size that is not the file's (it changed since the caller's stat) is not trusted either.
    if (existsSync(VMLINUX)) expect(mapFile(VMLINUX, statSync(VMLINUX).size - 1)).toBeUndefined();
  });
});
