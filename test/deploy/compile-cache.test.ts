// `bin/bpfready warm-compile-cache` (what the Dockerfile runs): afterwards serve and daemon start
// with every one of our modules taken from Node's compile cache, so the TypeScript stripper never
// loads in the daemon (docs/daemon.md has what it costs in memory). Node's own debug output says,
// per module, whether the cache had its stripped source.
import { execFileSync, spawnSync } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it, onTestFinished } from 'vitest';
import { BIN } from '../e2e/process.ts';
import { isRoot } from '../helpers/root.ts';

describe('warm-compile-cache', () => {
  it('fills the cache so that no command strips TypeScript at start-up', () => {
    const dir = mkdtempSync(join(tmpdir(), 'bpfready-cc-'));
    onTestFinished(() => rmSync(dir, { recursive: true, force: true }));
    const env = { ...process.env, NODE_COMPILE_CACHE: dir };
    const out = execFileSync(BIN, ['warm-compile-cache'], { env, encoding: 'utf8' });
    // Two caches: the one-shot commands' node flags and serve/daemon's.
    expect(out.match(/^warm-compile-cache: \d+ modules of src into /gm)).toHaveLength(2);
    for (const command of ['serve', 'daemon', 'probe', 'check', 'prune']) {
      const r = spawnSync(BIN, [command, '--help'], { env: { ...env, NODE_DEBUG_NATIVE: 'COMPILE_CACHE' }, encoding: 'utf8' });
      expect(r.status, command).toBe(0);
      const ours = r.stderr.split('\n').filter((l) => /transpile cache for StrippedTypeScript file:\/\/.*\/src\//.test(l));
      // --help of serve/daemon loads the whole daemon (config, server, engine); the others their command module.
      expect(ours.length, command).toBeGreaterThan(command === 'serve' || command === 'daemon' ? 20 : 1);
      expect(
        ours.filter((l) => !/\.\.\.success$/.test(l)),
        command,
      ).toEqual([]);
    }
    // The helper worker's entry file too, which runs when imported and so is only compiled, not run.
    if (isRoot) {
      const r = spawnSync(BIN, ['probe', '--json', '--tables-only', '--workers', '1'], {
        env: { ...env, NODE_DEBUG_NATIVE: 'COMPILE_CACHE' },
        encoding: 'utf8',
        stdio: ['ignore', 'ignore', 'pipe'],
        maxBuffer: 64 << 20,
      });
      expect(r.status).toBe(0);
      const lines = r.stderr.split('\n').filter((l) => /transpile cache for StrippedTypeScript file:\/\/.*\/src\//.test(l));
      expect(lines.some((l) => /helper-worker\.ts\.\.\.success$/.test(l))).toBe(true);
      expect(lines.filter((l) => /^\[compile cache\] no transpile cache/.test(l))).toEqual([]);
    }
  });
});
