import { describe, expect, it } from 'vitest';
import type { Requirement } from '../../src/requirements/model.ts';
import { checkProfiles } from '../../src/requirements/profile-checks.ts';
import { fakeReport } from './fake-report.ts';

describe('checkProfiles', () => {
  it('maps each profile to satisfied, or to every unmet requirement with status and remediation', () => {
    const profiles: Record<string, Requirement[]> = {
      ok: [
        { kind: 'program-type', progType: 'kprobe' },
        { kind: 'map-type', mapType: 'ringbuf' },
      ],
      bad: [
        { kind: 'program-type', progType: 'lsm' },
        { kind: 'program-type', progType: 'struct_ops' },
        { kind: 'map-type', mapType: 'hash' },
      ],
    };
    const [ok, bad] = checkProfiles(profiles, fakeReport());
    expect(ok).toEqual({ profile: 'ok', satisfied: true, unmet: [] });
    expect(bad?.satisfied).toBe(false);
    expect(bad?.unmet.map((u) => [u.requirement, u.status])).toEqual([
      ['program-type:lsm', 'unsupported'],
      ['program-type:struct_ops', 'not-permitted'],
    ]);
    for (const u of bad?.unmet ?? []) expect(u.remediation.length).toBeGreaterThan(0);
    expect(bad?.unmet[0]?.errno).toBe('EINVAL');
  });
});
