// LINUX_VERSION_CODE for kprobe loads before 5.0, found the way libbpf finds it: Ubuntu's upstream
// version is in /proc/version_signature, Debian's in uname -v, everyone else's in uname -r.
import { describe, expect, it } from 'vitest';
import { kernelVersionCode } from '../../src/kernel/osrelease.ts';

const code = (a: number, b: number, c: number) => (a << 16) + (b << 8) + c;

describe('kernelVersionCode', () => {
  it('reads Ubuntu from its version signature, Debian from uname -v, others from the release', () => {
    expect(
      kernelVersionCode('4.15.0-213-generic', '#224-Ubuntu SMP Mon Jun 19 13:30:12 UTC 2023', 'Ubuntu 4.15.0-213.224-generic 4.15.18'),
    ).toBe(code(4, 15, 18));
    expect(kernelVersionCode('4.19.0-21-amd64', '#1 SMP Debian 4.19.249-2 (2022-06-30)', null)).toBe(code(4, 19, 249));
    expect(kernelVersionCode('6.18.44-fc-v669', '#1 SMP', null)).toBe(code(6, 18, 44));
    // Sublevels past 255 are clamped, as the kernel's KERNEL_VERSION macro does.
    expect(kernelVersionCode('4.9.337', '#1 SMP', null)).toBe(code(4, 9, 255));
    expect(kernelVersionCode('garbage', '', null)).toBe(0);
  });
});
