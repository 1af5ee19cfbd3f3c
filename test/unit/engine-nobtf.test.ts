// Without vmlinux BTF the BTF-targeted program types cannot be probed: absent BTF (ENOENT) means the
// kernel lacks them; BTF we may not read (EACCES) leaves availability unknown.
import { describe, expect, it } from 'vitest';
import { probeProgramType, type ProbeEnv } from '../../src/probes/engine.ts';

const env = (btfErrno: string): ProbeEnv => ({
  caps: 0n,
  kernVersion: 0,
  btfMissing: `/host/sys/kernel/btf/vmlinux: ${btfErrno}`,
  btfErrno,
});

describe('program types that need vmlinux BTF', () => {
  it('are unsupported when the BTF file does not exist', () => {
    const r = probeProgramType('lsm', env('ENOENT')).result;
    expect(r.status).toBe('unsupported');
    expect(r.detail).toMatch(/needs vmlinux BTF/);
  });
  it('are not-permitted (availability unknown) when the BTF file cannot be read', () => {
    const r = probeProgramType('lsm', env('EACCES')).result;
    expect(r).toMatchObject({ status: 'not-permitted', errno: 'EACCES' });
  });
  it('are errors for any other failure to read it', () => {
    expect(probeProgramType('lsm', env('EIO')).result.status).toBe('error');
  });
});
