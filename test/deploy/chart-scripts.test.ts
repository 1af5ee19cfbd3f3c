// The two scripts the chart runs in pods, taken from the rendered manifests and run with the pods'
// env against the API-server double (test/publish/apiserver-double.ts; no API server can run here):
// `helm test` (files/helm-test.mjs) on node state the real publisher wrote, and the DaemonSet's
// wait-for-policy init container (files/wait-for-policy.mjs). What a real API server would add —
// the admission policy's own refusal — is injected as the Status it sends.
import { spawn } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, afterEach, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import { isHook, render } from '../../scripts/chart.ts';
import { createPublisher, type NodePublisher } from '../../src/publish/index.ts';
import { ApiServerDouble } from '../publish/apiserver-double.ts';
import { RecordingClock } from '../publish/clock.ts';
import { checksOk, foreignNode, quietLogger, report } from '../publish/fixtures.ts';
import { until as waitFor } from '../e2e/process.ts';
import { helmSkip } from './k8s.ts';

type Obj = Record<string, any>;
const skip = helmSkip();
const docs = skip ? [] : render();
const testPod = docs.find((d) => d.doc['kind'] === 'Pod' && isHook(d.doc))?.doc as Obj;
const initContainer = (docs.find((d) => d.doc['kind'] === 'DaemonSet')?.doc as Obj)?.['spec']['template']['spec'][
  'initContainers'
][0] as Obj;
const envOf = (c: Obj): Record<string, string> =>
  Object.fromEntries((c['env'] as Obj[]).filter((e) => e['value'] !== undefined).map((e) => [e['name'], e['value']]));

let dir = '';
let server: ApiServerDouble;
beforeAll(() => {
  dir = mkdtempSync(join(tmpdir(), 'bpfready-chart-scripts-'));
  writeFileSync(join(dir, 'token'), 'double-token\n');
});
afterAll(() => rmSync(dir, { recursive: true, force: true }));
beforeEach(async () => {
  server = new ApiServerDouble();
  await server.start();
});
afterEach(async () => {
  await server.close();
});

/** Runs a container's `node --input-type=module --eval <script>` with its env plus `env`. */
function run(
  c: Obj,
  env: Record<string, string>,
): { exited: Promise<{ code: number | null; stdout: string; stderr: string }>; kill: () => void } {
  expect(c['command']).toEqual(['node', '--input-type=module', '--eval']);
  const full: Record<string, string> = { ...envOf(c), ...env, PATH: process.env['PATH'] ?? '' };
  // The cluster CA file exists only in a pod; the double speaks plain HTTP.
  expect(full['NODE_EXTRA_CA_CERTS']).toBe('/var/run/secrets/kubernetes.io/serviceaccount/ca.crt');
  delete full['NODE_EXTRA_CA_CERTS'];
  const child = spawn(process.execPath, ['--input-type=module', '--eval', c['args'][0]], { env: full, stdio: ['ignore', 'pipe', 'pipe'] });
  let stdout = '';
  let stderr = '';
  child.stdout.on('data', (b: Buffer) => (stdout += b));
  child.stderr.on('data', (b: Buffer) => (stderr += b));
  return { exited: new Promise((resolve) => child.on('exit', (code) => resolve({ code, stdout, stderr }))), kill: () => child.kill() };
}

describe.skipIf(skip)('helm test (files/helm-test.mjs)', () => {
  let readyz: Server;
  let status = 200;
  let url = '';
  let p: NodePublisher | undefined;
  beforeAll(async () => {
    readyz = createServer((req, res) => res.writeHead(req.url === '/readyz' ? status : 404).end());
    await new Promise<void>((r) => readyz.listen(0, '127.0.0.1', r));
    url = `http://127.0.0.1:${(readyz.address() as AddressInfo).port}`;
  });
  afterAll(() => new Promise<void>((r) => readyz.close(() => r())));
  afterEach(async () => {
    await p?.close();
    p = undefined;
    status = 200;
  });

  const published = async (): Promise<void> => {
    server.addNode(foreignNode('n1'));
    server.addNode(foreignNode('n2'));
    p = createPublisher({
      nodeName: 'n1',
      labelPrefix: 'bpfready.io',
      heartbeatSeconds: 0,
      logger: quietLogger(),
      kubeConfig: server.kubeConfig(),
      clock: new RecordingClock(),
      random: () => 0.5,
      startJitterSeconds: 0,
    });
    p.publish(report(), checksOk);
    await p.whenInSync();
  };
  const test = (env: Record<string, string> = {}) =>
    run(testPod['spec']['containers'][0], {
      SERVICE_URL: url,
      API_SERVER: server.url,
      TOKEN_FILE: join(dir, 'token'),
      TIMEOUT_SECONDS: '0',
      ...env,
    }).exited;

  it('passes when /readyz is 200 and the node carries the condition and every label it lists', async () => {
    await published();
    const r = await test();
    expect(r.stderr).toBe('');
    expect(r.code).toBe(0);
    expect(r.stdout).toBe(`bpfready test: ${url}/readyz is 200; 1 of 2 nodes carry bpfready.io/EBPFReady and the labels they list\n`);
  });

  it('fails naming what is missing: /readyz, the condition, a label', async () => {
    status = 503;
    expect((await test()).stderr).toMatch(/readyz: 503 \(no pod behind the Service has finished its first probe\)/);
    status = 200;
    server.addNode(foreignNode('n3'));
    expect(await test()).toMatchObject({ code: 1, stderr: 'bpfready test: none of 1 nodes has the condition bpfready.io/EBPFReady\n' });
    await published();
    const label = Object.keys(server.node('n1').metadata.labels ?? {}).find((k) => k.startsWith('bpfready.io/feature.'))!;
    await p!.close();
    p = undefined;
    server.edit('n1', (n) => delete n.metadata.labels![label]);
    expect(await test()).toMatchObject({ code: 1, stderr: `bpfready test: node n1 lacks labels it should carry: ${label}\n` });
  });
});

describe.skipIf(skip)('wait-for-policy init container (files/wait-for-policy.mjs)', () => {
  it('waits while a write the policy must refuse is admitted, or refused by someone else, and stores nothing', async () => {
    server.addNode(foreignNode('n1'));
    const before = server.node('n1');
    const w = run(initContainer, { NODE_NAME: 'n1', API_SERVER: server.url, TOKEN_FILE: join(dir, 'token'), INTERVAL_MS: '20' });
    const dryRuns = () => server.requests.filter((r) => r.method === 'PATCH' && r.query === '?dryRun=All').length;
    const until = (f: () => boolean) => waitFor(f.toString(), () => f() || undefined);
    // No policy: the dry run is admitted (and, being a dry run, not stored).
    await until(() => dryRuns() >= 2);
    expect(server.node('n1')).toEqual(before);
    // RBAC not bound yet: a 403 that is not the policy's.
    server.inject({
      kind: 'status',
      status: 403,
      method: 'PATCH',
      message:
        'nodes "n1" is forbidden: User "system:serviceaccount:bpfready:bpfready" cannot patch resource "nodes" in API group "" at the cluster scope',
    });
    await until(() => server.requests.some((r) => r.status === 403));
    const seen = dryRuns();
    await until(() => dryRuns() > seen);
    // The policy in force: its refusal, as the API server words it.
    server.inject({
      kind: 'status',
      status: 403,
      method: 'PATCH',
      message: `nodes "n1" is forbidden: ValidatingAdmissionPolicy '${envOf(initContainer)['POLICY_NAME']}' with binding '${envOf(initContainer)['POLICY_NAME']}' denied request: bpfready may only add, change or remove labels under bpfready.io/`,
    });
    const r = await w.exited;
    expect(r.code).toBe(0);
    expect(r.stdout).toMatch(/waiting for bpfready-node-writes: a write bpfready-node-writes must refuse was admitted \(dry run\)/);
    expect(r.stdout).toMatch(/bpfready-node-writes is enforced on node n1's writes\n$/);
    expect(server.node('n1')).toEqual(before);
    expect(
      server.requests
        .filter((x) => x.method === 'PATCH')
        .every((x) => x.query === '?dryRun=All' && x.contentType === 'application/strategic-merge-patch+json'),
    ).toBe(true);
  });
});
