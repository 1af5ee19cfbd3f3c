// `bpfready daemon` end to end: the real binary and engine, publishing to the API-server double of
// test/publish (a real HTTP server speaking the Kubernetes wire protocol; see docs/kubernetes.md for
// what it models). Checks the serve/daemon shared path: same endpoints, plus our labels and
// conditions on the Node, foreign state untouched, and a clean SIGTERM.
import { spawn } from 'node:child_process';
import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { ApiServerDouble } from '../publish/apiserver-double.ts';
import { foreignNode } from '../publish/fixtures.ts';
import { BIN, start, until, type Running } from './process.ts';
import { rootOnly } from '../helpers/root.ts';

const NODE = 'node-e2e';
const isRoot = !rootOnly('test/e2e/daemon.test.ts (probing the kernel)');

describe.skipIf(!isRoot)('bpfready daemon', () => {
  let api: ApiServerDouble;
  let d: Running;
  let kubeconfig: string;

  beforeAll(async () => {
    api = new ApiServerDouble();
    await api.start();
    api.addNode(foreignNode(NODE));
    const dir = mkdtempSync(join(tmpdir(), 'bpfready-kube-'));
    kubeconfig = join(dir, 'kubeconfig');
    writeFileSync(kubeconfig, api.kubeConfig().exportConfig());
    d = await start('daemon', ['--probe-interval', '1h'], { ...process.env, KUBECONFIG: kubeconfig, NODE_NAME: NODE });
  });
  afterAll(async () => {
    if (d?.child.exitCode === null) d.child.kill('SIGKILL');
    await api?.close();
  });

  it('serves the same endpoints as serve', async () => {
    await until('ready', async () => ((await fetch(`${d.url}/readyz`)).status === 200 ? true : undefined));
    expect((await fetch(`${d.url}/metrics`)).status).toBe(200);
    expect((await fetch(`${d.url}/status`)).status).toBe(200);
  });

  it('publishes its labels and conditions to its Node and leaves foreign state alone', async () => {
    // The publisher jitters its first write (up to 10 s) so that a cluster's nodes do not arrive together.
    const node = await until('our labels on the node', () => {
      const n = api.node(NODE);
      return Object.keys(n.metadata.labels ?? {}).some((k) => k.startsWith('bpfready.io/') && k !== 'bpfready.io/hand-made')
        ? n
        : undefined;
    });
    const labels = node.metadata.labels ?? {};
    expect(labels['team.example.com/owner']).toBe('infra');
    expect(labels['kubernetes.io/hostname']).toBe(NODE);
    expect(node.metadata.annotations?.['example.com/note']).toBe('keep me');
    expect(node.spec?.taints).toEqual([{ key: 'example.com/dedicated', value: 'gpu', effect: 'NoSchedule' }]);
    const withConditions = await until('our conditions', () => {
      const n = api.node(NODE);
      return n.status?.conditions?.some((c) => c.type === 'bpfready.io/EBPFReady') ? n : undefined;
    });
    const types = (withConditions.status?.conditions ?? []).map((c) => c.type);
    expect(types).toContain('Ready');
    expect(types).toContain('example.com/GpuHealthy');
    // One condition per checked profile, plus the summary.
    const doc = (await (await fetch(`${d.url}/status.json`)).json()) as { checks: { profile: string }[] };
    expect(types.filter((t) => t.startsWith('bpfready.io/')).length).toBe(doc.checks.length + 1);
  });

  it('publishes its report: bpfready nodes judges this node as check judges it here', async () => {
    const OBJ = join(import.meta.dirname, '../corpus/libbpf-tools/opensnoop.bpf.o');
    // The report and, once per build, the kernel view (collected from this kernel) as ConfigMaps.
    await until(
      'our node report',
      () => api.objects('/v1/default/configmaps').find((o) => (o['metadata'] as { name: string }).name === `bpfready-node-${NODE}`),
      60_000,
    );
    await until(
      'the kernel view index',
      () =>
        api
          .objects('/v1/default/configmaps')
          .find((o) => (o['metadata'] as { labels: Record<string, string> }).labels['bpfready.io/object'] === 'kernel-index'),
      60_000,
    );
    // Not spawnSync: the API-server double answers from this process's event loop.
    const run = (args: string[]): Promise<{ status: number | null; stdout: string; stderr: string }> =>
      new Promise((resolve) => {
        const c = spawn(BIN, args, { env: { ...process.env, KUBECONFIG: kubeconfig } });
        let stdout = '';
        let stderr = '';
        c.stdout.on('data', (b: Buffer) => (stdout += b.toString()));
        c.stderr.on('data', (b: Buffer) => (stderr += b.toString()));
        c.on('close', (status) => resolve({ status, stdout, stderr }));
      });
    const nodes = await run(['nodes', '--elf', OBJ, '--json', '--namespace', 'default']);
    expect(nodes.stderr).toBe('');
    const doc = JSON.parse(nodes.stdout) as { nodes: { node: string; ready: boolean; unmet?: { id: string }[] }[] };
    const here = JSON.parse((await run(['check', '--elf', OBJ, '--json'])).stdout) as { ok: boolean; unmet: { id: string }[] };
    expect(doc.nodes.map((n) => n.node)).toEqual([NODE]);
    expect({ ready: doc.nodes[0]!.ready, unmet: (doc.nodes[0]!.unmet ?? []).map((u) => u.id).sort() }).toEqual({
      ready: here.ok,
      unmet: here.unmet.map((u) => u.id).sort(),
    });
    expect(nodes.status).toBe(here.ok ? 0 : 1);
  });

  it('SIGTERM closes the publisher and the server, exit 0', async () => {
    d.child.kill('SIGTERM');
    expect(await d.exited).toBe(0);
    expect(d.logs.some((l) => l['msg'] === 'stopped')).toBe(true);
  });
});
