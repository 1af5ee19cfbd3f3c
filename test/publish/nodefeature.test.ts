// NodeFeature interop against the double's CRD endpoint: created once, rewritten only on change,
// conflicts retried, Node labels left to nfd-master, and the object owned by its Node (an
// ownerReference with the Node's uid): kept across a DaemonSet restart, gone with the Node.
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { createPublisher, type NodePublisher } from '../../src/publish/index.ts';
import { ApiServerDouble } from './apiserver-double.ts';
import { RecordingClock } from './clock.ts';
import { until as waitFor } from '../e2e/process.ts';
import { checksBad, checksOk, foreignNode, quietLogger, report } from './fixtures.ts';

const PATH = 'nfd.k8s-sigs.io/v1alpha1/bpfready/nodefeatures/bpfready-n1';
let server: ApiServerDouble;
let p: NodePublisher;

const nfdPublisher = (): NodePublisher =>
  createPublisher({
    nodeName: 'n1',
    labelPrefix: 'bpfready.io',
    heartbeatSeconds: 0,
    nfd: true,
    nfdNamespace: 'bpfready',
    logger: quietLogger(),
    kubeConfig: server.kubeConfig(),
    clock: new RecordingClock(),
    random: () => 0.5,
    startJitterSeconds: 0,
  });

beforeEach(async () => {
  server = new ApiServerDouble();
  await server.start();
  server.addNode(foreignNode('n1'));
  p = nfdPublisher();
});
afterEach(async () => {
  await p.close();
  await server.close();
});

/** The shared wait of test/e2e/process.ts, on a condition (what the writer does comes over HTTP). */
const until = (f: () => boolean): Promise<true> => waitFor(f.toString(), () => (f() ? true : undefined));
type NF = {
  metadata: { labels: Record<string, string>; ownerReferences?: Record<string, unknown>[] };
  spec: { features: { attributes: Record<string, { elements: Record<string, string> }> }; labels: Record<string, string> };
};

describe('NodeFeature publishing', () => {
  it('creates the object with our features, writes only on change, keeps Node labels off', async () => {
    p.publish(report(), checksOk);
    await p.whenInSync();
    await until(() => server.customObject(PATH) !== undefined);
    const nf = server.customObject(PATH) as unknown as NF;
    expect(nf.metadata.labels['nfd.node.kubernetes.io/node-name']).toBe('n1');
    expect(nf.spec.features.attributes['bpfready.program_type']?.elements).toMatchObject({ xdp: 'true', lirc_mode2: 'false' });
    expect(nf.spec.features.attributes['bpfready.program_type']?.elements).not.toHaveProperty('lsm');
    expect(nf.spec.features.attributes['bpfready.profile']?.elements).toEqual({ cilium: 'true' });
    expect(nf.spec.labels).toEqual({});
    const node = server.node('n1');
    expect(Object.keys(node.metadata.labels ?? {}).filter((k) => k.startsWith('bpfready.io/') && k !== 'bpfready.io/hand-made')).toEqual(
      [],
    );
    expect(node.status?.conditions?.some((c) => c.type === 'bpfready.io/EBPFReady')).toBe(true);

    const puts = () => server.requests.filter((r) => r.path.includes('nodefeatures') && r.method !== 'GET').length;
    const before = puts();
    // The same facts again, then a change: the writer works in order, so once the change is stored
    // exactly one more write has happened, and the repeat made none.
    p.publish(report(), checksOk);
    // Someone else adds a label to the object: our next replace must start from their version and keep it.
    server.editCustom(
      PATH,
      (o) =>
        ({
          ...o,
          metadata: { ...(o['metadata'] as object), labels: { ...(o['metadata'] as { labels: object }).labels, 'x.example.com/y': 'z' } },
        }) as typeof o,
    );
    p.publish(report(), checksBad);
    await until(
      () => (server.customObject(PATH) as unknown as NF).spec.features.attributes['bpfready.profile']?.elements['cilium'] === 'false',
    );
    expect(puts()).toBe(before + 1);
    expect((server.customObject(PATH) as unknown as NF).metadata.labels['x.example.com/y']).toBe('z');
  });

  it('a restart with the same features writes nothing (the server sorts the keys it hands back)', async () => {
    p.publish(report(), checksOk);
    await until(() => server.customObject(PATH) !== undefined);
    await p.close();
    const writes = () => server.requests.filter((r) => r.path.includes('nodefeatures') && r.method !== 'GET').length;
    const before = writes();
    p = nfdPublisher();
    p.publish(report(), checksOk);
    await until(() => server.requests.filter((r) => r.path.includes('nodefeatures') && r.method === 'GET').length >= 2);
    // A change after the restart's first sync: stored with one write, so that sync made none.
    p.publish(report(), checksBad);
    await until(
      () => (server.customObject(PATH) as unknown as NF).spec.features.attributes['bpfready.profile']?.elements['cilium'] === 'false',
    );
    expect(writes()).toBe(before + 1);
  });

  it('makes the object the Node’s: an ownerReference with its uid, kept across a restart, gone with the Node', async () => {
    p.publish(report(), checksOk);
    await until(() => server.customObject(PATH) !== undefined);
    const uid = server.node('n1').metadata['uid'];
    expect(uid).toMatch(/^[0-9a-f-]{36}$/);
    expect((server.customObject(PATH) as unknown as NF).metadata.ownerReferences).toEqual([
      { apiVersion: 'v1', kind: 'Node', name: 'n1', uid },
    ]);
    // A DaemonSet restart (the pod, its owner in NFD before 0.19, goes away): the object stays.
    await p.close();
    p = nfdPublisher();
    p.publish(report(), checksOk);
    await until(() => server.requests.filter((r) => r.path.includes('nodefeatures') && r.method === 'GET').length >= 2);
    expect(server.customObject(PATH)).toBeDefined();
    // The Node goes: the garbage collector takes the object with it.
    await p.close();
    server.deleteNode('n1');
    expect(server.customObject(PATH)).toBeUndefined();
    p = nfdPublisher();
  });

  it('replaces a reference to an earlier Node of the same name, keeping other owners', async () => {
    p.publish(report(), checksOk);
    await until(() => server.customObject(PATH) !== undefined);
    const other = { apiVersion: 'example.com/v1', kind: 'Inventory', name: 'rack-1', uid: '00000000-0000-0000-0000-000000000001' };
    server.editCustom(
      PATH,
      (o) =>
        ({
          ...o,
          metadata: {
            ...(o['metadata'] as object),
            ownerReferences: [other, { apiVersion: 'v1', kind: 'Node', name: 'n1', uid: 'old-node-uid' }],
          },
        }) as typeof o,
    );
    await p.close();
    p = nfdPublisher();
    p.publish(report(), checksOk);
    const uid = server.node('n1').metadata['uid'];
    await until(() => (server.customObject(PATH) as unknown as NF).metadata.ownerReferences?.some((r) => r['uid'] === uid) === true);
    expect((server.customObject(PATH) as unknown as NF).metadata.ownerReferences).toEqual([
      other,
      { apiVersion: 'v1', kind: 'Node', name: 'n1', uid },
    ]);
  });

  it('the double refuses an ownerReference without a uid, as the API server does', async () => {
    const r = await fetch(`${server.url}/apis/nfd.k8s-sigs.io/v1alpha1/namespaces/bpfready/nodefeatures`, {
      method: 'POST',
      headers: { 'Content-Type': 'application/json' },
      body: JSON.stringify({
        apiVersion: 'nfd.k8s-sigs.io/v1alpha1',
        kind: 'NodeFeature',
        metadata: { name: 'x', ownerReferences: [{ apiVersion: 'v1', kind: 'Node', name: 'n1' }] },
        spec: {},
      }),
    });
    expect(r.status).toBe(422);
    expect(((await r.json()) as { message: string }).message).toMatch(/ownerReferences\[0\]\.uid/);
  });

  it('retries after a conflict on replace', async () => {
    p.publish(report(), checksOk);
    await until(() => server.customObject(PATH) !== undefined);
    server.inject({ kind: 'status', status: 409, method: 'PUT' });
    p.publish(report(), checksBad);
    await until(
      () => (server.customObject(PATH) as unknown as NF).spec.features.attributes['bpfready.profile']?.elements['cilium'] === 'false',
    );
    expect(server.requests.some((r) => r.method === 'PUT' && r.status === 409)).toBe(true);
  });
});
