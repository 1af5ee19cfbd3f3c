// bpfready-shim on the real kernel: what the command it runs sees (ids, maps, mounts, capabilities),
// and its exit codes. Usage errors need no privileges; the rest needs root (CI runs as root).
import { spawnSync, type SpawnSyncReturns } from 'node:child_process';
import { existsSync, mkdtempSync, readdirSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { parseMountinfo } from '../../src/kernel/mountinfo.ts';
import { rootOnly } from '../helpers/root.ts';

const repo = fileURLToPath(new URL('../..', import.meta.url));
const shim = join(repo, 'native-shim/build/bpfready-shim');
const isRoot = !rootOnly('test/kernel/shim.test.ts root-only tests (namespaces and capability sets)');

const sh = (...args: string[]): SpawnSyncReturns<string> => spawnSync(shim, args, { encoding: 'utf8', timeout: 30_000 });

function capSet(status: string, field: string): bigint {
  const m = new RegExp(`^${field}:\\s*([0-9a-f]+)$`, 'm').exec(status);
  if (!m) throw new Error(`no ${field} in ${status}`);
  return BigInt(`0x${m[1]}`);
}

beforeAll(() => {
  if (!existsSync(shim)) {
    const make = spawnSync('make', ['-s', '-C', join(repo, 'native-shim')], { encoding: 'utf8' });
    if (make.status !== 0) throw new Error(`building native-shim failed:\n${make.stderr}`);
  }
});

describe('bpfready-shim usage', () => {
  it('prints help and exits 0', () => {
    const r = sh('--help');
    expect(r.status).toBe(0);
    expect(r.stdout).toMatch(/^usage: bpfready-shim userns --bpffs PATH/);
  });
  it('usage errors exit 2 with a message naming the problem', () => {
    const cases: [string[], RegExp][] = [
      [[], /missing subcommand/],
      [['frobnicate'], /unknown subcommand 'frobnicate'/],
      [['userns', '--', 'true'], /--bpffs PATH is required/],
      [['userns', '--bpffs', '/x'], /no command after '--'/],
      [['userns', '--bpffs', '/x', '--map-uid', 'abc', '--', 'true'], /--map-uid: not a uid\/gid: 'abc'/],
      [['userns', '--bogus', 'v', '--', 'true'], /unknown option '--bogus'/],
      [['caps', '--', 'true'], /exactly one of --keep and --drop/],
      [['caps', '--keep', 'cap_bpf', '--drop', 'cap_bpf', '--', 'true'], /exactly one of --keep and --drop/],
      [['caps', '--keep', 'cap_flying', '--', 'true'], /'cap_flying' is not a capability name or number/],
    ];
    for (const [args, re] of cases) {
      const r = sh(...args);
      expect(r.status, args.join(' ')).toBe(2);
      expect(r.stderr, args.join(' ')).toMatch(re);
      expect(r.stderr).not.toMatch(/Segmentation|core dumped/);
    }
  });
});

describe.skipIf(!isRoot)('bpfready-shim userns (root)', () => {
  let dir: string;
  beforeAll(() => {
    dir = mkdtempSync(join(tmpdir(), 'bpfready-shim-'));
  });
  afterAll(() => rmSync(dir, { recursive: true, force: true }));

  it('runs the command as root of a new user namespace with one-line id maps and the bpffs mounted', () => {
    const r = sh(
      'userns',
      '--bpffs',
      dir,
      '--delegate-cmds',
      'map_create',
      '--delegate-maps',
      'ARRAY',
      '--map-uid',
      '100000',
      '--map-gid',
      '100001',
      '--',
      'sh',
      '-c',
      'id -u; id -g; cat /proc/self/uid_map /proc/self/gid_map /proc/self/setgroups; grep CapEff /proc/self/status; cat /proc/self/mountinfo',
    );
    expect(r.stderr).toBe('');
    expect(r.status).toBe(0);
    const [uid, gid, uidMap, gidMap, setgroups, capEff, ...mountinfo] = r.stdout.split('\n');
    expect([uid, gid]).toEqual(['0', '0']);
    expect(uidMap!.trim().split(/\s+/)).toEqual(['0', '100000', '1']);
    expect(gidMap!.trim().split(/\s+/)).toEqual(['0', '100001', '1']);
    expect(setgroups).toBe('deny');
    // Full capabilities in the namespace: every bit the kernel knows.
    expect(capSet(capEff!, 'CapEff')).toBeGreaterThanOrEqual((1n << 40n) - 1n);
    const bpffs = parseMountinfo(mountinfo.join('\n')).find((m) => m.mountPoint === dir)!;
    expect(bpffs.fsType).toBe('bpf');
    expect(bpffs.superOptions['delegate_cmds']).toBe('map_create');
    expect(bpffs.superOptions['delegate_maps']).toBe('array');
    // The mount lives in the command's namespace only.
    expect(parseMountinfo(spawnSync('cat', ['/proc/self/mountinfo'], { encoding: 'utf8' }).stdout).some((m) => m.mountPoint === dir)).toBe(
      false,
    );
  });

  it('a missing --bpffs path is made in a private tmpfs, leaving nothing on the host', () => {
    const path = join(dir, 'a/b/bpffs');
    const r = sh(
      'userns',
      '--bpffs',
      path,
      '--delegate-cmds',
      'any',
      '--',
      'sh',
      '-c',
      `grep -c " ${path} .* - bpf " /proc/self/mountinfo`,
    );
    expect(r.status).toBe(0);
    expect(r.stdout.trim()).toBe('1');
    expect(r.stderr).toContain(`private tmpfs mounted on ${dir}`);
    expect(readdirSync(dir)).toEqual([]);
  });

  it('reports a delegation the kernel rejects, and setup failures exit 125', () => {
    const r = sh('userns', '--bpffs', dir, '--delegate-maps', 'array::hash', '--', 'true');
    expect(r.status).toBe(125);
    expect(r.stderr).toMatch(/fsconfig delegate_maps=array::hash: Invalid argument/);
    const notDir = sh('userns', '--bpffs', '/proc/self/status', '--', 'true');
    expect(notDir.status).toBe(125);
    expect(notDir.stderr).toMatch(/not a directory/);
  });

  it('passes the command status through: exit code, 127 not found, 128+signal', () => {
    expect(sh('userns', '--bpffs', dir, '--', 'sh', '-c', 'exit 7').status).toBe(7);
    const nf = sh('userns', '--bpffs', dir, '--', '/no/such/cmd');
    expect(nf.status).toBe(127);
    expect(nf.stderr).toMatch(/cannot execute \/no\/such\/cmd/);
    expect(sh('userns', '--bpffs', dir, '--', 'sh', '-c', 'kill -TERM $$').status).toBe(128 + 15);
  });
});

describe.skipIf(!isRoot)('bpfready-shim caps (root)', () => {
  const CAP_BPF = 39n;
  const CAP_PERFMON = 38n;
  const CAP_SYS_ADMIN = 21n;
  const status = (...args: string[]) => {
    const r = sh('caps', ...args, '--', 'cat', '/proc/self/status');
    expect(r.stderr).toBe('');
    expect(r.status).toBe(0);
    return r.stdout;
  };

  it('--keep: the command has exactly the kept capabilities in every set, even as uid 0', () => {
    const s = status('--keep', 'cap_bpf,PERFMON');
    const want = (1n << CAP_BPF) | (1n << CAP_PERFMON);
    for (const set of ['CapEff', 'CapPrm', 'CapInh', 'CapBnd', 'CapAmb']) expect(capSet(s, set), set).toBe(want);
    expect(/^Uid:\s+0\s/m.test(s)).toBe(true);
  });

  it('--keep none: no capabilities at all', () => {
    const s = status('--keep', 'none');
    for (const set of ['CapEff', 'CapPrm', 'CapBnd', 'CapAmb']) expect(capSet(s, set), set).toBe(0n);
  });

  it('--drop: everything else stays', () => {
    const mine = capSet(spawnSync('cat', ['/proc/self/status'], { encoding: 'utf8' }).stdout, 'CapPrm');
    const s = status('--drop', 'cap_sys_admin,39');
    expect(capSet(s, 'CapEff')).toBe(mine & ~((1n << CAP_SYS_ADMIN) | (1n << CAP_BPF)));
  });

  it('the kept set cannot be regained: a nested shim cannot keep what was dropped', () => {
    const r = sh('caps', '--keep', 'cap_bpf,cap_setpcap', '--', shim, 'caps', '--keep', 'cap_sys_admin', '--', 'true');
    expect(r.status).toBe(125);
    expect(r.stderr).toMatch(/cannot keep cap_sys_admin: not in this process's permitted set/);
  });
});
