// `bpfready nodes` against the API-server double (a real API server cannot run here; the double
// speaks its wire protocol: ConfigMap create/replace with the 1 MiB limit, LIST with label selectors
// and limit/continue). Nodes are published from real reports (fixtures/reports/: this VM's 6.18 and
// Debian's 6.1 kernels from qemu) through the real client, as the daemon's writer does; the CLI runs
// as a user runs it, with a kubeconfig.
import { spawn } from 'node:child_process';
import { mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { gunzipSync } from 'node:zlib';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { NodesDocument } from '../../src/commands/nodes.ts';
import { createConfigMapApi } from '../../src/publish/client.ts';
import { NODE_ANNOTATION, nodeObjectName } from '../../src/publish/reports.ts';
import { publishReports, reportObjects } from './reports-seed.ts';
import type { ProbeReport } from '../../src/contract/report.ts';
import { NAMED_REPORTS_DIR } from '../../src/requirements/reports.ts';
import { ApiServerDouble } from './apiserver-double.ts';

const BIN = resolve(import.meta.dirname, '../../bin/kubectl-bpfready');
const OPENSNOOP = resolve(import.meta.dirname, '../corpus/libbpf-tools/opensnoop.bpf.o');
const NS = 'bpfready';
const named = (n: string): ProbeReport =>
  JSON.parse(gunzipSync(readFileSync(join(NAMED_REPORTS_DIR, `${n}.json.gz`))).toString('utf8')) as ProbeReport;
const REPORTS: Record<string, ProbeReport> = {
  'node-vm': named('6.18.44-fc-v1147'),
  'node-debian': named('debian-6.1.0-57-amd64'),
  'node-cloud': named('debian-6.1.0-57-cloud-amd64'),
};
const dir = mkdtempSync(join(tmpdir(), 'bpfready-nodes-'));

function kubeconfig(server: ApiServerDouble): string {
  const file = join(dir, `kubeconfig-${server.url.split(':').at(-1)}`);
  writeFileSync(
    file,
    JSON.stringify({
      apiVersion: 'v1',
      kind: 'Config',
      'current-context': 'double',
      clusters: [{ name: 'double', cluster: { server: server.url, 'insecure-skip-tls-verify': true } }],
      users: [{ name: 'u', user: { token: 't' } }],
      contexts: [{ name: 'double', context: { cluster: 'double', user: 'u', namespace: NS } }],
    }),
  );
  return file;
}

function nodes(server: ApiServerDouble, ...args: string[]): Promise<{ code: number | null; stdout: string; stderr: string; ms: number }> {
  const t0 = performance.now();
  return new Promise((res) => {
    const c = spawn(BIN, ['nodes', ...args], { env: { ...process.env, KUBECONFIG: kubeconfig(server) } });
    let stdout = '';
    let stderr = '';
    c.stdout.on('data', (d: Buffer) => (stdout += d.toString()));
    c.stderr.on('data', (d: Buffer) => (stderr += d.toString()));
    c.on('exit', (code) => res({ code, stdout, stderr, ms: performance.now() - t0 }));
  });
}

describe('bpfready nodes', () => {
  const server = new ApiServerDouble();
  beforeAll(async () => {
    await server.start();
    const api = createConfigMapApi(server.kubeConfig(), NS);
    for (const [name, report] of Object.entries(REPORTS)) {
      const o = reportObjects(report, { name, uid: `uid-${name}` });
      await publishReports(api, [...o.kernel, o.node]);
    }
    // A node whose daemon published no kernel view.
    const { kernelView: _k, ...plain } = REPORTS['node-debian']!;
    await publishReports(api, [reportObjects(plain as ProbeReport, { name: 'node-old', uid: 'uid-old' }).node]);
  });
  afterAll(() => server.close());

  it('every object stays under the ConfigMap limit; builds are stored once, whatever the number of nodes', () => {
    const sizes = Object.entries(REPORTS).map(([n, r]) => {
      const o = reportObjects(r, { name: n, uid: 'u' });
      const size = (x: { binaryData?: Record<string, string> }) =>
        Object.values(x.binaryData ?? {}).reduce((s, v) => s + Buffer.from(v, 'base64').length, 0);
      return { n, node: size(o.node), kernel: o.kernel.map(size) };
    });
    console.info(`published bytes per node report and kernel-view part: ${JSON.stringify(sizes)}`);
    for (const s of sizes) {
      expect(s.node).toBeLessThan(64 << 10);
      for (const k of s.kernel) expect(k).toBeLessThanOrEqual(768 << 10);
    }
  });

  it('per node: ready, or the unmet requirements with remediation; without a kernel view, unknown', async () => {
    const r = await nodes(server, '--elf', OPENSNOOP, '--json');
    expect(r.stderr).toBe('');
    expect(r.code).toBe(1);
    const d = JSON.parse(r.stdout) as NodesDocument;
    const by = Object.fromEntries(d.nodes.map((n) => [n.node, n]));
    expect(Object.keys(by).sort()).toEqual(['node-cloud', 'node-debian', 'node-old', 'node-vm']);
    expect(by['node-debian']!.ready).toBe(true);
    expect(by['node-cloud']!.ready).toBe(true);
    const vm = by['node-vm'] as NodesDocument['nodes'][number] & { unmet: { id: string; remediation: string[] }[] };
    expect(vm.ready).toBe(false);
    expect(vm.unmet.map((u) => u.id)).toEqual(['feature:tracefs']);
    expect(vm.unmet[0]!.remediation[0]).toMatch(/mount -t tracefs/);
    const old = by['node-old'] as NodesDocument['nodes'][number] & { unmet: { detail?: string }[] };
    expect(old.ready).toBe(false);
    expect(old.unmet.every((u) => /^unknown \(report lacks kernel view\)/.test(u.detail ?? ''))).toBe(true);
    const text = await nodes(server, '--elf', OPENSNOOP);
    expect(text.stdout).toMatch(/^bpfready nodes: 2 of 4 nodes ready/);
    expect(text.stdout).toMatch(/✗ node-vm \(6\.18\.44-fc-v1147\): 1 unmet\n {4}✗ feature:tracefs/);
  });

  it('a cluster without bpfready objects, an unknown profile: one line, exit 2, nothing on stdout', async () => {
    const empty = new ApiServerDouble();
    await empty.start();
    try {
      const r = await nodes(empty, '--elf', OPENSNOOP);
      expect({ code: r.code, stdout: r.stdout }).toEqual({ code: 2, stdout: '' });
      expect(r.stderr.trim().split('\n')).toEqual([
        `bpfready nodes: namespace ${NS} has no bpfready node reports (app.kubernetes.io/managed-by=bpfready,bpfready.io/object): is the daemon installed there (--namespace)?`,
      ]);
      const p = await nodes(empty, '--profile', 'nope');
      expect({ code: p.code, stdout: p.stdout, stderr: p.stderr.trim() }).toEqual({
        code: 2,
        stdout: '',
        stderr: 'bpfready nodes: unknown profile "nope" (built in: cilium, falco-modern-ebpf)',
      });
      // The object is read as `check` reads it (src/commands/selection.ts): a device is refused, not read.
      const before = empty.requests.length;
      const dev = await nodes(empty, '--elf', '/dev/zero');
      expect({ code: dev.code, stdout: dev.stdout, stderr: dev.stderr.trim() }).toEqual({
        code: 2,
        stdout: '',
        stderr: 'bpfready nodes: /dev/zero: cannot read: not a regular file',
      });
      expect(empty.requests.length).toBe(before);
      expect(empty.writes).toBe(0);
    } finally {
      await empty.close();
    }
  });

  it('a refused LIST (no RBAC to read the reports): one line naming the namespace and the refusal, exit 2', async () => {
    const locked = new ApiServerDouble();
    await locked.start();
    locked.rbac = {
      user: 'jane',
      clusterRules: [],
      namespaceRules: { [NS]: [{ apiGroups: [''], resources: ['configmaps'], verbs: ['get'] }] },
    };
    try {
      const r = await nodes(locked, '--elf', OPENSNOOP);
      expect({ code: r.code, stdout: r.stdout }).toEqual({ code: 2, stdout: '' });
      expect(r.stderr).toMatch(
        /^bpfready nodes: listing ConfigMaps in namespace bpfready failed: LIST configmaps in bpfready: HTTP 403: configmaps is forbidden: User "jane" cannot list resource "configmaps" in API group "" in the namespace "bpfready"\n$/,
      );
    } finally {
      await locked.close();
    }
  });

  const NODES = 5000;
  it(`${NODES} nodes: one paginated LIST (pages of 500), every node judged as its kernel is`, async () => {
    const big = new ApiServerDouble();
    await big.start();
    big.recordRequests = true;
    try {
      const names = Object.keys(REPORTS);
      // Each source report's objects are made once (brotli of a kernel view takes a second); a
      // simulated node is its source's node object under the node's own name.
      const made = names.map((n) => reportObjects(REPORTS[n]!, { name: n, uid: 'u' }));
      const kernels = made.flatMap((o) => o.kernel);
      for (const k of kernels) big.seed(`/v1/${NS}/configmaps`, k as never);
      for (let i = 0; i < NODES; i++) {
        const src = names[i % names.length]!;
        const node = `node-${String(i).padStart(4, '0')}-${src}`;
        const o = structuredClone(made[i % names.length]!.node);
        o.metadata.name = nodeObjectName(node);
        o.metadata.annotations[NODE_ANNOTATION] = node;
        o.metadata.ownerReferences = [{ apiVersion: 'v1', kind: 'Node', name: node, uid: `u${i}` }];
        big.seed(`/v1/${NS}/configmaps`, o as never);
      }
      const before = big.requests.length;
      const r = await nodes(big, '--elf', OPENSNOOP, '--json');
      const lists = big.requests.slice(before).filter((q) => q.method === 'GET' && q.path.endsWith('/configmaps'));
      expect(r.code).toBe(1);
      const d = JSON.parse(r.stdout) as NodesDocument;
      expect(d.nodes).toHaveLength(NODES);
      expect(d.nodes.filter((n) => n.ready)).toHaveLength(Math.floor(NODES / 3) * 2 + (NODES % 3 >= 2 ? 1 : 0));
      expect(d.nodes.every((n) => n.ready === !n.node.endsWith('-node-vm'))).toBe(true);
      expect(lists.length).toBe(Math.ceil((NODES + kernels.length) / 500));
      expect(d.requests).toBe(lists.length);
      console.info(
        `bpfready nodes, ${NODES} simulated nodes (${kernels.length} kernel-view objects): ${lists.length} LIST requests, ${(r.ms / 1000).toFixed(1)} s wall for the whole command`,
      );
    } finally {
      await big.close();
    }
  }, 300_000);
});
