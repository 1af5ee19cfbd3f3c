// prune --all-nodes: every node the LIST returns (paged) is pruned, foreign state stays, a flaky node
// is retried, a failing one fails the run without stopping the others — through the library and
// through the real CLI with a KUBECONFIG pointing at the double.
import { execFile } from 'node:child_process';
import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { createNodeApi, type NodeApi } from '../../src/publish/client.ts';
import { createPublisher, type NodePublisher } from '../../src/publish/index.ts';
import { pruneAllNodes, pruneNode } from '../../src/publish/prune.ts';
import { ApiServerDouble } from './apiserver-double.ts';
import { RecordingClock } from './clock.ts';
import { checksBad, foreignNode, quietLogger, report } from './fixtures.ts';
import { until } from '../e2e/process.ts';

const run = promisify(execFile);
const OURS = ['n1', 'n2', 'n3', 'n4', 'n5'];
const CLEAN = 'n0-clean';
const TAINT = { key: 'bpfready.io/not-ready', effect: 'NoSchedule' } as const;
let server: ApiServerDouble;

function publisher(node: string): NodePublisher {
  return createPublisher({
    nodeName: node,
    labelPrefix: 'bpfready.io',
    heartbeatSeconds: 0,
    taint: TAINT,
    logger: quietLogger(),
    api: createNodeApi(server.kubeConfig()),
    clock: new RecordingClock(),
    startJitterSeconds: 0,
  });
}

beforeEach(async () => {
  server = new ApiServerDouble();
  await server.start();
  server.addNode(foreignNode(CLEAN));
  for (const n of OURS) {
    server.addNode(foreignNode(n));
    const p = publisher(n);
    p.publish(report(), checksBad);
    await p.whenInSync();
    await p.close();
    expect(server.node(n).spec?.taints?.some((t) => t.key === TAINT.key)).toBe(true);
  }
});
afterEach(() => server.close());

const expectOnlyForeign = (name: string): void => {
  const n = server.node(name);
  const f = foreignNode(name);
  expect(n.metadata.labels, name).toEqual(f.metadata.labels);
  expect(n.metadata.annotations, name).toEqual(f.metadata.annotations);
  expect(n.spec?.taints, name).toEqual(f.spec?.taints);
  expect(n.status?.conditions, name).toEqual(f.status?.conditions);
};

function kubeconfigFile(): string {
  const path = join(mkdtempSync(join(tmpdir(), 'bpfready-prune-all-')), 'kubeconfig');
  writeFileSync(path, server.kubeConfig().exportConfig());
  return path;
}

const cli = (args: string[]): Promise<{ code: number; stdout: string; stderr: string }> =>
  run('bin/bpfready', ['prune', ...args], { env: { ...process.env, KUBECONFIG: kubeconfigFile(), NODE_NAME: '' } }).then(
    (r) => ({ code: 0, ...r }),
    (e: { code: number; stdout: string; stderr: string }) => ({ code: e.code, stdout: e.stdout, stderr: e.stderr }),
  );

describe('pruneAllNodes', () => {
  it('pages through the LIST and leaves only foreign state on every node; a clean node gets no write', async () => {
    const cleanRv = server.node(CLEAN).metadata.resourceVersion;
    const r = await pruneAllNodes(createNodeApi(server.kubeConfig()), { prefix: 'bpfready.io', pageSize: 2 });
    expect(r.listError).toBeUndefined();
    expect(r.nodes.map((o) => o.node).sort()).toEqual([CLEAN, ...OURS].sort());
    for (const n of OURS) expectOnlyForeign(n);
    expect(server.node(CLEAN).metadata.resourceVersion).toBe(cleanRv);
    expect(r.nodes.find((o) => o.node === CLEAN)?.result).toEqual({ labels: [], annotation: false, conditions: [], taints: [] });
    const lists = server.requests.filter((q) => q.method === 'GET' && q.path === '/api/v1/nodes' && !q.watch);
    expect(lists).toHaveLength(3); // 6 nodes, 2 a page
    expect(lists.map((q) => new URLSearchParams(q.query).has('continue'))).toEqual([false, true, true]);
    const writes = server.writes;
    const again = await pruneAllNodes(createNodeApi(server.kubeConfig()), { prefix: 'bpfready.io', pageSize: 2 });
    expect(again.nodes.every((o) => o.result?.labels.length === 0 && !o.result.annotation)).toBe(true);
    expect(server.writes).toBe(writes);
  });

  it('keeps at most `concurrency` nodes in flight', async () => {
    const real = createNodeApi(server.kubeConfig());
    let inFlight = 0;
    let peak = 0;
    const track =
      <A extends unknown[], T>(f: (...a: A) => Promise<T>) =>
      async (...a: A): Promise<T> => {
        peak = Math.max(peak, ++inFlight);
        try {
          return await f(...a);
        } finally {
          inFlight--;
        }
      };
    const api: NodeApi = { ...real, read: track(real.read) };
    await pruneAllNodes(api, { prefix: 'bpfready.io', concurrency: 2 });
    expect(peak).toBe(2);
    for (const n of OURS) expectOnlyForeign(n);
  });

  it('a node that keeps answering 500 is reported, the others are still pruned', async () => {
    server.inject({ kind: 'status', status: 500, method: 'PATCH', path: /\/n3$/, times: 1000 });
    const sleeps: number[] = [];
    const r = await pruneAllNodes(createNodeApi(server.kubeConfig()), {
      prefix: 'bpfready.io',
      attempts: 4,
      sleep: async (ms) => void sleeps.push(ms),
    });
    expect(r.nodes.find((o) => o.node === 'n3')?.error).toMatch(/PATCH node n3: HTTP 500/);
    expect(sleeps).toEqual([200, 400, 800]);
    for (const n of OURS.filter((x) => x !== 'n3')) expectOnlyForeign(n);
  });

  it('a LIST that fails for good is reported, not thrown', async () => {
    server.inject({ kind: 'status', status: 403, method: 'GET', path: /^\/api\/v1\/nodes$/ });
    const r = await pruneAllNodes(createNodeApi(server.kubeConfig()), { prefix: 'bpfready.io' });
    expect(r.nodes).toEqual([]);
    expect(r.listError).toMatch(/LIST nodes: HTTP 403/);
  });

  // Why the chart's hook runs after the DaemonSet is gone (post-delete), not before: a running
  // daemon watches its node and puts back what prune took off.
  it('a daemon still running on the node re-publishes what prune removed', async () => {
    const p = publisher('n1');
    try {
      p.publish(report(), checksBad);
      await p.whenInSync();
      await pruneNode(createNodeApi(server.kubeConfig()), 'n1', { prefix: 'bpfready.io', taintKeys: [TAINT.key] });
      await until('the taint on n1', () => (server.node('n1').spec?.taints?.some((t) => t.key === TAINT.key) ? true : undefined));
      expect(server.node('n1').spec?.taints?.some((t) => t.key === TAINT.key)).toBe(true);
    } finally {
      await p.close();
    }
  });
});

describe('bpfready prune --all-nodes (CLI)', () => {
  it('prunes every node, retrying one whose patch fails twice, and prints a line per node and a total', async () => {
    server.inject({ kind: 'status', status: 500, method: 'PATCH', path: /\/n2$/, times: 2 });
    const r = await cli(['--all-nodes']);
    expect(r.stderr).toBe('');
    expect(r.code).toBe(0);
    for (const n of OURS)
      expect(r.stdout).toMatch(
        new RegExp(
          `^node ${n}: removed \\d+ label\\(s\\), the ownership annotation, 2 condition\\(s\\).*1 taint\\(s\\) \\[bpfready.io/not-ready\\]$`,
          'm',
        ),
      );
    expect(r.stdout).toMatch(new RegExp(`^node ${CLEAN}: removed 0 label\\(s\\), no annotation`, 'm'));
    expect(r.stdout).toMatch(/^total: 6 node\(s\), 5 pruned, 1 already clean, 0 failed$/m);
    expect(server.requests.filter((q) => q.method === 'PATCH' && q.path === '/api/v1/nodes/n2' && q.status === 500)).toHaveLength(2);
    for (const n of OURS) expectOnlyForeign(n);
    const again = await cli(['--all-nodes']);
    expect(again.code).toBe(0);
    expect(again.stdout).toMatch(/^total: 6 node\(s\), 0 pruned, 6 already clean, 0 failed$/m);
  });

  it('exits 1 when a node keeps failing, with every other node cleaned', async () => {
    // A refusal (as an admission policy would answer) is not retried, so this stays fast.
    server.inject({ kind: 'status', status: 403, method: 'PATCH', path: /\/n4$/, times: 1000 });
    const r = await cli(['--all-nodes']);
    expect(r.code).toBe(1);
    expect(r.stdout).toMatch(/^node n4: FAILED: PATCH node n4: HTTP 403/m);
    expect(r.stdout).toMatch(/^total: 6 node\(s\), 4 pruned, 1 already clean, 1 failed$/m);
    for (const n of OURS.filter((x) => x !== 'n4')) expectOnlyForeign(n);
    expect(server.node('n4').metadata.annotations?.['bpfready.io/owned-labels']).toBeDefined();
  });

  it('--all-nodes with --node-name is a usage error (exit 2, no stack, nothing written)', async () => {
    const writes = server.writes;
    const r = await cli(['--all-nodes', '--node-name', 'n1']);
    expect(r.code).toBe(2);
    expect(r.stderr).toMatch(/--all-nodes and --node-name/);
    expect(r.stderr).not.toMatch(/\n\s+at /);
    expect(server.writes).toBe(writes);
  });
});
