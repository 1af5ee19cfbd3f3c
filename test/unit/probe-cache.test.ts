// The probe cache's rule (src/collect/cache.ts): only conclusive results are kept, per privilege
// context; test/kernel/probe.test.ts shows it on the real kernel with capabilities dropped.
import { describe, expect, it } from 'vitest';
import { ATTACH_MAX_AGE_MS, cached, ProbeCache } from '../../src/collect/cache.ts';
import type { ProbeResult } from '../../src/contract/result.ts';

describe('ProbeCache', () => {
  it('keeps supported and unsupported answers, never not-permitted or error ones', () => {
    const cache = new ProbeCache();
    const ctx = cache.context('caps=all').results;
    let runs = 0;
    const answer = (r: ProbeResult) => () => (runs++, r);
    for (const r of [{ status: 'supported' }, { status: 'unsupported', errno: 'EINVAL' }] as ProbeResult[]) {
      const key = r.status;
      expect(cached(ctx, key, answer(r))).toBe(r);
      expect(cached(ctx, key, answer({ status: 'error', detail: 'must not run' }))).toBe(r);
    }
    expect(runs).toBe(2);
    for (const r of [
      { status: 'not-permitted', errno: 'EPERM' },
      { status: 'error', detail: 'EBADF' },
    ] as ProbeResult[]) {
      runs = 0;
      cached(ctx, r.status, answer(r));
      const next: ProbeResult = { status: 'supported' };
      expect(cached(ctx, r.status, answer(next))).toBe(next);
      expect(runs).toBe(2);
    }
  });

  it('keeps each privilege context apart, and forgets the least recently used beyond four', () => {
    const cache = new ProbeCache();
    cache.context('root').results.set('prog:xdp', { status: 'supported' });
    expect(cache.context('no-cap_bpf').results.get('prog:xdp')).toBeUndefined();
    for (const k of ['a', 'b']) cache.context(k);
    // Using 'root' again makes it the most recent: 'no-cap_bpf' is the one that goes.
    expect(cache.context('root').results.get('prog:xdp')).toEqual({ status: 'supported' });
    cache.context('c');
    expect(cache.contexts).toBe(4);
    expect(cache.context('root').results.size).toBe(1);
    expect(cache.context('no-cap_bpf').results.size).toBe(0);
  });

  it('reuses the attach section only in the same context and for ATTACH_MAX_AGE_MS', () => {
    const cache = new ProbeCache();
    const section = { cgroup_skb: { status: 'supported' as const } };
    cache.setAttach('ctx1', section, 1000);
    expect(cache.attach('ctx1', 1000 + ATTACH_MAX_AGE_MS - 1)).toBe(section);
    expect(cache.attach('ctx2', 1001)).toBeUndefined();
    expect(cache.attach('ctx1', 1000 + ATTACH_MAX_AGE_MS)).toBeUndefined();
  });

  it('two caches share nothing, and close() forgets everything and closes the token', () => {
    const one = new ProbeCache();
    const two = new ProbeCache();
    one.context('root').results.set('map:hash', { status: 'supported' });
    expect(two.context('root').results.size).toBe(0);
    let closed = 0;
    one.tokens = { close: () => void closed++ } as unknown as ProbeCache['tokens'];
    one.statsLog = true;
    one.close();
    expect(closed).toBe(1);
    expect(one.tokens).toBeUndefined();
    expect(one.statsLog).toBeUndefined();
    expect(one.contexts).toBe(0);
  });
});
