// `bpfready probe` usage: bad flags and arguments exit 2 at once, with the problem named and no
// stack. The command starts its helper threads before it parses its arguments (src/main.ts), so
// these also prove that threads nobody took do not keep the process alive.
import { spawnSync } from 'node:child_process';
import { resolve } from 'node:path';
import { describe, expect, it } from 'vitest';

const BIN = resolve(import.meta.dirname, '../../bin/bpfready');

describe('bpfready probe: usage', () => {
  it.each([
    [['--frob'], 2, /Unknown option '--frob'/],
    [['extra'], 2, /Unexpected argument 'extra'/],
    [['--json=yes'], 2, /does not take an argument/],
    [['--workers', 'x'], 2, /--workers must be a whole number from 0 to 64, got "x"/],
    [['--workers='], 2, /--workers must be a whole number from 0 to 64, got ""/],
    // A wrong host root would read as a kernel without BTF, config or sysctls: refused, not probed.
    [['--host-root', '/nonexistent'], 2, /--host-root \/nonexistent: \/nonexistent: ENOENT/],
    [['--host-root', '/etc/hostname'], 2, /--host-root \/etc\/hostname: \/etc\/hostname is not a directory/],
    [['--host-root', 'relative'], 2, /--host-root relative: must be an absolute path/],
    [['-vh'], 0, /^usage: bpfready probe/],
    [['--help'], 0, /^usage: bpfready probe/],
  ])('%j exits %i promptly', (args, code, msg) => {
    const r = spawnSync(BIN, ['probe', ...args], { encoding: 'utf8', timeout: 20_000 });
    expect(r.error).toBeUndefined(); // not killed by the timeout
    expect(r.status).toBe(code);
    expect(code === 0 ? r.stdout : r.stderr).toMatch(msg);
    expect(r.stderr).not.toMatch(/\n\s+at /);
  });
});
