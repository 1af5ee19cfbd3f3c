import { describe, expect, it } from 'vitest';
import { attachFailure, E2BIG, EACCES, EBADF, EINVAL, ENODEV, ENOENT, ENOTSUPP, EOPNOTSUPP, EPERM } from './outcome.ts';

const step = { step: 'LINK_CREATE(x)', needs: ['CAP_BPF', 'CAP_NET_ADMIN'] } as const;

describe('attachFailure', () => {
  it('never reads EPERM or EACCES as absence, and names the capabilities', () => {
    for (const errno of [EPERM, EACCES]) {
      const f = attachFailure(errno, { ...step, missing: 'CONFIG_X is not set' });
      expect(f.status).toBe('not-permitted');
      expect(f.detail).toContain('CAP_BPF + CAP_NET_ADMIN');
      expect(f.detail).toContain('availability unknown');
    }
  });

  it('puts a diagnosis in place of the generic capability hint', () => {
    const f = attachFailure(EPERM, { ...step, denied: 'policy of this build' });
    expect(f.detail).toContain('policy of this build');
    expect(f.detail).not.toContain('needs CAP_BPF');
  });

  it('reads ENOTSUPP, EOPNOTSUPP, EINVAL and E2BIG as unsupported with the missing option', () => {
    for (const [errno, name] of [
      [ENOTSUPP, 'E#524'],
      [EOPNOTSUPP, 'EOPNOTSUPP'],
      [EINVAL, 'EINVAL'],
      [E2BIG, 'E2BIG'],
    ] as const) {
      const f = attachFailure(errno, { ...step, missing: 'CONFIG_FPROBE is not set' });
      expect(f.status).toBe('unsupported');
      expect(f.detail).toContain('CONFIG_FPROBE is not set');
      if (errno !== ENOTSUPP) expect(f.errno).toBe(name);
    }
  });

  it('reads a missing hook (ENOENT, ENODEV) as unsupported and anything else as an error of the probe', () => {
    expect(attachFailure(ENOENT, step).status).toBe('unsupported');
    expect(attachFailure(ENODEV, step).status).toBe('unsupported');
    const f = attachFailure(EBADF, step);
    expect(f.status).toBe('error');
    expect(f.errno).toBe('EBADF');
  });
});
