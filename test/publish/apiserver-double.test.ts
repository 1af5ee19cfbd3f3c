// The double's own semantics, driven through the real client library, so the publisher tests rest on
// behaviour that is checked here against what the Kubernetes API defines (docs/kubernetes.md).
import { ApiException, CoreV1Api, PatchStrategy, setHeaderOptions, Watch } from '@kubernetes/client-node';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { ApiServerDouble } from './apiserver-double.ts';
import { foreignNode } from './fixtures.ts';
import { jsonMergePatch, strategicMergePatch } from './patch.ts';
import { until } from '../e2e/process.ts';

let server: ApiServerDouble;
let core: CoreV1Api;
const smp = setHeaderOptions('Content-Type', PatchStrategy.StrategicMergePatch);
const merge = setHeaderOptions('Content-Type', PatchStrategy.MergePatch);

beforeEach(async () => {
  server = new ApiServerDouble({ historyLimit: 5 });
  await server.start();
  server.addNode(foreignNode('n1'));
  core = server.kubeConfig().makeApiClient(CoreV1Api);
});
afterEach(() => server.close());

async function status(p: Promise<unknown>): Promise<number> {
  try {
    await p;
    return 200;
  } catch (e) {
    if (e instanceof ApiException) return e.code;
    throw e;
  }
}

describe('patch semantics', () => {
  it('RFC 7386 examples', () => {
    expect(jsonMergePatch({ a: 'b' }, { a: 'c' })).toEqual({ a: 'c' });
    expect(jsonMergePatch({ a: { b: 'c' } }, { a: { b: 'd', c: null } })).toEqual({ a: { b: 'd' } });
    expect(jsonMergePatch({ a: [{ b: 'c' }] }, { a: [1] })).toEqual({ a: [1] });
    expect(jsonMergePatch(['a', 'b'], ['c', 'd'])).toEqual(['c', 'd']);
    expect(jsonMergePatch({ e: null }, { a: 1 })).toEqual({ e: null, a: 1 });
    expect(jsonMergePatch({}, { a: { bb: { ccc: null } } })).toEqual({ a: { bb: {} } });
  });

  it('strategic merge: conditions by type, $patch delete, taints replaced', () => {
    const node = foreignNode('x');
    const out = strategicMergePatch(node, {
      status: {
        conditions: [
          { type: 'Ready', status: 'False' },
          { type: 'example.com/GpuHealthy', $patch: 'delete' },
          { type: 'new.io/X', status: 'True' },
        ],
      },
      spec: { taints: [{ key: 'a', effect: 'NoSchedule' }] },
    }) as ReturnType<typeof foreignNode>;
    expect(out.status?.conditions?.map((c) => [c['type'], c['status']])).toEqual([
      ['Ready', 'False'],
      ['new.io/X', 'True'],
    ]);
    expect(out.status?.conditions?.[0]?.['reason']).toBe('KubeletReady');
    expect(out.spec?.taints).toEqual([{ key: 'a', effect: 'NoSchedule' }]);
  });
});

describe('API-server double over HTTP', () => {
  it('strategic merge patch on /status merges conditions by type; merge patch replaces the list', async () => {
    await core.patchNodeStatus({ name: 'n1', body: { status: { conditions: [{ type: 'x.io/A', status: 'True' }] } } }, smp);
    let n = server.node('n1');
    expect(n.status?.conditions?.map((c) => c['type'])).toEqual(['Ready', 'example.com/GpuHealthy', 'x.io/A']);
    await core.patchNodeStatus({ name: 'n1', body: { status: { conditions: [{ type: 'x.io/A', status: 'False' }] } } }, merge);
    n = server.node('n1');
    expect(n.status?.conditions?.map((c) => c['type'])).toEqual(['x.io/A']);
  });

  it('the status subresource ignores metadata and the main resource ignores status', async () => {
    await core.patchNodeStatus(
      { name: 'n1', body: { metadata: { labels: { a: 'b' } }, status: { conditions: [{ type: 'x.io/A', status: 'True' }] } } },
      smp,
    );
    await core.patchNode({ name: 'n1', body: { status: { conditions: [{ type: 'x.io/B', status: 'True' }] } } }, smp);
    const n = server.node('n1');
    expect(n.metadata.labels).not.toHaveProperty('a');
    expect(n.status?.conditions?.map((c) => c['type'])).not.toContain('x.io/B');
  });

  it('a stale resourceVersion precondition is 409; a current one succeeds and bumps it', async () => {
    const rv = server.node('n1').metadata.resourceVersion!;
    server.edit('n1', (n) => (n.metadata.labels!['z'] = '1'));
    expect(await status(core.patchNode({ name: 'n1', body: { metadata: { resourceVersion: rv, labels: { a: 'b' } } } }, smp))).toBe(409);
    const now = server.node('n1').metadata.resourceVersion!;
    expect(await status(core.patchNode({ name: 'n1', body: { metadata: { resourceVersion: now, labels: { a: 'b' } } } }, smp))).toBe(200);
    expect(Number(server.node('n1').metadata.resourceVersion)).toBeGreaterThan(Number(now));
  });

  it('a no-op patch does not bump resourceVersion (no write, no watch event)', async () => {
    const rv = server.node('n1').metadata.resourceVersion;
    const writes = server.writes;
    await core.patchNode({ name: 'n1', body: { metadata: { labels: { 'team.example.com/owner': 'infra' } } } }, smp);
    expect(server.node('n1').metadata.resourceVersion).toBe(rv);
    expect(server.writes).toBe(writes);
  });

  it('rejects invalid labels with 422, unknown content types with 415, unknown nodes with 404', async () => {
    expect(await status(core.patchNode({ name: 'n1', body: { metadata: { labels: { 'Bad_Prefix/x': 'y' } } } }, smp))).toBe(422);
    expect(await status(core.patchNode({ name: 'n1', body: { metadata: { labels: { a: 'x'.repeat(64) } } } }, smp))).toBe(422);
    expect(await status(core.patchNode({ name: 'n1', body: [{ op: 'add', path: '/metadata/labels/a', value: 'b' }] }))).toBe(415);
    expect(await status(core.readNode({ name: 'nope' }))).toBe(404);
  });

  it('injected faults: 429 carries Retry-After, reset drops the connection', async () => {
    server.inject({ kind: 'status', status: 429, retryAfterSeconds: 3 });
    try {
      await core.readNode({ name: 'n1' });
      expect.unreachable();
    } catch (e) {
      expect(e).toBeInstanceOf(ApiException);
      expect((e as ApiException<unknown>).code).toBe(429);
      expect((e as ApiException<unknown>).headers['retry-after']).toBe('3');
    }
    server.inject({ kind: 'reset' });
    await expect(core.readNode({ name: 'n1' })).rejects.toThrow();
    expect((await core.readNode({ name: 'n1' })).metadata?.name).toBe('n1');
  });

  it('watch: field selector, resume from resourceVersion, 410 Gone when too old', async () => {
    const w = new Watch(server.kubeConfig());
    server.addNode(foreignNode('n2'));
    const rv = server.node('n1').metadata.resourceVersion!;
    const seen: [string, string | undefined][] = [];
    let ended: unknown = 'open';
    const ctl = await w.watch(
      '/api/v1/nodes',
      { fieldSelector: 'metadata.name=n1', resourceVersion: rv },
      (t, o: { metadata?: { name?: string } }) => seen.push([t, o.metadata?.name]),
      (e) => (ended = e),
    );
    server.edit('n2', (n) => (n.metadata.labels!['a'] = '1'));
    server.edit('n1', (n) => (n.metadata.labels!['a'] = '1'));
    // One stream, in order: once n1's event is here, n2's would have come before it.
    await until('the n1 event', () => (seen.length > 0 ? true : undefined));
    expect(seen).toEqual([['MODIFIED', 'n1']]);
    expect(ended).toBe('open');
    ctl.abort();
    for (let i = 0; i < 6; i++) server.edit('n2', (n) => (n.metadata.labels!['a'] = String(i + 2)));
    const gone: unknown[] = [];
    await new Promise<void>((resolve) => {
      void w.watch(
        '/api/v1/nodes',
        { fieldSelector: 'metadata.name=n1', resourceVersion: rv },
        (t, o: { code?: number }) => gone.push([t, o.code]),
        () => resolve(),
      );
    });
    expect(gone).toEqual([['ERROR', 410]]);
  });
});
