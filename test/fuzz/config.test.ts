// The config file loader against random and mutated YAML.
import { describe, expect, it } from 'vitest';
import { loadConfig } from '../../src/config.ts';
import { fuzz } from './harness.ts';

describe('loadConfig (fuzz)', () => {
  it('a config file either loads or is rejected with a ConfigError, never a crash', async () => {
    const seeds = [
      'listen: 127.0.0.1:9842\nprobeInterval: 30s\nlogLevel: debug\n',
      'kubernetes:\n  nodeName: n\n  taint: {key: a.io/b, effect: NoSchedule}\n  heartbeatSeconds: 60\n',
      'profiles:\n  p:\n    - program-type: xdp\n    - map-type:ringbuf\ncheckProfiles: [p]\n',
      'a: &x [1, 2]\nb: *x\n',
    ].map((t) => new TextEncoder().encode(t));
    const decoder = new TextDecoder();
    const stats = fuzz((bytes) => loadConfig({ argv: ['--config', 'fuzz.yaml'], env: {}, readFile: () => decoder.decode(bytes) }), seeds, {
      iterations: 20_000,
    });
    expect(stats.crashes).toEqual([]);
    expect(stats.parsed).toBeGreaterThan(0);
    expect(stats.rejected).toBeGreaterThan(0);
  });
});
