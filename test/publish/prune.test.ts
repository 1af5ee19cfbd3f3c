// prune: after a full publish (labels, annotation, conditions, taint), only foreign state is left —
// through the library and through the real CLI with a KUBECONFIG pointing at the double.
import { execFile } from 'node:child_process';
import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { createNodeApi, KubeApiError, type NodeApi } from '../../src/publish/client.ts';
import { createPublisher } from '../../src/publish/index.ts';
import { pruneNode } from '../../src/publish/prune.ts';
import { ApiServerDouble } from './apiserver-double.ts';
import { RecordingClock } from './clock.ts';
import { checksBad, foreignNode, quietLogger, report } from './fixtures.ts';

const run = promisify(execFile);
let server: ApiServerDouble;

beforeEach(async () => {
  server = new ApiServerDouble();
  await server.start();
  server.addNode(foreignNode('n1'));
  const p = createPublisher({
    nodeName: 'n1',
    labelPrefix: 'bpfready.io',
    heartbeatSeconds: 0,
    taint: { key: 'bpfready.io/not-ready', effect: 'NoSchedule' },
    logger: quietLogger(),
    api: createNodeApi(server.kubeConfig()),
    clock: new RecordingClock(),
    startJitterSeconds: 0,
  });
  p.publish(report(), checksBad);
  await p.whenInSync();
  await p.close();
  const n = server.node('n1');
  expect(n.spec?.taints?.some((t) => t.key === 'bpfready.io/not-ready')).toBe(true);
  expect(Object.keys(n.metadata.labels ?? {}).filter((k) => k.startsWith('bpfready.io/')).length).toBeGreaterThan(5);
});
afterEach(() => server.close());

const expectOnlyForeign = (): void => {
  const n = server.node('n1');
  const f = foreignNode('n1');
  expect(n.metadata.labels).toEqual(f.metadata.labels); // includes the hand-made bpfready.io/ label we never owned
  expect(n.metadata.annotations).toEqual(f.metadata.annotations);
  expect(n.spec?.taints).toEqual(f.spec?.taints);
  expect(n.status?.conditions).toEqual(f.status?.conditions);
};

describe('prune', () => {
  it('leaves only foreign state, survives a conflict, and is idempotent', async () => {
    const api = createNodeApi(server.kubeConfig());
    server.inject({ kind: 'status', status: 409, method: 'PATCH', path: /n1$/ });
    const r = await pruneNode(api, 'n1', { prefix: 'bpfready.io', sleep: async () => {} });
    expect(r.conditions).toEqual(['bpfready.io/ProfileCilium', 'bpfready.io/EBPFReady']);
    expect(r.taints).toEqual(['bpfready.io/not-ready']);
    expectOnlyForeign();
    const writes = server.writes;
    const again = await pruneNode(api, 'n1', { prefix: 'bpfready.io' });
    expect(again).toEqual({ labels: [], annotation: false, conditions: [], taints: [] });
    expect(server.writes).toBe(writes);
  });

  it('bpfready prune (CLI) against the double via KUBECONFIG', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'bpfready-prune-'));
    const kc = join(dir, 'kubeconfig');
    writeFileSync(kc, server.kubeConfig().exportConfig());
    const { stdout } = await run('bin/bpfready', ['prune', '--node-name', 'n1'], { env: { ...process.env, KUBECONFIG: kc } });
    expect(stdout).toMatch(/removed \d+ label\(s\), the ownership annotation, 2 condition\(s\)/);
    expectOnlyForeign();
  });

  it('bad input is exit 2 with a message, no stack', async () => {
    const err = await run('bin/bpfready', ['prune', '--node-name', 'n1', '--label-prefix', 'node.kubernetes.io']).catch(
      (e: { code: number; stderr: string }) => e,
    );
    expect((err as { code: number }).code).toBe(2);
    expect((err as { stderr: string }).stderr).toMatch(/reserved/);
    expect((err as { stderr: string }).stderr).not.toMatch(/\n\s+at /);
  });

  it('a flag of serve/daemon that prune would ignore is exit 2, naming it', async () => {
    const err = await run('bin/bpfready', ['prune', '--node-name', 'n1', '--listen', ':1']).catch(
      (e: { code: number; stderr: string }) => e,
    );
    expect((err as { code: number }).code).toBe(2);
    expect((err as { stderr: string }).stderr).toMatch(/--listen: not an option of prune/);
  });

  it('no cluster configuration is exit 2 naming where it looked', async () => {
    const err = await run('bin/bpfready', ['prune', '--node-name', 'n1'], {
      env: { PATH: process.env['PATH'] ?? '', HOME: mkdtempSync(join(tmpdir(), 'bpfready-home-')) },
    }).catch((e: { code: number; stderr: string }) => e);
    expect((err as { code: number }).code).toBe(2);
    expect((err as { stderr: string }).stderr).toMatch(/cluster configuration \(KUBECONFIG.*none found/);
  });
});

describe('pruneNode on a node that is gone', () => {
  it('treats 404 (deleted since it was listed) as nothing to prune, not a failure', async () => {
    const gone = new KubeApiError('nodes "n" not found', 404, undefined, undefined);
    const api = { read: async () => Promise.reject(gone) } as unknown as NodeApi;
    await expect(pruneNode(api, 'n', { prefix: 'bpfready.io' })).resolves.toEqual({
      labels: [],
      annotation: false,
      conditions: [],
      taints: [],
    });
    const broken = { read: async () => Promise.reject(new KubeApiError('forbidden', 403, undefined, undefined)) } as unknown as NodeApi;
    await expect(pruneNode(broken, 'n', { prefix: 'bpfready.io' })).rejects.toThrow(/forbidden/);
  });
});
