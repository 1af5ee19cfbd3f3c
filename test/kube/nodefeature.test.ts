// NodeFeature interop against the double's CRD endpoint: created once, rewritten only on change,
// conflicts retried, and Node labels left to nfd-master.
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { createPublisher, type Publisher } from '../../src/publish/index.ts';
import { ApiServerDouble } from './apiserver-double.ts';
import { RecordingClock } from './clock.ts';
import { checksBad, checksOk, foreignNode, quietLogger, report } from './fixtures.ts';

const PATH = 'nfd.k8s-sigs.io/v1alpha1/bpfready/nodefeatures/bpfready-n1';
let server: ApiServerDouble;
let p: Publisher;

const nfdPublisher = (): Publisher =>
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

const until = async (f: () => boolean): Promise<void> => {
  for (let i = 0; i < 200 && !f(); i++) await new Promise((r) => setTimeout(r, 10));
  expect(f()).toBe(true);
};
type NF = { metadata: { labels: Record<string, string> }; spec: { features: { attributes: Record<string, { elements: Record<string, string> }> }; labels: Record<string, string> } };

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
    expect(Object.keys(node.metadata.labels ?? {}).filter((k) => k.startsWith('bpfready.io/') && k !== 'bpfready.io/hand-made')).toEqual([]);
    expect(node.status?.conditions?.some((c) => c.type === 'bpfready.io/EBPFReady')).toBe(true);

    const puts = () => server.requests.filter((r) => r.path.includes('nodefeatures') && r.method !== 'GET').length;
    const before = puts();
    p.publish(report(), checksOk);
    await new Promise((r) => setTimeout(r, 100));
    expect(puts()).toBe(before);

    // Someone else adds a label to the object: our next replace must start from their version and keep it.
    server.editCustom(PATH, (o) => ({ ...o, metadata: { ...(o['metadata'] as object), labels: { ...((o['metadata'] as { labels: object }).labels), 'x.example.com/y': 'z' } } }) as typeof o);
    p.publish(report(), checksBad);
    await until(() => (server.customObject(PATH) as unknown as NF).spec.features.attributes['bpfready.profile']?.elements['cilium'] === 'false');
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
    await new Promise((r) => setTimeout(r, 100));
    expect(writes()).toBe(before);
  });

  it('retries after a conflict on replace', async () => {
    p.publish(report(), checksOk);
    await until(() => server.customObject(PATH) !== undefined);
    server.inject({ kind: 'status', status: 409, method: 'PUT' });
    p.publish(report(), checksBad);
    await until(() => (server.customObject(PATH) as unknown as NF).spec.features.attributes['bpfready.profile']?.elements['cilium'] === 'false');
    expect(server.requests.some((r) => r.method === 'PUT' && r.status === 409)).toBe(true);
  });
});
