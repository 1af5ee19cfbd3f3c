// BPF tokens on the real kernel: bpfready-shim puts test/token/ns-runner.ts in a user namespace with a
// delegated bpffs; the runner prints JSON we assert on. Needs root (CI runs as root) and Linux 6.9+.
import { spawnSync } from 'node:child_process';
import { existsSync, mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { ProbeResult, ResultMap } from '../../src/contract/result.ts';
import type { BpffsMount, TokenProbe } from '../../src/contract/report.ts';
import { kernelHasTokens } from '../../src/token/create.ts';
import { skipUnless } from '../helpers/skip.ts';

const repo = fileURLToPath(new URL('../..', import.meta.url));
const shim = join(repo, 'native-shim/build/bpfready-shim');
const node = join(repo, 'node_modules/.bin/node');
const runner = join(repo, 'test/token/ns-runner.ts');

interface RunnerOutput {
  bpffs: BpffsMount[];
  token: TokenProbe | null;
  withoutToken: { programTypes: ResultMap; mapTypes: ResultMap };
  created: Record<string, ProbeResult>;
  lifecycle?: Record<string, number | boolean | string | null>;
  leakedFds: number;
  mountinfoErrors: string[];
}

const isRoot = process.geteuid?.() === 0;
const skipReason = !isRoot
  ? 'token kernel tests need root (user namespaces with a delegated bpffs need init-namespace CAP_SYS_ADMIN)'
  : !kernelHasTokens()
    ? 'token kernel tests need a kernel with BPF tokens (6.9+)'
    : undefined;
skipUnless(skipReason === undefined, 'test/kernel/token.test.ts', skipReason ?? '');

function run(argv: string[]): RunnerOutput {
  const r = spawnSync(argv[0]!, argv.slice(1), { cwd: repo, encoding: 'utf8', timeout: 120_000 });
  if (r.status !== 0) throw new Error(`${argv.join(' ')} exited ${r.status ?? r.signal}\n${r.stderr}`);
  return JSON.parse(r.stdout) as RunnerOutput;
}

const ALL = ['--delegate-cmds', 'any', '--delegate-maps', 'any', '--delegate-progs', 'any', '--delegate-attachs', 'any'];
const inUserns = (dir: string, delegate: string[], ...rest: string[]) => [shim, 'userns', '--bpffs', dir, ...delegate, '--', ...rest];
const statuses = (m: ResultMap) => Object.fromEntries(Object.entries(m).map(([k, v]) => [k, v.status]));
const supportedNames = (m: ResultMap) => Object.keys(m).filter((k) => m[k]!.status === 'supported');
// The host may have bpffs mounts of its own (/sys/fs/bpf); they are visible in the namespace too.
const ours = (out: RunnerOutput, dir: string) => out.bpffs.filter((b) => b.path === dir);

describe.skipIf(skipReason !== undefined)('BPF tokens through bpfready-shim (real kernel)', () => {
  let dir: string;
  let privileged: RunnerOutput;

  beforeAll(() => {
    if (!existsSync(shim)) {
      const make = spawnSync('make', ['-s', '-C', join(repo, 'native-shim')], { encoding: 'utf8' });
      if (make.status !== 0) throw new Error(`building native-shim failed:\n${make.stderr}`);
    }
    dir = mkdtempSync(join(tmpdir(), 'bpfready-token-'));
    // Root in the initial namespaces: the reference the token results are compared with.
    privileged = run([node, runner]);
  });
  afterAll(() => {
    if (dir) rmSync(dir, { recursive: true, force: true });
  });

  it('full delegation: a token is created and the tables through it match the privileged ones', () => {
    const out = run(inUserns(dir, ALL, node, runner));
    expect(ours(out, dir)).toEqual([
      { path: dir, delegate: { cmds: ['any'], maps: ['any'], progs: ['any'], attachs: ['any'] }, token: { status: 'supported' } },
    ]);
    expect(out.token?.mount).toBe(dir);
    // A bpffs of the host belongs to the initial user namespace, not to ours.
    for (const b of out.bpffs.filter((m) => m.path !== dir))
      expect(b.token, b.path).toMatchObject({ status: 'not-permitted', errno: 'EPERM' });
    expect(statuses(out.token!.programTypes)).toEqual(statuses(privileged.withoutToken.programTypes));
    expect(statuses(out.token!.mapTypes)).toEqual(statuses(privileged.withoutToken.mapTypes));
    // The same process without its token is an unprivileged user-namespace process.
    expect(supportedNames(out.withoutToken.programTypes)).toEqual([]);
    expect(supportedNames(out.withoutToken.mapTypes)).toEqual([]);
    expect(out.leakedFds).toBe(0);
  });

  it('lifecycle: cached while nothing changes, rebuilt on a mount-table or capability change, no fd left behind', () => {
    const out = run(inUserns(dir, ALL, node, runner, '--lifecycle'));
    expect(out.lifecycle).toEqual({
      first: true,
      again: false,
      afterMount: true,
      afterUmount: true,
      afterCapDrop: true,
      afterCapDropAgain: false,
      fdsAfterCapDrop: 1,
      generation: 4,
      tokenMount: dir,
      fdsWithToken: 1,
      fdsAfterRebuild: 1,
      fdsAfterClose: 0,
    });
  });

  it('partial delegation: exactly the delegated types work, the others name the missing delegation', () => {
    const out = run(
      inUserns(
        dir,
        [
          '--delegate-cmds',
          'map_create:prog_load',
          '--delegate-maps',
          'array:hash',
          '--delegate-progs',
          'socket_filter:xdp',
          '--delegate-attachs',
          'cgroup_inet_ingress',
        ],
        node,
        runner,
      ),
    );
    expect(ours(out, dir)[0]!.delegate).toEqual({
      cmds: ['map_create', 'prog_load'],
      maps: ['hash', 'array'],
      progs: ['socket_filter', 'xdp'],
      attachs: ['cgroup_inet_ingress'],
    });
    const t = out.token!;
    expect(supportedNames(t.programTypes).sort()).toEqual(['socket_filter', 'xdp']);
    expect(supportedNames(t.mapTypes).sort()).toEqual(['array', 'hash']);
    for (const [family, kind] of [
      ['programTypes', 'progs'],
      ['mapTypes', 'maps'],
    ] as const) {
      for (const [name, r] of Object.entries(t[family])) {
        if (r.status === 'supported') continue;
        // A type this kernel lacks is unsupported before any permission check (EINVAL on lookup).
        if (privileged.withoutToken[family][name]!.status === 'unsupported' && r.status === 'unsupported') continue;
        expect(r.status, `${family}.${name}`).toBe('not-permitted');
        expect(r.detail, `${family}.${name}`).toContain(`not in delegate_${kind} of ${dir}`);
      }
    }
    expect(t.mapTypes['lru_hash']).toMatchObject({
      status: 'not-permitted',
      errno: 'EPERM',
      detail: expect.stringContaining(`map type lru_hash is not in delegate_maps of ${dir} (has: hash, array)`),
    });
    // Without the token: xdp needs CAP_BPF and CAP_NET_ADMIN in the initial namespace. array, hash and
    // socket_filter need nothing unless kernel.unprivileged_bpf_disabled is set.
    const unprivDisabled = Number(readFileSync('/proc/sys/kernel/unprivileged_bpf_disabled', 'utf8').trim());
    expect(out.withoutToken.programTypes['xdp']!.status).toBe('not-permitted');
    if (unprivDisabled !== 0) {
      for (const name of ['array', 'hash']) expect(out.withoutToken.mapTypes[name]!.status, name).toBe('not-permitted');
      expect(out.withoutToken.programTypes['socket_filter']!.status).toBe('not-permitted');
    } else console.warn('kernel.unprivileged_bpf_disabled=0: array, hash and socket_filter are allowed without a token; not asserted');
  });

  it('a program without an attach type needs cgroup_inet_ingress (attach type 0) in delegate_attachs', () => {
    const out = run(
      inUserns(
        dir,
        ['--delegate-cmds', 'prog_load', '--delegate-progs', 'socket_filter', '--delegate-attachs', 'cgroup_inet_egress'],
        node,
        runner,
      ),
    );
    expect(out.token!.programTypes['socket_filter']).toMatchObject({
      status: 'not-permitted',
      detail: expect.stringContaining('attach type cgroup_inet_ingress (expected attach type 0'),
    });
  });

  it('a bpffs without delegation: no token, ENOENT', () => {
    const out = run(inUserns(dir, [], node, runner));
    expect(ours(out, dir)).toEqual([
      {
        path: dir,
        delegate: { cmds: [], maps: [], progs: [], attachs: [] },
        token: { status: 'unsupported', errno: 'ENOENT', detail: expect.stringContaining('delegates nothing') },
      },
    ]);
    expect(out.token).toBeNull();
  });

  it('no CAP_BPF in the owning user namespace: EPERM', () => {
    const out = run(inUserns(dir, ALL, shim, 'caps', '--drop', 'cap_bpf', '--', node, runner));
    expect(ours(out, dir)[0]!.token).toMatchObject({ status: 'not-permitted', errno: 'EPERM' });
    expect(out.token).toBeNull();
  });

  it('in the initial user namespace: EOPNOTSUPP; a subdirectory, a bind mount of one or another filesystem: EINVAL', () => {
    // A private mount namespace, so no other process sees this bpffs.
    const script = `mount -t bpf -o delegate_cmds=any bpffs "$1" && mkdir "$1/sub" "$1/bind" && mount --bind "$1/sub" "$1/bind" && shift && exec "$@"`;
    const out = run([
      'unshare',
      '--mount',
      '--propagation',
      'private',
      'sh',
      '-c',
      script,
      'sh',
      dir,
      node,
      runner,
      '--create',
      `${dir}/sub`,
      '--create',
      '/proc',
    ]);
    const mine = ours(out, dir)[0]!;
    expect(mine.delegate.cmds).toEqual(['any']);
    expect(mine.token).toMatchObject({
      status: 'unsupported',
      errno: 'EOPNOTSUPP',
      detail: expect.stringContaining('initial user namespace'),
    });
    expect(out.token).toBeNull();
    expect(out.created[`${dir}/sub`]).toMatchObject({
      status: 'unsupported',
      errno: 'EINVAL',
      detail: expect.stringContaining('not the root of a bpffs mount'),
    });
    expect(out.created['/proc']).toMatchObject({ status: 'unsupported', errno: 'EINVAL' });
    // A bind mount of a subdirectory is listed as a bpffs mount, but is no bpffs root (EINVAL comes first).
    expect(ours(out, `${dir}/bind`)[0]!.token).toMatchObject({
      status: 'unsupported',
      errno: 'EINVAL',
      detail: `${dir}/bind: a bind mount of /sub inside a bpffs; tokens come only from the root of a bpffs mount`,
    });
  });
});
