// The publisher against the API-server double, through the real @kubernetes/client-node HTTP stack.
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { createNodeApi } from '../../src/publish/client.ts';
import { createPublisher, type NodePublisher, type PublisherOptions } from '../../src/publish/index.ts';
import { ApiServerDouble, type NodeObject } from './apiserver-double.ts';
import { RecordingClock } from './clock.ts';
import { until } from '../e2e/process.ts';
import { checksBad, checksOk, foreignNode, quietLogger, report } from './fixtures.ts';

const NODE = 'node-a';
let server: ApiServerDouble;
let clock: RecordingClock;
const publishers: NodePublisher[] = [];

beforeEach(async () => {
  server = new ApiServerDouble();
  await server.start();
  server.addNode(foreignNode(NODE));
  clock = new RecordingClock();
});

afterEach(async () => {
  for (const p of publishers.splice(0)) await p.close();
  await server.close();
});

function publisher(over: Partial<PublisherOptions> = {}): NodePublisher {
  const p = createPublisher({
    nodeName: NODE,
    labelPrefix: 'bpfready.io',
    heartbeatSeconds: 0,
    logger: quietLogger(),
    api: createNodeApi(server.kubeConfig()),
    clock,
    random: () => 0.5,
    startJitterSeconds: 0,
    backoff: { baseMs: 100, maxMs: 2000 },
    ...over,
  });
  publishers.push(p);
  return p;
}

const foreign = (n: NodeObject) => ({
  labels: Object.fromEntries(
    Object.entries(n.metadata.labels ?? {}).filter(([k]) => !k.startsWith('bpfready.io/') || k === 'bpfready.io/hand-made'),
  ),
  annotations: Object.fromEntries(Object.entries(n.metadata.annotations ?? {}).filter(([k]) => !k.startsWith('bpfready.io/'))),
  taints: n.spec?.taints?.filter((t) => !t.key.startsWith('bpfready.io/')),
  conditions: n.status?.conditions?.filter((c) => !String(c.type).startsWith('bpfready.io/')),
});

/** Until our watch has delivered the node's latest change (ours, or anyone's) and the pass it started is done. */
async function watched(p: NodePublisher, node = NODE): Promise<void> {
  const rv = Number(server.node(node).metadata.resourceVersion);
  await until(`the watch to deliver resourceVersion ${rv}`, () => (Number(p.stats().watchedResourceVersion) >= rv ? true : undefined));
  await p.whenInSync();
}

/**
 * In sync, and the watch has brought back the events of our own writes, which must not cause
 * further writes: a pass they started that wrote again makes a newer resourceVersion to wait for.
 */
async function settle(p: NodePublisher): Promise<void> {
  for (;;) {
    await p.whenInSync();
    const rv = server.node(NODE).metadata.resourceVersion;
    await watched(p);
    if (server.node(NODE).metadata.resourceVersion === rv) return;
  }
}

const failed = (p: NodePublisher, n = 1) => until(`${n} failed pass(es)`, () => (p.stats().failures >= n ? true : undefined));

describe('publisher against the API-server double', () => {
  it('calls afterWork once writes brought the node in sync, and not after a pass that wrote nothing', async () => {
    let released = 0;
    const p = publisher({ afterWork: () => released++ });
    p.publish(report(), checksOk);
    await settle(p);
    expect(released).toBe(1);
    // The same state again: in sync without a write.
    p.publish(report(), checksOk);
    await settle(p);
    expect(released).toBe(1);
    p.publish(report(), checksBad);
    await settle(p);
    expect(released).toBe(2);
  });

  it('publishes labels, ownership, conditions; leaves foreign state untouched', async () => {
    const before = server.node(NODE);
    const p = publisher();
    p.publish(report(), checksOk);
    await settle(p);
    const n = server.node(NODE);
    expect(foreign(n)).toEqual(foreign(before));
    expect(n.metadata.labels?.['bpfready.io/program-type.xdp']).toBe('true');
    expect(n.metadata.labels?.['bpfready.io/program-type.lirc_mode2']).toBe('false');
    expect(n.metadata.labels?.['bpfready.io/feature.kprobe-attach']).toBe('false');
    expect(n.metadata.labels?.['bpfready.io/profile.cilium']).toBe('true');
    // not-permitted and error: availability unknown, so no label at all
    expect(n.metadata.labels).not.toHaveProperty('bpfready.io/program-type.lsm');
    expect(n.metadata.labels).not.toHaveProperty('bpfready.io/map-type.arena');
    expect(n.metadata.labels).not.toHaveProperty('bpfready.io/feature.fentry');
    const owned = n.metadata.annotations?.['bpfready.io/owned-labels']?.split(',') ?? [];
    expect(owned).toContain('program-type.xdp');
    expect(owned).not.toContain('hand-made');
    const types = n.status?.conditions?.map((c) => c.type);
    expect(types).toEqual(['Ready', 'example.com/GpuHealthy', 'bpfready.io/ProfileCilium', 'bpfready.io/EBPFReady']);
    const ready = n.status?.conditions?.find((c) => c.type === 'bpfready.io/EBPFReady');
    expect(ready).toMatchObject({ status: 'True', reason: 'ProfilesSatisfied' });
    // patches went out with the strategic-merge content type
    const patches = server.requests.filter((r) => r.method === 'PATCH');
    expect(patches.map((r) => r.contentType)).toEqual(patches.map(() => 'application/strategic-merge-patch+json'));
  });

  it('writes nothing when nothing changed', async () => {
    const p = publisher();
    p.publish(report(), checksOk);
    await settle(p);
    const writes = server.writes;
    const requests = server.requests.length;
    p.publish(report(), checksOk);
    p.publish(report(), checksOk);
    await settle(p);
    expect(server.writes).toBe(writes);
    expect(server.requests.length).toBe(requests);
  });

  it('removes stale owned labels and only those', async () => {
    const p = publisher();
    p.publish(report(), checksOk);
    await settle(p);
    const r = report();
    delete r.programTypes['xdp'];
    p.publish(r, checksOk);
    await settle(p);
    const n = server.node(NODE);
    expect(n.metadata.labels).not.toHaveProperty('bpfready.io/program-type.xdp');
    expect(n.metadata.labels?.['bpfready.io/hand-made']).toBe('yes');
    expect(n.metadata.annotations?.['bpfready.io/owned-labels']).not.toContain('program-type.xdp');
  });

  it('keeps lastTransitionTime while the status holds, moves it when the status changes', async () => {
    const unknown = (detail: string) => [
      {
        profile: 'cilium',
        satisfied: false,
        unmet: [{ requirement: 'fentry attach', status: 'not-permitted' as const, errno: 'EPERM', detail, remediation: ['grant CAP_BPF'] }],
      },
    ];
    const cond = () => server.node(NODE).status?.conditions?.find((c) => c.type === 'bpfready.io/ProfileCilium');
    const p = publisher();
    p.publish(report(), unknown('first'));
    await settle(p);
    const t0 = cond()?.['lastTransitionTime'];
    expect(cond()?.status).toBe('Unknown');
    clock.nowMs += 60_000;
    p.publish(report(), unknown('second'));
    await settle(p);
    expect(cond()?.['message']).toContain('second');
    expect(cond()?.['lastTransitionTime']).toBe(t0);
    clock.nowMs += 60_000;
    p.publish(report(), checksBad);
    await settle(p);
    expect(cond()?.status).toBe('False');
    expect(cond()?.['lastTransitionTime']).not.toBe(t0);
    expect(cond()?.['message']).toContain('CONFIG_BPF_SYSCALL');
  });

  it('repairs drift seen on the watch, without periodic GETs', async () => {
    const p = publisher();
    p.publish(report(), checksOk);
    await settle(p);
    const gets = server.count('GET node');
    server.edit(NODE, (n) => {
      delete n.metadata.labels!['bpfready.io/program-type.xdp'];
      n.metadata.labels!['bpfready.io/profile.cilium'] = 'false';
      n.status!.conditions = n.status!.conditions!.filter((c) => c['type'] !== 'bpfready.io/EBPFReady');
      n.metadata.labels!['someone.example.com/new'] = 'x';
    });
    await settle(p);
    const n = server.node(NODE);
    expect(n.metadata.labels?.['bpfready.io/program-type.xdp']).toBe('true');
    expect(n.metadata.labels?.['bpfready.io/profile.cilium']).toBe('true');
    expect(n.metadata.labels?.['someone.example.com/new']).toBe('x');
    expect(n.status?.conditions?.some((c) => c['type'] === 'bpfready.io/EBPFReady')).toBe(true);
    expect(server.count('GET node')).toBe(gets);
  });

  it('puts the readiness taint on while requirements fail and takes it off when they hold', async () => {
    const taint = { key: 'bpfready.io/not-ready', effect: 'NoSchedule' as const };
    const p = publisher({ taint });
    p.publish(report(), checksBad);
    await settle(p);
    expect(server.node(NODE).spec?.taints).toEqual([{ key: 'example.com/dedicated', value: 'gpu', effect: 'NoSchedule' }, taint]);
    // someone adds a taint of theirs meanwhile: it must survive our list replacement
    server.edit(NODE, (n) => n.spec!.taints!.push({ key: 'other.example.com/x', effect: 'NoExecute' }));
    p.publish(report(), checksOk);
    await settle(p);
    expect(server.node(NODE).spec?.taints).toEqual([
      { key: 'example.com/dedicated', value: 'gpu', effect: 'NoSchedule' },
      { key: 'other.example.com/x', effect: 'NoExecute' },
    ]);
    p.publish(report(), checksBad);
    await settle(p);
    expect(server.node(NODE).spec?.taints?.map((t) => t.key)).toContain('bpfready.io/not-ready');
  });

  it('a changed taint effect, or taint management switched off, takes off the taint it put on before', async () => {
    const dedicated = { key: 'example.com/dedicated', value: 'gpu', effect: 'NoSchedule' };
    const v1 = publisher({ taint: { key: 'bpfready.io/not-ready', effect: 'NoSchedule' } });
    v1.publish(report(), checksBad);
    await settle(v1);
    await v1.close();
    // A new release: NoExecute instead, and the node is now ready.
    const v2 = publisher({ taint: { key: 'bpfready.io/not-ready', effect: 'NoExecute' } });
    v2.publish(report(), checksBad);
    await settle(v2);
    expect(server.node(NODE).spec?.taints).toEqual([dedicated, { key: 'bpfready.io/not-ready', effect: 'NoExecute' }]);
    await v2.close();
    // Then no taint management at all: ours goes, theirs stays.
    const v3 = publisher();
    v3.publish(report(), checksBad);
    await settle(v3);
    expect(server.node(NODE).spec?.taints).toEqual([dedicated]);
  });

  it('publishes through a GET when the watch is refused (403: no watch verb), and says why', async () => {
    server.inject({ kind: 'status', status: 403, method: 'GET', watch: true, times: 1000 });
    const p = publisher();
    p.publish(report(), checksOk);
    await p.whenInSync();
    expect(server.node(NODE).metadata.labels?.['bpfready.io/program-type.xdp']).toBe('true');
    expect(server.count('GET node')).toBeGreaterThanOrEqual(1);
    expect(p.stats().lastError).toMatch(/^watch: /);
  });

  it('publishes to a re-created node as soon as it is back, not at the end of the backoff', async () => {
    const p = publisher({ backoff: { baseMs: 60_000, maxMs: 60_000 } });
    p.publish(report(), checksOk);
    await settle(p);
    const original = server.node(NODE);
    clock.holdAtLeastMs = 1000; // hold the 404's backoff (≥ 30 s here) for good
    server.deleteNode(NODE);
    await failed(p);
    expect(p.stats().lastError).toMatch(/not found|404/i);
    // The node comes back as a new object: none of our state is on it.
    server.addNode(foreignNode(NODE));
    await p.whenInSync();
    expect(server.node(NODE).metadata.labels?.['bpfready.io/program-type.xdp']).toBe(
      original.metadata.labels?.['bpfready.io/program-type.xdp'],
    );
  });

  it('re-reads and re-applies after 409 Conflict on a taint change', async () => {
    const taint = { key: 'bpfready.io/not-ready', effect: 'NoSchedule' as const };
    const p = publisher({ taint });
    p.publish(report(), checksOk);
    await settle(p);
    // A foreign taint lands while our watch lags: our patch carries the resourceVersion we saw, so
    // the double answers 409 for real (no injected fault), and we must re-read and keep their taint.
    server.holdWatchEvents();
    server.edit(NODE, (n) => n.spec!.taints!.push({ key: 'late.example.com/y', effect: 'NoSchedule' }));
    p.publish(report(), checksBad);
    await p.whenInSync();
    server.releaseWatchEvents();
    await settle(p);
    expect(server.requests.filter((r) => r.status === 409).length).toBe(1);
    const keys = server.node(NODE).spec?.taints?.map((t) => t.key);
    expect(keys).toEqual(['example.com/dedicated', 'late.example.com/y', 'bpfready.io/not-ready']);
    expect(p.stats().conflicts).toBeGreaterThanOrEqual(1);
  });

  it('converges after 429 (honouring Retry-After), 500 and connection resets', async () => {
    server.inject({ kind: 'status', status: 429, retryAfterSeconds: 7, method: 'PATCH' });
    server.inject({ kind: 'status', status: 500, method: 'PATCH', times: 2 });
    server.inject({ kind: 'reset', method: 'PATCH' });
    server.inject({ kind: 'reset', method: 'GET', watch: true });
    const p = publisher();
    p.publish(report(), checksOk);
    await settle(p);
    const n = server.node(NODE);
    expect(n.metadata.labels?.['bpfready.io/program-type.xdp']).toBe('true');
    expect(n.status?.conditions?.some((c) => c['type'] === 'bpfready.io/EBPFReady')).toBe(true);
    // four failed writes; the reset watch is retried by the watch loop, not counted as a write failure
    expect(p.stats().failures).toBe(4);
    expect(Math.max(...clock.delays)).toBeGreaterThanOrEqual(7000);
    expect(server.requests.filter((r) => r.status === 429 || r.status === 500 || r.status === 0).length).toBe(5);
  });

  it('keeps the latest desired state when publishes arrive during failures', async () => {
    server.inject({ kind: 'status', status: 503, method: 'PATCH', times: 3 });
    const p = publisher();
    p.publish(report(), checksBad);
    p.publish(report(), checksOk);
    const r = report();
    r.mapTypes['lru_hash'] = { status: 'supported' };
    p.publish(r, checksOk);
    await settle(p);
    const n = server.node(NODE);
    expect(n.metadata.labels?.['bpfready.io/map-type.lru_hash']).toBe('true');
    expect(n.metadata.labels?.['bpfready.io/profile.cilium']).toBe('true');
  });

  it('re-watches after a watch ends, starts over from resourceVersion 0 after 410 Gone, and still repairs drift', async () => {
    const p = publisher();
    p.publish(report(), checksOk);
    await settle(p);
    server.inject({ kind: 'gone', watch: true });
    const watches = server.requests.filter((r) => r.watch).length;
    server.closeWatches();
    // The ended watch and the one after its 410 both come back at once (no backoff for a first 410).
    await until('a watch again after the 410', () =>
      server.requests.filter((r) => r.watch).length >= watches + 2 && server.watchCount === 1 ? true : undefined,
    );
    expect(server.watchCount).toBe(1);
    server.edit(NODE, (n) => delete n.metadata.labels!['bpfready.io/map-type.hash']);
    await settle(p);
    expect(server.node(NODE).metadata.labels?.['bpfready.io/map-type.hash']).toBe('true');
    // no GET at all: the first watch and the one after 410 both start from resourceVersion 0
    expect(server.count('GET node')).toBe(0);
    expect(server.requests.filter((r) => r.watch).map((r) => new URLSearchParams(r.query).get('resourceVersion'))).toEqual([
      '0',
      expect.stringMatching(/^[1-9]/),
      '0',
    ]);
  });

  it('heartbeat: refreshes lastHeartbeatTime only, one status write per period; off writes nothing', async () => {
    clock.holdAtLeastMs = 60_000;
    const p = publisher({ heartbeatSeconds: 300 });
    p.publish(report(), checksOk);
    await settle(p);
    const before = server.node(NODE).status?.conditions?.find((c) => c.type === 'bpfready.io/EBPFReady');
    const statusPatches = server.count('PATCH status');
    const nodePatches = server.count('PATCH node');
    expect(clock.fireHeld()).toBe(1);
    await settle(p);
    const after = server.node(NODE).status?.conditions?.find((c) => c.type === 'bpfready.io/EBPFReady');
    expect(server.count('PATCH status')).toBe(statusPatches + 1);
    expect(server.count('PATCH node')).toBe(nodePatches);
    expect(after?.['lastHeartbeatTime']).not.toBe(before?.['lastHeartbeatTime']);
    expect(after?.['lastTransitionTime']).toBe(before?.['lastTransitionTime']);
    // the period is drawn from 300 s ± 10 %
    const hb = clock.delays.filter((d) => d >= 60_000);
    expect(hb.every((d) => d >= 270_000 && d <= 330_000)).toBe(true);
  });

  it('heartbeat: also arms after a restart that finds its conditions already on the node', async () => {
    // A first publisher writes the conditions, then goes away (a daemon restart).
    const first = publisher({ heartbeatSeconds: 0 });
    first.publish(report(), checksOk);
    await settle(first);
    await first.close();
    clock.holdAtLeastMs = 60_000;
    const statusBefore = server.count('PATCH status');
    const second = publisher({ heartbeatSeconds: 300 });
    second.publish(report(), checksOk);
    await settle(second);
    // Nothing differed, so nothing was written: the heartbeat timer must be armed anyway.
    expect(server.count('PATCH status')).toBe(statusBefore);
    expect(clock.fireHeld()).toBe(1);
    await settle(second);
    expect(server.count('PATCH status')).toBe(statusBefore + 1);
  });

  it('re-watches from its resourceVersion after every connection is cut, without a GET', async () => {
    const p = publisher();
    p.publish(report(), checksOk);
    await settle(p);
    const gets = server.count('GET node');
    server.dropConnections();
    await until('a watch again', () => (server.watchCount > 0 ? true : undefined));
    expect(server.watchCount).toBe(1);
    server.edit(NODE, (n) => delete n.metadata.labels!['bpfready.io/map-type.hash']);
    await settle(p);
    expect(server.node(NODE).metadata.labels?.['bpfready.io/map-type.hash']).toBe('true');
    expect(server.count('GET node')).toBe(gets);
    // the first re-watch waited a random share of 5 s (random() = 0.5 here)
    expect(clock.delays).toContain(2500);
  });

  it('does not hot-loop when the server never shows what we wrote', async () => {
    // A server that accepts every patch and changes nothing (a stand-in for a mutating webhook that
    // strips our labels): the writer must back off, not write in a tight loop.
    const real = createNodeApi(server.kubeConfig());
    const frozen = server.node(NODE);
    let patches = 0;
    const api = { ...real, patchNode: async () => (patches++, frozen), patchStatus: async () => (patches++, frozen) };
    clock.holdAtLeastMs = 1; // hold every backoff, so the count below is per pass, not per wall time
    const p = publisher({ api });
    p.publish(report(), checksOk);
    await failed(p);
    expect(p.stats().failures).toBe(1);
    expect(p.stats().lastError).toMatch(/does not converge/);
    expect(patches).toBeLessThanOrEqual(8);
  });

  it('keeps backing off, further each time, while the server keeps differing (every pass, not only the first)', async () => {
    // The same frozen server; each backoff is fired by hand. A new pass (a watch event, a retry) must
    // not start the count of writes over: after the first three it writes nothing more until the
    // node matches, and every retry waits longer than the one before.
    const real = createNodeApi(server.kubeConfig());
    const frozen = server.node(NODE);
    let patches = 0;
    const api = { ...real, patchNode: async () => (patches++, frozen), patchStatus: async () => (patches++, frozen) };
    clock.holdAtLeastMs = 1;
    const p = publisher({ api });
    p.publish(report(), checksOk);
    const failures = async (n: number) => {
      await failed(p, n);
      expect(p.stats().failures).toBe(n);
    };
    await failures(1);
    const afterFirst = patches;
    const retryDelays: number[] = [clock.delays.at(-1)!];
    for (let n = 2; n <= 5; n++) {
      clock.fireHeld();
      await failures(n);
      retryDelays.push(clock.delays.at(-1)!);
    }
    expect(patches).toBe(afterFirst);
    for (let i = 1; i < retryDelays.length; i++) expect(retryDelays[i]).toBeGreaterThan(retryDelays[i - 1]!);
  });

  it('another writer undoing ours: at most 12 write passes a minute, then it backs off', async () => {
    // A second writer (a controller, a second bpfready) removes one of our labels after each of our
    // writes. Every pass then converges and the next watch event undoes it.
    const p = publisher();
    p.publish(report(), checksOk);
    await settle(p);
    clock.holdAtLeastMs = 1; // hold every backoff: the count is of passes, not of wall time
    const before = server.count('PATCH node');
    let fights = 0;
    const fight = setInterval(() => {
      const n = server.node(NODE);
      if (n.metadata.labels?.['bpfready.io/map-type.hash'] && fights < 200) {
        fights++;
        server.edit(NODE, (x) => delete x.metadata.labels!['bpfready.io/map-type.hash']);
      }
    }, 5);
    await until('the ceiling on writes', () => (/writes in the last 60 s/.test(p.stats().lastError ?? '') ? true : undefined));
    const patches = p.stats().nodePatches;
    // The other writer has the last word, and our watch has seen it: a pass it started (synchronously,
    // on the event) would have counted its patch before sending it; backing off, none is made.
    await until('the other writer to undo us', () =>
      !server.node(NODE).metadata.labels?.['bpfready.io/map-type.hash'] ? true : undefined,
    );
    await until('our watch to see it', () =>
      Number(p.stats().watchedResourceVersion) >= Number(server.node(NODE).metadata.resourceVersion) ? true : undefined,
    );
    clearInterval(fight);
    expect(p.stats().nodePatches).toBe(patches);
    expect(p.stats().lastError).toMatch(/writes in the last 60 s; is another writer/);
    expect(server.count('PATCH node') - before).toBeLessThanOrEqual(12);
  });

  it('waits the jittered start delay before its first request', async () => {
    clock.holdAtLeastMs = 1000;
    const p = publisher({ startJitterSeconds: 30, random: () => 0.25 });
    p.publish(report(), checksOk);
    // The first pass waits on the start timer, which the clock holds: nothing can have gone out.
    expect(clock.delays).toEqual([7500]);
    expect(server.requests).toEqual([]);
    clock.fireHeld();
    await settle(p);
    expect(server.node(NODE).metadata.labels?.['bpfready.io/program-type.xdp']).toBe('true');
  });

  it('resumes the watch from the bookmark resourceVersion', async () => {
    await server.close();
    server = new ApiServerDouble({ bookmarkIntervalMs: 20 });
    await server.start();
    server.addNode(foreignNode(NODE));
    server.addNode(foreignNode('other'));
    const p = publisher();
    p.publish(report(), checksOk);
    await settle(p);
    // Changes to another node move the global resourceVersion; bookmarks carry it to us.
    for (let i = 0; i < 5; i++) server.edit('other', (n) => (n.metadata.labels!['i'] = String(i)));
    const rv = server.resourceVersion;
    await until('a bookmark with the latest resourceVersion', () => (p.stats().watchedResourceVersion === String(rv) ? true : undefined));
    const watches = server.requests.filter((r) => r.watch).length;
    server.closeWatches();
    await until('a watch again', () => (server.requests.filter((r) => r.watch).length > watches ? true : undefined));
    const last = server.requests.filter((r) => r.watch).at(-1);
    expect(new URLSearchParams(last?.query).get('resourceVersion')).toBe(String(rv));
    expect(new URLSearchParams(last?.query).get('fieldSelector')).toBe(`metadata.name=${NODE}`);
  });
});
