// The build digest the daemon names its kernel by (src/requirements/build-digest.ts): hashing the BTF
// file in 64 KiB reads gives the digest of its whole content, and without one the release, version
// and machine name the build (the real vmlinux BTF: test/kernel/kernel-view-child.test.ts).
import { randomBytes } from 'node:crypto';
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { kernelBuildDigest, runningBuildDigest } from '../../src/requirements/build-digest.ts';

const root = mkdtempSync(join(tmpdir(), 'bpfready-digest-'));
afterAll(() => rmSync(root, { recursive: true, force: true }));
const REPORT = { kernel: { release: '6.1.0-57-amd64', version: '#1 SMP PREEMPT_DYNAMIC Debian 6.1.192-3', machine: 'x86_64' } };

describe('runningBuildDigest', () => {
  it.each([0, 1, 65_536, 65_537, 300_000])('hashes a BTF file of %i bytes as a whole', (size) => {
    const host = join(root, `h${size}`);
    mkdirSync(join(host, 'sys/kernel/btf'), { recursive: true });
    const btf = randomBytes(size);
    writeFileSync(join(host, 'sys/kernel/btf/vmlinux'), btf);
    expect(runningBuildDigest(host, REPORT)).toBe(kernelBuildDigest(REPORT, btf));
  });

  it('names a kernel without BTF by its release, version and machine', () => {
    const d = runningBuildDigest(join(root, 'none'), REPORT);
    expect(d).toBe(kernelBuildDigest(REPORT, undefined));
    expect(d).toMatch(/^sha256:[0-9a-f]{64}$/);
    expect(runningBuildDigest(join(root, 'none'), { kernel: { ...REPORT.kernel, release: '6.1.0-58-amd64' } })).not.toBe(d);
  });
});
