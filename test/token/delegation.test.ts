import { readFileSync } from 'node:fs';
import { describe, expect, it } from 'vitest';
import { ParseError } from '../../src/base/errors.ts';
import { parseMountinfo } from '../../src/kernel/mountinfo.ts';
import { errnoName } from '../../src/native/libc.ts';
import { openFailureResult, tokenCreateResult } from '../../src/token/create.ts';
import {
  allows,
  decodeDelegate,
  delegateJson,
  delegateNames,
  delegateValue,
  delegationOf,
  delegatesAnything,
  parseKernelU64,
} from '../../src/token/delegation.ts';
import { explainTokenEperm } from '../../src/token/diagnose.ts';

const fixture = readFileSync(new URL('../fixtures/mountinfo/node-bpffs.txt', import.meta.url), 'utf8');
const mounts = parseMountinfo(fixture);
const at = (p: string) => mounts.find((m) => m.mountPoint === p)!;
const errno = (name: string) => {
  for (let i = 1; i < 600; i++) if (errnoName(i) === name) return i;
  throw new Error(name);
};

describe('delegate_* decoding', () => {
  it('decodes names in any case and keeps the kernel order', () => {
    const m = decodeDelegate('maps', 'HASH:Array:lru_hash');
    expect(delegateNames('maps', m)).toEqual(['hash', 'array', 'lru_hash']);
    expect(allows(m, delegateValue('maps', 'array')!)).toBe(true);
    expect(allows(m, delegateValue('maps', 'ringbuf')!)).toBe(false);
  });

  it('in a mount option, a numeric item overwrites what came before it (kernel quirk)', () => {
    const opt = (kind: 'maps' | 'cmds' | 'progs', v: string) => decodeDelegate(kind, v, 'test', 'mount-option');
    expect(opt('maps', 'array:0x2').bits).toBe(0x2n); // array (bit 2) is gone: 0x2 is hash
    expect(delegateNames('maps', opt('maps', 'array:0x2'))).toEqual(['hash']);
    expect(opt('maps', '0x2:array').bits).toBe(0x6n);
    expect(opt('cmds', 'any:0').bits).toBe(0n);
    expect(opt('cmds', 'any:0').any).toBe(false);
    expect(opt('progs', '010').bits).toBe(8n); // octal
    expect(opt('progs', '10').bits).toBe(10n);
    expect(opt('progs', '0xffffffffffffffff').any).toBe(true);
  });

  it('in mountinfo, a number is leftover bits the kernel printed after the names', () => {
    const m = decodeDelegate('cmds', 'map_create:prog_load:0x8000000000000000');
    expect(delegateNames('cmds', m)).toEqual(['map_create', 'prog_load', '0x8000000000000000']);
    expect(decodeDelegate('maps', 'array:0x2').bits).toBe(0x6n);
  });

  it('parses numbers like kstrtou64(s, 0)', () => {
    expect(parseKernelU64('0')).toBe(0n);
    expect(parseKernelU64('0X1f')).toBe(31n);
    expect(parseKernelU64('+7')).toBe(7n);
    expect(parseKernelU64('08')).toBeUndefined();
    expect(parseKernelU64('0x')).toBeUndefined();
    expect(parseKernelU64('18446744073709551616')).toBeUndefined(); // 2^64: ERANGE
    expect(parseKernelU64('-1')).toBeUndefined();
  });

  it('decodes the display form with leftover bits and names this table does not know', () => {
    const d = decodeDelegate('maps', 'array:future_map');
    expect(delegateNames('maps', d)).toEqual(['array', 'future_map']);
    expect(allows(d, 2)).toBe(true);
    const hex = decodeDelegate('attachs', '0x8000000000000001');
    expect(delegateNames('attachs', hex)).toEqual(['cgroup_inet_ingress', '0x8000000000000000']);
  });

  it('knows the enum aliases the kernel also resolves', () => {
    expect(delegateNames('cmds', decodeDelegate('cmds', 'prog_run'))).toEqual(['prog_test_run']);
    expect(delegateNames('maps', decodeDelegate('maps', 'cgroup_storage_deprecated'))).toEqual(['cgroup_storage']);
  });

  it('keeps any as ["any"] and unset as []', () => {
    const all = delegationOf(at('/run/tokens/all'));
    expect(delegateJson(all)).toEqual({ cmds: ['any'], maps: ['any'], progs: ['any'], attachs: ['any'] });
    const none = delegationOf(at('/sys/fs/bpf'));
    expect(delegateJson(none)).toEqual({ cmds: [], maps: [], progs: [], attachs: [] });
    expect(delegatesAnything(none)).toBe(false);
    expect(delegatesAnything(all)).toBe(true);
    expect(delegateJson(delegationOf(at('/run/tokens/hex')))).toEqual({
      cmds: ['map_create', '0x8000000000000000'],
      maps: ['hash', 'array'],
      progs: [],
      attachs: [],
    });
  });

  it('rejects what the kernel rejects, naming the mount and option', () => {
    expect(() => decodeDelegate('maps', 'array::hash', '/x: delegate_maps')).toThrowError(ParseError);
    expect(() => decodeDelegate('maps', 'array::hash', '/x: delegate_maps')).toThrowError(/^\/x: delegate_maps: "" is not "any"/);
    expect(() => decodeDelegate('progs', '9xdp')).toThrowError(/"9xdp" is not "any", a prog name or a number/);
    const bad = { mountPoint: '/b', superOptions: { delegate_cmds: 'map-create' } };
    expect(() => delegationOf(bad)).toThrowError(/^\/b: delegate_cmds: "map-create"/);
  });
});

describe('BPF_TOKEN_CREATE errno mapping', () => {
  const ctx = { path: '/sys/fs/bpf' };
  it('EOPNOTSUPP: initial user namespace', () => {
    const r = tokenCreateResult(errno('EOPNOTSUPP'), ctx);
    expect(r).toMatchObject({ status: 'unsupported', errno: 'EOPNOTSUPP' });
    expect(r.detail).toMatch(/initial user namespace/);
  });
  it('ENOENT: nothing delegated', () => {
    expect(tokenCreateResult(errno('ENOENT'), ctx)).toMatchObject({
      status: 'unsupported',
      errno: 'ENOENT',
      detail: expect.stringMatching(/delegates nothing/),
    });
  });
  it('EINVAL on a kernel without tokens, and on a kernel with them', () => {
    expect(tokenCreateResult(errno('EINVAL'), { ...ctx, kernelHasTokens: false }).detail).toMatch(/no BPF tokens.*6\.9/);
    expect(tokenCreateResult(errno('EINVAL'), { ...ctx, kernelHasTokens: true }).detail).toMatch(/not the root of a bpffs mount/);
    expect(tokenCreateResult(errno('EINVAL'), ctx).detail).toMatch(/not the root of a bpffs mount, or a kernel without BPF tokens/);
    expect(tokenCreateResult(errno('EINVAL'), ctx).status).toBe('unsupported');
  });
  it('EPERM and EACCES are not-permitted, never unsupported', () => {
    expect(tokenCreateResult(errno('EPERM'), ctx)).toMatchObject({
      status: 'not-permitted',
      detail: expect.stringMatching(/CAP_BPF in the user namespace that owns/),
    });
    expect(tokenCreateResult(errno('EACCES'), ctx)).toMatchObject({ status: 'not-permitted', detail: expect.stringMatching(/LSM/) });
  });
  it('anything else is an error with its errno', () => {
    expect(tokenCreateResult(errno('EBADF'), ctx)).toMatchObject({ status: 'error', errno: 'EBADF' });
    expect(tokenCreateResult(errno('ENOMEM'), ctx)).toMatchObject({ status: 'error', errno: 'ENOMEM' });
    expect(openFailureResult(errno('EACCES'), '/p')).toMatchObject({ status: 'not-permitted' });
    expect(openFailureResult(errno('ENOENT'), '/p')).toMatchObject({ status: 'unsupported' });
  });
});

describe('explainTokenEperm', () => {
  const partial = delegationOf(at('/run/tokens/bpffs'));
  it('names a missing map type with what the mount has', () => {
    expect(explainTokenEperm({ cmd: 'map_create', mapType: delegateValue('maps', 'lru_hash')! }, partial)).toBe(
      'map type lru_hash is not in delegate_maps of /run/tokens/bpffs (has: hash, array)',
    );
    expect(explainTokenEperm({ cmd: 'map_create', mapType: delegateValue('maps', 'array')! }, partial)).toBeUndefined();
  });
  it('names a missing command, program type and attach type', () => {
    expect(explainTokenEperm({ cmd: 'btf_load' }, partial)).toBe(
      'command btf_load is not in delegate_cmds of /run/tokens/bpffs (has: map_create, prog_load)',
    );
    expect(explainTokenEperm({ cmd: 'prog_load', progType: delegateValue('progs', 'kprobe')! }, partial)).toMatch(
      /^program type kprobe is not in delegate_progs of \/run\/tokens\/bpffs \(has: socket_filter, xdp\)$/,
    );
    expect(explainTokenEperm({ cmd: 'prog_load', progType: 6, attachType: 37 }, partial)).toMatch(
      /^attach type xdp is not in delegate_attachs/,
    );
    expect(explainTokenEperm({ cmd: 'prog_load', progType: 6 }, partial)).toBeUndefined();
  });
  it('explains attach type 0 and lists every missing delegation', () => {
    const noAttach = delegationOf({ mountPoint: '/t', superOptions: { delegate_cmds: 'prog_load', delegate_progs: 'xdp' } });
    expect(explainTokenEperm({ cmd: 'prog_load', progType: 1 }, noAttach)).toBe(
      'program type socket_filter is not in delegate_progs of /t (has: xdp); attach type cgroup_inet_ingress (expected attach type 0: what a program without an attach type uses) is not in delegate_attachs of /t (has: nothing)',
    );
  });
  it('checks sk_reuseport and cgroup_sock loads without an attach type against the one the kernel sets', () => {
    const d = delegationOf({
      mountPoint: '/t',
      superOptions: { delegate_cmds: 'prog_load', delegate_progs: 'any', delegate_attachs: 'cgroup_inet_ingress' },
    });
    expect(explainTokenEperm({ cmd: 'prog_load', progType: 21 }, d)).toBe(
      'attach type sk_reuseport_select (what the kernel makes of a sk_reuseport load without an attach type) is not in delegate_attachs of /t (has: cgroup_inet_ingress)',
    );
    expect(explainTokenEperm({ cmd: 'prog_load', progType: 9 }, d)).toMatch(
      /^attach type cgroup_inet_sock_create \(what the kernel makes of a cgroup_sock load/,
    );
    const ok = delegationOf({
      mountPoint: '/t',
      superOptions: { delegate_cmds: 'prog_load', delegate_progs: 'any', delegate_attachs: 'sk_reuseport_select' },
    });
    expect(explainTokenEperm({ cmd: 'prog_load', progType: 21 }, ok)).toBeUndefined();
  });
  it('any allows everything', () => {
    const all = delegationOf(at('/run/tokens/all'));
    expect(explainTokenEperm({ cmd: 'prog_load', progType: 31, attachType: 61 }, all)).toBeUndefined();
    expect(explainTokenEperm({ cmd: 'map_create', mapType: 35 }, all)).toBeUndefined();
  });
});
