import { readFileSync } from 'node:fs';
import { describe, expect, it } from 'vitest';
import { ParseError } from '../../src/base/errors.ts';
import {
  parseMountinfo,
  parseMountinfoLenient,
  parseMountinfoLine,
  readMountinfo,
  unescapeOctal,
  visibleMounts,
} from '../../src/kernel/mountinfo.ts';

const fixture = (name: string) => readFileSync(new URL(`../fixtures/mountinfo/${name}`, import.meta.url), 'utf8');

describe('parseMountinfo', () => {
  it('parses every field of a node with delegated bpffs mounts', () => {
    const mounts = parseMountinfo(fixture('node-bpffs.txt'), 'node-bpffs.txt');
    expect(mounts).toHaveLength(11);
    const tokens = mounts.find((m) => m.mountPoint === '/run/tokens/bpffs')!;
    expect(tokens).toMatchObject({
      mountId: 512,
      parentId: 27,
      major: 0,
      minor: 52,
      root: '/',
      mountOptions: ['rw', 'relatime'],
      optionalFields: ['shared:300', 'master:8'],
      fsType: 'bpf',
      source: 'none',
    });
    expect({ ...tokens.superOptions }).toEqual({
      rw: true,
      uid: '1000000',
      gid: '1000000',
      delegate_cmds: 'map_create:prog_load',
      delegate_maps: 'array:hash',
      delegate_progs: 'socket_filter:xdp',
      delegate_attachs: 'cgroup_inet_ingress',
    });
    const ns = mounts.find((m) => m.fsType === 'nsfs')!;
    expect(ns.root).toBe('net:[4026531840]');
    expect(mounts.filter((m) => m.fsType === 'bpf').map((m) => m.mountPoint)).toEqual([
      '/sys/fs/bpf',
      '/run/tokens/bpffs',
      '/run/tokens/all',
      '/run/tokens/hex',
    ]);
  });

  it('decodes the octal escapes in paths, source and option values', () => {
    const [a, b, c] = parseMountinfo(fixture('escapes.txt'));
    expect(a!.root).toBe('/data dir');
    expect(a!.mountPoint).toBe('/mnt/with space\ttab');
    expect(a!.source).toBe('/dev/disk one');
    expect(b!.mountPoint).toBe('/mnt/back\\slash\nnl');
    expect(b!.optionalFields).toEqual(['unbindable']);
    expect(b!.superOptions['comment']).toBe('a,b');
    expect(c!.optionalFields).toEqual(['shared:5', 'master:3', 'propagate_from:2']);
    expect(c!.fsType).toBe('fuse.sshfs');
    expect(c!.superOptions['default_permissions']).toBe(true);
  });

  it('keeps backslashes that are not octal escapes', () => {
    expect(unescapeOctal('a\\x\\9\\04')).toBe('a\\x\\9\\04');
    expect(unescapeOctal('\\134\\040')).toBe('\\ ');
  });

  it('treats option keys as data, not as object properties', () => {
    const [m] = parseMountinfo('1 0 0:1 / / rw - bpf bpf rw,__proto__=x,constructor\n');
    expect(m!.superOptions['__proto__']).toBe('x');
    expect(m!.superOptions['constructor']).toBe(true);
    expect(Object.getPrototypeOf(m!.superOptions)).toBe(null);
  });

  it('rejects a malformed line with the input name and line number', () => {
    expect(() => parseMountinfo(fixture('malformed.txt'), 'malformed.txt')).toThrowError(/^malformed\.txt line 2: no " - " separator/);
    const cases: [string, RegExp][] = [
      ['1 0 0:1 / / rw - bpf bpf', /expected 3 fields after " - "/],
      ['1 0 0:1 / / rw - bpf bpf rw extra', /found 4/],
      ['x 0 0:1 / / rw - bpf bpf rw', /mount ID is not a non-negative integer: "x"/],
      ['1 -2 0:1 / / rw - bpf bpf rw', /parent ID/],
      ['1 0 0-1 / / rw - bpf bpf rw', /major:minor is malformed/],
      ['1 0 0:1 / / rw -  bpf rw', /filesystem type is empty/],
      ['99999999999 0 0:1 / / rw - bpf bpf rw', /mount ID is not a non-negative integer/],
      ['9999999999 0 0:1 / / rw - bpf bpf rw', /mount ID is out of range/],
    ];
    for (const [line, re] of cases) {
      let err: unknown;
      try {
        parseMountinfoLine(line, 'case', 7);
      } catch (e) {
        err = e;
      }
      expect(err, line).toBeInstanceOf(ParseError);
      expect((err as ParseError).message, line).toMatch(/^case line 7: /);
      expect((err as ParseError).message, line).toMatch(re);
    }
  });

  it('lenient mode keeps the good lines and reports each bad one', () => {
    const r = parseMountinfoLenient(fixture('malformed.txt'), 'malformed.txt');
    expect(r.entries.map((e) => e.mountPoint)).toEqual(['/proc', '/sys']);
    expect(r.errors.map((e) => e.input)).toEqual(['malformed.txt line 2', 'malformed.txt line 4']);
  });

  it('reads the live mount table of this process', () => {
    const mounts = readMountinfo();
    expect(mounts.some((m) => m.mountPoint === '/')).toBe(true);
    expect(mounts.find((m) => m.mountPoint === '/proc')?.fsType).toBe('proc');
  });

  it('a mount stacked on the same mount point hides the one below', () => {
    const text = '1 0 0:1 / /a rw - tmpfs t rw\n2 0 0:2 / /a rw - bpf bpf rw\n3 0 0:3 / /b rw - bpf bpf rw\n';
    expect(visibleMounts(parseMountinfo(text)).map((m) => [m.mountPoint, m.fsType])).toEqual([
      ['/a', 'bpf'],
      ['/b', 'bpf'],
    ]);
  });

  it('after mount --move of an older mount onto a newer one, the moved mount is on top though listed first', () => {
    // m1 (69, delegating) moved onto m2 (70): 69's parent is now 70, and mountinfo lists 69 first.
    const text = '69 70 0:50 / /m2 rw - bpf bpf rw,delegate_cmds=any\n70 46 0:51 / /m2 rw - bpf bpf rw\n';
    expect(visibleMounts(parseMountinfo(text)).map((m) => m.mountId)).toEqual([69]);
  });
});
