// Discovery and TokenManager without a kernel token: token creation is replaced by a stand-in that
// answers per mount point (named `standInCreate`) and hands out real fds of /dev/null, so closing
// and fd accounting are real. The real BPF_TOKEN_CREATE path is test/kernel/token.test.ts.
import { readFileSync } from 'node:fs';
import { describe, expect, it } from 'vitest';
import { liveFdCount, OwnedFd } from '../../src/native/bpf.ts';
import { O_RDONLY, openPath } from '../../src/native/libc.ts';
import { notPermitted, supported, unsupported } from '../../src/contract/result.ts';
import type { TokenCreateOutcome } from '../../src/token/create.ts';
import { discoverBpffs, TokenManager, type TableRunner } from '../../src/token/manager.ts';

const fixture = readFileSync(new URL('../fixtures/mountinfo/node-bpffs.txt', import.meta.url), 'utf8');

function standInCreate(answers: Record<string, 'ok' | 'ENOENT' | 'EPERM'>) {
  const calls: string[] = [];
  const create = (path: string): TokenCreateOutcome => {
    calls.push(path);
    const a = answers[path] ?? 'ENOENT';
    if (a === 'ok') {
      const r = openPath('/dev/null', O_RDONLY);
      if (!r.ok) throw new Error('open /dev/null');
      return { ok: true, fd: new OwnedFd(r.value), result: supported() };
    }
    return { ok: false, result: a === 'EPERM' ? notPermitted('EPERM', 'stand-in') : unsupported('ENOENT', 'stand-in') };
  };
  return { create, calls };
}

describe('discoverBpffs', () => {
  it('reports every bpffs in mount order and keeps only the first token', () => {
    const before = liveFdCount();
    const { create, calls } = standInCreate({ '/run/tokens/bpffs': 'ok', '/run/tokens/all': 'ok', '/sys/fs/bpf': 'EPERM' });
    const s = discoverBpffs(fixture, { create });
    expect(calls).toEqual(['/sys/fs/bpf', '/run/tokens/bpffs', '/run/tokens/all', '/run/tokens/hex']);
    expect(s.bpffs.map((b) => [b.path, b.token.status])).toEqual([
      ['/sys/fs/bpf', 'not-permitted'],
      ['/run/tokens/bpffs', 'supported'],
      ['/run/tokens/all', 'supported'],
      ['/run/tokens/hex', 'unsupported'],
    ]);
    expect(s.token?.delegation.path).toBe('/run/tokens/bpffs');
    expect(liveFdCount() - before).toBe(1); // the second token was closed at once
    s.token!.fd.close();
    expect(liveFdCount()).toBe(before);
  });

  it('a bad delegate option costs that mount its token, not the others', () => {
    const text = '1 0 0:1 / /a rw - bpf bpf rw,delegate_maps=array::hash\n2 0 0:2 / /b rw - bpf bpf rw,delegate_cmds=any\nbroken line\n';
    const { create, calls } = standInCreate({ '/b': 'ok' });
    const s = discoverBpffs(text, { create, input: 'test-mountinfo' });
    expect(calls).toEqual(['/b']);
    expect(s.bpffs[0]).toMatchObject({
      path: '/a',
      token: { status: 'error', detail: expect.stringContaining('/a: delegate_maps: "" is not "any"') },
    });
    expect(s.errors.map((e) => e.input)).toEqual(['test-mountinfo line 3', '/a: delegate_maps']);
    s.token?.fd.close();
  });
});

describe('TokenManager', () => {
  it('rebuilds only when the mount table or privileges change, and closes replaced tokens', async () => {
    const before = liveFdCount();
    let mountinfo = fixture;
    let privileges = 'CapEff: 1';
    let tableRuns = 0;
    const tables: TableRunner = async (opts) => {
      tableRuns++;
      expect(opts.explainTokenEperm({ cmd: 'map_create', mapType: 9 })).toMatch(/lru_hash is not in delegate_maps/);
      return { programTypes: {}, mapTypes: { lru_hash: notPermitted('EPERM') } };
    };
    const { create } = standInCreate({ '/run/tokens/bpffs': 'ok' });
    const m = new TokenManager({ tables, create, readMountinfo: () => mountinfo, readPrivileges: () => privileges });
    expect(m.refresh()).toBe(true);
    expect(m.refresh()).toBe(false);
    const p1 = await m.tokenProbe();
    expect(await m.tokenProbe()).toBe(p1);
    expect(tableRuns).toBe(1);
    // The section names the missing delegation even when the engine did not.
    expect(p1?.mapTypes['lru_hash']?.detail).toBe('map type lru_hash is not in delegate_maps of /run/tokens/bpffs (has: hash, array)');
    expect(liveFdCount() - before).toBe(1);

    privileges = 'CapEff: 0';
    expect(m.refresh()).toBe(true);
    expect(liveFdCount() - before).toBe(1);
    await m.tokenProbe();
    expect(tableRuns).toBe(2);

    mountinfo = fixture.replace(/^512 .*\n/m, '');
    expect(m.refresh()).toBe(true);
    expect(m.bpffs().map((b) => b.path)).not.toContain('/run/tokens/bpffs');
    expect(await m.tokenProbe()).toBeNull();
    expect(liveFdCount()).toBe(before);
    expect(m.generation).toBe(3);
    m.close();
    expect(liveFdCount()).toBe(before);
  });

  it('a token in use by a running probe is closed when that probe ends', async () => {
    const before = liveFdCount();
    let release!: () => void;
    const tables: TableRunner = () => new Promise((resolve) => (release = () => resolve({ programTypes: {}, mapTypes: {} })));
    const { create } = standInCreate({ '/run/tokens/bpffs': 'ok' });
    let mountinfo = fixture;
    const m = new TokenManager({ tables, create, readMountinfo: () => mountinfo, readPrivileges: () => '' });
    const probe = m.tokenProbe();
    mountinfo = `${fixture}999 27 0:99 / /mnt/new rw - tmpfs t rw\n`;
    expect(m.refresh()).toBe(true);
    expect(liveFdCount() - before).toBe(2); // old token still held by the running probe
    release();
    await probe;
    await Promise.resolve();
    expect(liveFdCount() - before).toBe(1);
    m.close();
    expect(liveFdCount()).toBe(before);
  });
});
