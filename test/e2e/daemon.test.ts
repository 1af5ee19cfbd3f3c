// `bpfready daemon` end to end: the real binary and engine, publishing to the API-server double of
// test/kube (a real HTTP server speaking the Kubernetes wire protocol; see docs/kubernetes.md for
// what it models). Checks the serve/daemon shared path: same endpoints, plus our labels and
// conditions on the Node, foreign state untouched, and a clean SIGTERM.
import { spawn } from 'node:child_process';
import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { ApiServerDouble } from '../kube/apiserver-double.ts';
import { foreignNode } from '../kube/fixtures.ts';

const BIN = join(import.meta.dirname, '../../bin/bpfready');
const NODE = 'node-e2e';
const isRoot = process.geteuid?.() === 0;
if (!isRoot) console.warn('skipping test/e2e/daemon.test.ts: probing the kernel needs root (CI runs as root)');

async function until<T>(what: string, fn: () => Promise<T | undefined> | T | undefined, ms = 40_000): Promise<T> {
  const end = Date.now() + ms;
  for (;;) {
    const v = await fn();
    if (v !== undefined) return v;
    if (Date.now() > end) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 100));
  }
}

describe.skipIf(!isRoot)('bpfready daemon', () => {
  let api: ApiServerDouble;
  let url = '';
  let exited: Promise<number | null>;
  let child: ReturnType<typeof spawn>;
  const logs: Record<string, unknown>[] = [];

  beforeAll(async () => {
    api = new ApiServerDouble();
    await api.start();
    api.addNode(foreignNode(NODE));
    const dir = mkdtempSync(join(tmpdir(), 'bpfready-kube-'));
    const kubeconfig = join(dir, 'kubeconfig');
    writeFileSync(kubeconfig, api.kubeConfig().exportConfig());
    child = spawn(BIN, ['daemon', '--listen', '127.0.0.1:0', '--probe-interval', '1h'], {
      stdio: ['ignore', 'pipe', 'inherit'],
      env: { ...process.env, KUBECONFIG: kubeconfig, NODE_NAME: NODE },
    });
    exited = new Promise((r) => child.on('exit', (code) => r(code)));
    let buf = '';
    child.stdout?.on('data', (d: Buffer) => {
      buf += d.toString();
      let nl: number;
      while ((nl = buf.indexOf('\n')) >= 0) {
        const rec = JSON.parse(buf.slice(0, nl)) as Record<string, unknown>;
        buf = buf.slice(nl + 1);
        logs.push(rec);
        if (rec['msg'] === 'serving') url = String(rec['url']);
      }
    });
    await until('the daemon to listen', () => (url ? true : undefined));
  });
  afterAll(async () => {
    if (child?.exitCode === null) child.kill('SIGKILL');
    await api?.close();
  });

  it('serves the same endpoints as serve', async () => {
    await until('ready', async () => ((await fetch(`${url}/readyz`)).status === 200 ? true : undefined));
    expect((await fetch(`${url}/metrics`)).status).toBe(200);
    expect((await fetch(`${url}/status`)).status).toBe(200);
  });

  it('publishes its labels and conditions to its Node and leaves foreign state alone', async () => {
    // The publisher jitters its first write (up to 10 s) so that a cluster's nodes do not arrive together.
    const node = await until('our labels on the node', () => {
      const n = api.node(NODE);
      return Object.keys(n.metadata.labels ?? {}).some((k) => k.startsWith('bpfready.io/') && k !== 'bpfready.io/hand-made') ? n : undefined;
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
    const doc = (await (await fetch(`${url}/status.json`)).json()) as { checks: { profile: string }[] };
    expect(types.filter((t) => t.startsWith('bpfready.io/')).length).toBe(doc.checks.length + 1);
  });

  it('SIGTERM closes the publisher and the server, exit 0', async () => {
    child.kill('SIGTERM');
    expect(await exited).toBe(0);
    expect(logs.some((l) => l['msg'] === 'stopped')).toBe(true);
  });
});
