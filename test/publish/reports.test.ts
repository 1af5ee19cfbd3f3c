// The daemon's report writer (src/publish/reports.ts ReportWriter) against the API-server double:
// what `bpfready nodes` reads is what the writer wrote, from real saved reports (fixtures/reports/);
// a build's kernel view is collected and stored once whatever the number of its nodes, also when
// they race; timestamps alone never cause a write; a ConfigMap that is not ours is left alone;
// failed writes are retried; and the chart's Role (real `helm template`) is exactly what it needs.
import { afterEach, describe, expect, it, vi } from 'vitest';
import { render } from '../../scripts/chart.ts';
import type { KernelViewSection, ProbeReport } from '../../src/contract/report.ts';
import { createConfigMapApi, createNodeApi } from '../../src/publish/client.ts';
import {
  kernelIndexName,
  nodeObjectName,
  packKernelView,
  readPublished,
  ReportWriter,
  SET_LABEL,
  type ConfigMapObject,
  type ReportWriterOptions,
} from '../../src/publish/reports.ts';
import { pruneReports } from '../../src/publish/prune.ts';
import { loadReports } from '../../src/requirements/reports.ts';
import { helmSkip } from '../deploy/k8s.ts';
import { ApiServerDouble, type PolicyRule } from './apiserver-double.ts';
import { RecordingClock } from './clock.ts';
import { foreignNode, quietLogger } from './fixtures.ts';

const NS = 'bpfready';
const CM = `/v1/${NS}/configmaps`;
const SA = 'system:serviceaccount:bpfready:bpfready';
const saved = (name: string): ProbeReport => loadReports(name)[0]!.report;
const DEBIAN = saved('debian-6.1.0-57-amd64');
const VIEW = DEBIAN.kernelView!;

let server: ApiServerDouble | undefined;
afterEach(async () => {
  await server?.close();
  server = undefined;
});

async function double(...nodes: string[]): Promise<ApiServerDouble> {
  server = new ApiServerDouble();
  await server.start();
  server.recordRequests = true;
  for (const n of nodes) server.addNode(foreignNode(n));
  return server;
}

interface Made {
  writer: ReportWriter;
  warnings: string[];
}

/** A node's writer; its kernel view comes from `view` (by default the saved report's). */
function writer(
  s: ApiServerDouble,
  node: string,
  view: () => Promise<KernelViewSection> = async () => VIEW,
  more: Partial<ReportWriterOptions> = {},
): Made {
  const warnings: string[] = [];
  const logger = quietLogger();
  logger.warn = ((o: { err?: string }) => void warnings.push(o.err ?? '')) as never;
  const nodes = createNodeApi(s.kubeConfig());
  const w = new ReportWriter({
    api: createConfigMapApi(s.kubeConfig(), NS),
    nodeName: node,
    nodeUid: async () => (await nodes.read(node)).metadata!.uid!,
    buildDigest: async () => VIEW.build.digest,
    kernelView: async () => packKernelView(await view()),
    logger,
    clock: new RecordingClock(),
    random: () => 0.5,
    ...more,
  });
  return { writer: w, warnings };
}

const stored = (s: ApiServerDouble): ConfigMapObject[] => s.objects(CM) as unknown as ConfigMapObject[];
const reportOf = (s: ApiServerDouble, node: string) => s.customObject(`${CM}/${nodeObjectName(node)}`) as ConfigMapObject | undefined;
/** Until the node's stored report was written from `generatedAt`'s probe. */
const until = (s: ApiServerDouble, node: string, generatedAt: string) =>
  vi.waitFor(() => expect(reportOf(s, node)?.metadata.annotations['bpfready.io/generated-at']).toBe(generatedAt), {
    timeout: 30_000,
    interval: 20,
  });
const { kernelView: _v, generatedAt: _g, durationMs: _d, ...FACTS } = DEBIAN;

describe('the report writer', () => {
  it('stores the node report, owned by its Node, and the build view; bpfready nodes reads back the report it was given', async () => {
    const s = await double('node-a');
    const { writer: w } = writer(s, 'node-a');
    w.start(0);
    w.set(DEBIAN);
    await until(s, 'node-a', DEBIAN.generatedAt);
    const obj = reportOf(s, 'node-a')!;
    expect(obj.metadata.ownerReferences).toEqual([{ apiVersion: 'v1', kind: 'Node', name: 'node-a', uid: s.node('node-a').metadata.uid }]);
    const [got] = readPublished(stored(s));
    expect(got!.node).toBe('node-a');
    const { kernelView, ...facts } = got!.report as ProbeReport;
    expect(facts).toEqual(FACTS);
    expect(kernelView).toEqual(VIEW);
    // The index is created after every part it names (a later create has a higher resourceVersion).
    const rv = (o: ConfigMapObject) => Number(o.metadata.resourceVersion);
    const index = s.customObject(`${CM}/${kernelIndexName(VIEW.build.digest)}`) as unknown as ConfigMapObject;
    const parts = stored(s).filter((o) => o.metadata.labels['bpfready.io/object'] === 'kernel-view');
    expect(parts.length).toBeGreaterThan(0);
    for (const p of parts) expect(rv(p)).toBeLessThan(rv(index));
    expect(s.requests.filter((r) => r.method === 'POST' && r.status === 201).length).toBe(stored(s).length);
  });

  it('writes again only when a fact changed: a re-probe that differs in its timestamps writes nothing', async () => {
    const s = await double('node-a');
    const { writer: w } = writer(s, 'node-a');
    w.start(0);
    w.set(DEBIAN);
    await w.idle();
    const after1 = s.writes;
    expect(reportOf(s, 'node-a')).toBeDefined();
    w.set({ ...DEBIAN, generatedAt: '2026-12-03T10:00:00.000Z', durationMs: 1 });
    await w.idle();
    expect(s.writes).toBe(after1);
    const changed = {
      ...DEBIAN,
      generatedAt: '2026-12-03T11:00:00.000Z',
      kernel: { ...DEBIAN.kernel, release: `${DEBIAN.kernel.release}+patched` },
    };
    w.set(changed);
    await w.idle();
    expect(reportOf(s, 'node-a')?.metadata.annotations['bpfready.io/generated-at']).toBe(changed.generatedAt);
    expect(s.writes - after1).toBe(1);
    expect(w.viewsCollected).toBe(1);
  });

  it('calls afterWork after a pass that collected the view or wrote the report, and not after one that wrote nothing', async () => {
    const s = await double('node-a');
    let released = 0;
    const { writer: w } = writer(s, 'node-a', undefined, { afterWork: () => released++ });
    w.start(0);
    w.set(DEBIAN);
    await w.idle();
    expect(released).toBe(1);
    w.set({ ...DEBIAN, generatedAt: '2026-12-03T10:00:00.000Z' });
    await w.idle();
    expect(released).toBe(1);
    w.set({ ...DEBIAN, kernel: { ...DEBIAN.kernel, release: `${DEBIAN.kernel.release}+patched` } });
    await w.idle();
    expect(released).toBe(2);
  });

  it('writes the node report when its view cannot be collected, and retries the view until it lands', async () => {
    const s = await double('node-a');
    let calls = 0;
    const { writer: w, warnings } = writer(s, 'node-a', async () => {
      if (++calls <= 2) throw new Error(`collector failed\nattempt ${calls}`);
      return VIEW;
    });
    w.start(0);
    w.set(DEBIAN);
    await until(s, 'node-a', DEBIAN.generatedAt);
    await vi.waitFor(() => expect(s.customObject(`${CM}/${kernelIndexName(VIEW.build.digest)}`)).toBeDefined(), {
      timeout: 30_000,
      interval: 20,
    });
    expect(warnings).toEqual(['kernel view: collector failed attempt 1', 'kernel view: collector failed attempt 2']);
    expect((readPublished(stored(s))[0]!.report as ProbeReport).kernelView).toEqual(VIEW);
  });

  it('collects a build view once: the second node of the build finds its index and collects nothing', async () => {
    const s = await double('node-a', 'node-b');
    const a = writer(s, 'node-a');
    a.writer.set(DEBIAN);
    a.writer.start(0);
    await until(s, 'node-a', DEBIAN.generatedAt);
    let collected = 0;
    const b = writer(s, 'node-b', async () => (collected++, VIEW));
    b.writer.set(DEBIAN);
    b.writer.start(0);
    await until(s, 'node-b', DEBIAN.generatedAt);
    expect(collected).toBe(0);
    expect(readPublished(stored(s)).map((n) => [n.node, typeof n.report !== 'string' && n.report.kernelView !== undefined])).toEqual([
      ['node-a', true],
      ['node-b', true],
    ]);
  });

  it('nodes of one build that race: one set of parts stays, the one the index names, and both nodes read with it', async () => {
    const s = await double('node-a', 'node-b');
    // Both have found no index and are collecting when either writes (module functions make their
    // views differ, so their parts differ).
    let arrived = 0;
    let release!: () => void;
    const both = new Promise<void>((r) => (release = r));
    const gate = (v: KernelViewSection) => async (): Promise<KernelViewSection> => {
      if (++arrived === 2) release();
      await both;
      return v;
    };
    const other: KernelViewSection = {
      ...VIEW,
      helpers: { ...VIEW.helpers, unknown: { ...VIEW.helpers.unknown, probe_write_user: 'not probed on this node' } },
    };
    const a = writer(s, 'node-a', gate(VIEW));
    const b = writer(s, 'node-b', gate(other));
    for (const w of [a.writer, b.writer]) {
      w.set(DEBIAN);
      w.start(0);
    }
    await until(s, 'node-a', DEBIAN.generatedAt);
    await until(s, 'node-b', DEBIAN.generatedAt);
    const index = s.customObject(`${CM}/${kernelIndexName(VIEW.build.digest)}`) as unknown as ConfigMapObject;
    const parts = stored(s).filter((o) => o.metadata.labels['bpfready.io/object'] === 'kernel-view');
    expect(new Set(parts.map((p) => p.metadata.labels[SET_LABEL]))).toEqual(new Set([index.metadata.labels[SET_LABEL]]));
    const views = readPublished(stored(s)).map((n) => (n.report as ProbeReport).kernelView);
    expect(views[0]).toBeDefined();
    expect(views[1]).toEqual(views[0]);
    expect(s.requests.filter((r) => r.method === 'DELETE' && r.status === 200).length).toBe(parts.length);
  });

  it('leaves a ConfigMap of its name that is not bpfready’s alone, and keeps retrying with a warning', async () => {
    const s = await double('node-a');
    const foreign = {
      apiVersion: 'v1',
      kind: 'ConfigMap',
      metadata: { name: nodeObjectName('node-a'), labels: { app: 'someone-else' } },
      data: { keep: 'me' },
    };
    s.seed(CM, foreign);
    const { writer: w, warnings } = writer(s, 'node-a');
    w.start(0);
    w.set(DEBIAN);
    await vi.waitFor(() => expect(warnings.length).toBeGreaterThanOrEqual(2), { timeout: 30_000, interval: 20 });
    w.close();
    expect(warnings[0]).toMatch(/^configmap bpfready\/bpfready-node-node-a exists and is not bpfready's .*: left alone$/);
    const now = s.customObject(`${CM}/${nodeObjectName('node-a')}`) as typeof foreign;
    expect({ labels: now.metadata.labels, data: now.data }).toEqual({ labels: foreign.metadata.labels, data: foreign.data });
    expect(s.requests.some((r) => r.method === 'PUT')).toBe(false);
  });

  it('retries a failed write until it lands', async () => {
    const s = await double('node-a');
    s.inject({ kind: 'status', status: 500, method: 'POST', path: /\/configmaps$/, times: 2 });
    const { writer: w, warnings } = writer(s, 'node-a');
    w.start(0);
    w.set(DEBIAN);
    await until(s, 'node-a', DEBIAN.generatedAt);
    expect(warnings.length).toBe(2);
    expect(readPublished(stored(s))).toHaveLength(1);
  });
});

const skip = helmSkip();
const role = (name: string): PolicyRule[] =>
  skip
    ? []
    : ((render({ values: [{}] }).find((d) => d.doc['kind'] === 'Role' && d.doc['metadata']['name'] === name)?.doc['rules'] ??
        []) as PolicyRule[]);

describe.skipIf(skip)("the chart's Role for node reports, enforced by the API-server double", () => {
  const RULES = role('bpfready-reports');
  const READER = role('bpfready-reports-reader');
  /** A restart (our report is there from the pod before) and a race of two nodes of one build: every verb the writer has. */
  async function scenario(rules: PolicyRule[]): Promise<ApiServerDouble> {
    const s = await double('node-a', 'node-b');
    const before = writer(s, 'node-a');
    before.writer.set(DEBIAN);
    before.writer.start(0);
    await until(s, 'node-a', DEBIAN.generatedAt);
    before.writer.close();
    s.editCustom(`${CM}/${kernelIndexName(VIEW.build.digest)}`, () => undefined);
    s.rbac = { user: SA, clusterRules: [{ apiGroups: [''], resources: ['nodes'], verbs: ['get'] }], namespaceRules: { [NS]: rules } };
    s.requests.length = 0;
    let arrived = 0;
    let release!: () => void;
    const both = new Promise<void>((r) => (release = r));
    const gate = (v: KernelViewSection) => async () => {
      if (++arrived === 2) release();
      await both;
      return v;
    };
    const other: KernelViewSection = { ...VIEW, helpers: { ...VIEW.helpers, unknown: { ...VIEW.helpers.unknown, x: 'y' } } };
    const ws = [writer(s, 'node-a', gate(other)), writer(s, 'node-b', gate(VIEW))];
    const later = { ...DEBIAN, generatedAt: '2026-12-03T12:00:00.000Z' };
    for (const { writer: w } of ws) {
      w.set(later);
      w.start(0);
    }
    // Done when both reports are stored, or a request was refused.
    await vi.waitFor(
      () =>
        expect(
          s.requests.some((r) => r.status === 403) ||
            ['node-a', 'node-b'].every((n) => reportOf(s, n)?.metadata.annotations['bpfready.io/generated-at'] === later.generatedAt),
        ).toBe(true),
      { timeout: 30_000, interval: 20 },
    );
    for (const { writer: w } of ws) w.close();
    return s;
  }

  it('lets the writer do all its work with no request refused, and the reader role read it', async () => {
    expect(RULES.length).toBeGreaterThan(0);
    const s = await scenario(RULES);
    expect(s.requests.filter((r) => r.status === 403)).toEqual([]);
    expect(s.requests.some((r) => r.method === 'PUT')).toBe(true);
    expect(s.requests.some((r) => r.method === 'DELETE')).toBe(true);
    s.rbac = { user: 'jane', clusterRules: [], namespaceRules: { [NS]: READER } };
    const page = await createConfigMapApi(s.kubeConfig(), NS).get(nodeObjectName('node-b'));
    expect(page?.metadata?.labels?.['app.kubernetes.io/managed-by']).toBe('bpfready');
  });

  const lessOne = RULES.flatMap((r, i) =>
    r.verbs.map((v) => ({
      what: `${v} on ${r.resources!.join(',')}`,
      rules: RULES.map((x, j) => (j === i ? { ...x, verbs: x.verbs.filter((y) => y !== v) } : x)),
    })),
  );
  it.each(lessOne)('refuses the writer something without $what', async ({ rules }) => {
    const s = await scenario(rules);
    expect(s.requests.filter((r) => r.status === 403).length).toBeGreaterThan(0);
  });
});

describe.skipIf(skip)('prune: the report ConfigMaps, with the uninstall hook’s Role', () => {
  const PRUNE = role('bpfready-prune');
  /** Two nodes' reports and their build's view published, beside a ConfigMap that is not ours. */
  async function published(): Promise<ApiServerDouble> {
    const s = await double('node-a', 'node-b');
    for (const n of ['node-a', 'node-b']) {
      const { writer: w } = writer(s, n);
      w.start(0);
      w.set(DEBIAN);
      await w.idle();
      w.close();
    }
    s.seed(CM, {
      apiVersion: 'v1',
      kind: 'ConfigMap',
      metadata: { name: 'bpfready', labels: { 'app.kubernetes.io/managed-by': 'Helm' } },
      data: { 'config.yaml': '' },
    } as never);
    s.rbac = { user: 'system:serviceaccount:bpfready:bpfready-prune', clusterRules: [], namespaceRules: { [NS]: PRUNE } };
    s.requests.length = 0;
    return s;
  }
  const api = (s: ApiServerDouble) => createConfigMapApi(s.kubeConfig(), NS);

  it('--all-nodes removes every report and kernel view, pages and all, and nothing else; a second run removes nothing', async () => {
    const s = await published();
    const before = stored(s).map((o) => o.metadata.name);
    const gone = await pruneReports(api(s), { pageSize: 2, sleep: async () => {} });
    expect(s.requests.filter((r) => r.status === 403)).toEqual([]);
    expect(gone.sort()).toEqual(before.filter((n) => n !== 'bpfready').sort());
    expect(stored(s).map((o) => o.metadata.name)).toEqual(['bpfready']);
    expect(await pruneReports(api(s), { sleep: async () => {} })).toEqual([]);
  });

  it('one node: only its own report', async () => {
    const s = await published();
    s.rbac = undefined;
    const before = stored(s).length;
    expect(await pruneReports(api(s), { node: 'node-a', sleep: async () => {} })).toEqual([nodeObjectName('node-a')]);
    expect(stored(s).length).toBe(before - 1);
    expect(reportOf(s, 'node-b')).toBeDefined();
  });

  it.each(
    PRUNE.flatMap((r, i) =>
      r.verbs.map((v) => ({ what: v, rules: PRUNE.map((x, j) => (j === i ? { ...x, verbs: x.verbs.filter((y) => y !== v) } : x)) })),
    ),
  )('without $what on configmaps it is refused', async ({ rules }) => {
    const s = await published();
    s.rbac = { user: 'system:serviceaccount:bpfready:bpfready-prune', clusterRules: [], namespaceRules: { [NS]: rules } };
    await expect(pruneReports(api(s), { attempts: 1, sleep: async () => {} })).rejects.toThrow(/HTTP 403/);
  });
});
