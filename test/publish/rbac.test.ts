// The chart's RBAC, sufficient and minimal: the ClusterRoles real `helm template` renders for the
// daemon and for the uninstall hook are enforced by the API-server double (403 with the API
// server's Status for anything they do not grant); the daemon's publisher and prune --all-nodes
// run against it. With the chart's rules they do their work with no 403; with any one verb taken
// away they meet a 403, so no verb is there that the code does not use.
import { afterEach, describe, expect, it, vi } from 'vitest';
import { isHook, render } from '../../scripts/chart.ts';
import { createNodeApi } from '../../src/publish/client.ts';
import { createPublisher } from '../../src/publish/index.ts';
import { pruneAllNodes } from '../../src/publish/prune.ts';
import { helmSkip } from '../deploy/k8s.ts';
import { ApiServerDouble, forbiddenMessage, type PolicyRule, requestAttributes } from './apiserver-double.ts';
import { RecordingClock } from './clock.ts';
import { checksBad, foreignNode, quietLogger, report } from './fixtures.ts';

const skip = helmSkip();
const TAINT = { key: 'bpfready.io/not-ready', effect: 'NoSchedule' } as const;
const rendered = skip ? [] : render({ values: [{ config: { kubernetes: { taint: true } } }] });
const clusterRole = (hook: boolean): PolicyRule[] =>
  rendered.find(
    (d) =>
      d.doc['kind'] === 'ClusterRole' && isHook(d.doc) === hook && !/test/.test(d.doc['metadata']['annotations']?.['helm.sh/hook'] ?? ''),
  )?.doc['rules'] ?? [];
const DAEMON = clusterRole(false);
const PRUNE = clusterRole(true);

/** The rules less one verb of one rule: every (rule, verb) pair. */
const lessOne = (rules: PolicyRule[]): { what: string; rules: PolicyRule[] }[] =>
  rules.flatMap((r, i) =>
    r.verbs.map((v) => ({
      what: `${v} on ${r.resources!.join(',')}`,
      rules: rules.map((x, j) => (j === i ? { ...x, verbs: x.verbs.filter((y) => y !== v) } : x)),
    })),
  );

let server: ApiServerDouble | undefined;
afterEach(async () => {
  await server?.close();
  server = undefined;
});

/** The daemon's publisher on node-a under `rules`, until it has written and started its watch. */
async function runDaemon(rules: PolicyRule[]): Promise<ApiServerDouble> {
  server = new ApiServerDouble();
  await server.start();
  server.addNode(foreignNode('node-a'));
  server.rbac = { user: 'system:serviceaccount:bpfready:bpfready', clusterRules: rules };
  // A write whose outcome is unknown (500) makes the daemon read its node again: the GET path too.
  server.inject({ kind: 'status', status: 500, method: 'PATCH', path: /^\/api\/v1\/nodes\/node-a$/, times: 1 });
  const p = createPublisher({
    nodeName: 'node-a',
    labelPrefix: 'bpfready.io',
    heartbeatSeconds: 0,
    taint: TAINT,
    logger: quietLogger(),
    api: createNodeApi(server.kubeConfig()),
    clock: new RecordingClock(),
    startJitterSeconds: 0,
  });
  const s = server;
  p.publish(report(), checksBad);
  // Done once it has read, patched node and status, and asked for a watch — or met a 403 on the way.
  await vi.waitFor(
    () =>
      expect(
        s.requests.some((r) => r.status === 403) ||
          (s.requests.some((r) => r.watch) &&
            s.requests.some((r) => r.method === 'GET' && !r.watch) &&
            s.requests.some((r) => r.path.endsWith('/status') && r.status === 200)),
      ).toBe(true),
    { timeout: 50_000, interval: 20 },
  );
  await p.close();
  return s;
}

async function runPrune(rules: PolicyRule[]): Promise<ApiServerDouble> {
  server = new ApiServerDouble();
  await server.start();
  for (const n of ['n1', 'n2', 'n3']) {
    server.addNode(foreignNode(n));
    const p = createPublisher({
      nodeName: n,
      labelPrefix: 'bpfready.io',
      heartbeatSeconds: 0,
      taint: TAINT,
      logger: quietLogger(),
      api: createNodeApi(server.kubeConfig()),
      clock: new RecordingClock(),
      startJitterSeconds: 0,
    });
    p.publish(report(), checksBad);
    await p.whenInSync();
    await p.close();
  }
  server.requests.length = 0;
  server.rbac = { user: 'system:serviceaccount:bpfready:bpfready-prune', clusterRules: rules };
  await pruneAllNodes(createNodeApi(server.kubeConfig()), { prefix: 'bpfready.io', pageSize: 2, attempts: 1, sleep: async () => {} });
  return server;
}

describe.skipIf(skip)("the chart's RBAC, enforced by the API-server double", () => {
  it('answers a refused request with the Status the API server sends', async () => {
    const s = await runDaemon([]);
    expect(s.requests.find((x) => x.status === 403)).toBeDefined();
    expect(forbiddenMessage('u', requestAttributes('GET', '/api/v1/nodes/node-a', false)!)).toBe(
      'nodes "node-a" is forbidden: User "u" cannot get resource "nodes" in API group "" at the cluster scope',
    );
    expect(forbiddenMessage('u', requestAttributes('PATCH', '/api/v1/nodes/n1/status', false)!)).toBe(
      'nodes "n1" is forbidden: User "u" cannot patch resource "nodes/status" in API group "" at the cluster scope',
    );
    expect(forbiddenMessage('u', requestAttributes('GET', '/apis/nfd.k8s-sigs.io/v1alpha1/namespaces/ns/nodefeatures', true)!)).toBe(
      'nodefeatures.nfd.k8s-sigs.io is forbidden: User "u" cannot watch resource "nodefeatures" in API group "nfd.k8s-sigs.io" in the namespace "ns"',
    );
  });

  it("lets the daemon publish and watch its node with the chart's ClusterRole, no request refused", async () => {
    expect(DAEMON.length).toBeGreaterThan(0);
    const s = await runDaemon(DAEMON);
    expect(s.requests.filter((r) => r.status === 403)).toEqual([]);
    expect(Object.keys(s.node('node-a').metadata.labels ?? {}).some((k) => k.startsWith('bpfready.io/'))).toBe(true);
    expect(s.node('node-a').status?.conditions?.some((c) => c.type.startsWith('bpfready.io/'))).toBe(true);
  });

  it.each(skip ? [] : lessOne(DAEMON))('refuses the daemon something without $what', async ({ rules }) => {
    const s = await runDaemon(rules);
    expect(s.requests.filter((r) => r.status === 403).length).toBeGreaterThan(0);
  });

  it("lets prune --all-nodes take every node's state off with the hook's ClusterRole, no request refused", async () => {
    const s = await runPrune(PRUNE);
    expect(s.requests.filter((r) => r.status === 403)).toEqual([]);
    for (const n of ['n1', 'n2', 'n3']) expect(s.node(n).metadata.labels, n).toEqual(foreignNode(n).metadata.labels);
  });

  it.each(skip ? [] : lessOne(PRUNE))('refuses prune something without $what', async ({ rules }) => {
    const s = await runPrune(rules);
    expect(s.requests.filter((r) => r.status === 403).length).toBeGreaterThan(0);
  });
});
