// Profile names → label names: every name the configuration accepts must give a valid label name.
import { describe, expect, it } from 'vitest';
import { labelNameProblem, labelSafe, profileProjectionProblem } from '../../src/publish/labels.ts';

describe('labelSafe', () => {
  it('never ends a cut name on "-" (a 63-character profile name cut to 55)', () => {
    const name = `${'a'.repeat(54)}-${'b'.repeat(8)}`;
    expect(labelSafe(name)).toBe('a'.repeat(54));
    expect(labelNameProblem(`profile.${labelSafe(name)}`)).toBeUndefined();
    expect(profileProjectionProblem([name])).toBeUndefined();
  });

  it('accepts distinct profiles and names the pair that would collide', () => {
    expect(profileProjectionProblem(['cilium', 'tetragon', 'net-xdp'])).toBeUndefined();
    expect(profileProjectionProblem(['cilium-1', 'cilium1'])).toMatch(
      /"cilium-1" and "cilium1" would both be published as condition type <prefix>\/ProfileCilium1/,
    );
  });
});
