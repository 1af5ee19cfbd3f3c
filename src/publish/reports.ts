// What the daemon publishes so that `bpfready nodes` can judge any object for any node without
// reaching it (docs/kubernetes.md "Reports for bpfready nodes"): ConfigMaps in our namespace, all
// labelled app.kubernetes.io/managed-by=bpfready and bpfready.io/object, read with one paginated
// LIST by that label.
//   - per node, `bpfready-node-<node>`: the probe report without its kernel view (brotli, ~20 KB),
//     owned by the Node (the garbage collector removes it with the Node);
//   - per kernel build, `bpfready-kernel-<digest>-<i>`: the kernel view in parts of at most 768 KiB
//     (a ConfigMap holds at most 1 MiB), written once per build whichever node gets there first.
// Pure: objects in, objects out. The writer is publishReports().
import { createHash } from 'node:crypto';
import { brotliCompressSync, brotliDecompressSync, constants } from 'node:zlib';
import type { KernelViewSection, ProbeReport } from '../contract/report.ts';

export const MANAGED_BY = 'app.kubernetes.io/managed-by';
export const OBJECT_LABEL = 'bpfready.io/object';
export const BUILD_LABEL = 'bpfready.io/kernel-build';
export const NODE_ANNOTATION = 'bpfready.io/node-name';
export const PARTS_ANNOTATION = 'bpfready.io/parts';
export const PART_BYTES = 768 << 10;
/** The one selector `bpfready nodes` lists by. */
export const REPORTS_SELECTOR = `${MANAGED_BY}=bpfready,${OBJECT_LABEL}`;

export interface ConfigMapObject {
  apiVersion: 'v1';
  kind: 'ConfigMap';
  metadata: {
    name: string;
    namespace?: string;
    labels: Record<string, string>;
    annotations: Record<string, string>;
    ownerReferences?: { apiVersion: string; kind: string; name: string; uid: string }[];
    resourceVersion?: string;
  };
  binaryData: Record<string, string>;
}

const pack = (s: string): Buffer => brotliCompressSync(s, { params: { [constants.BROTLI_PARAM_QUALITY]: 9, [constants.BROTLI_PARAM_LGWIN]: 24 } });
/** Label values are at most 63 characters: the digest's first 40 hex digits name the build. */
const buildKey = (digest: string): string => digest.replace(/^sha256:/, '').slice(0, 40);

/** A DNS-1123 object name for a node's report; long node names are cut and told apart by a hash. */
export function nodeObjectName(node: string): string {
  const name = `bpfready-node-${node}`;
  return name.length <= 253 ? name : `${name.slice(0, 236)}-${createHash('sha256').update(node).digest('hex').slice(0, 16)}`;
}

export function reportObjects(report: ProbeReport, node: { name: string; uid: string }): { node: ConfigMapObject; kernel: ConfigMapObject[] } {
  // What changes every probe goes into annotations: nodes that probe alike store the same bytes,
  // which `bpfready nodes` decodes and judges once.
  const { kernelView, generatedAt, durationMs, ...plain } = report;
  const labels = { [MANAGED_BY]: 'bpfready' };
  const nodeObj: ConfigMapObject = {
    apiVersion: 'v1',
    kind: 'ConfigMap',
    metadata: {
      name: nodeObjectName(node.name),
      labels: { ...labels, [OBJECT_LABEL]: 'node-report', ...(kernelView ? { [BUILD_LABEL]: buildKey(kernelView.build.digest) } : {}) },
      annotations: { [NODE_ANNOTATION]: node.name, 'bpfready.io/generated-at': generatedAt, 'bpfready.io/duration-ms': String(durationMs) },
      ownerReferences: [{ apiVersion: 'v1', kind: 'Node', name: node.name, uid: node.uid }],
    },
    binaryData: { 'report.json.br': pack(JSON.stringify(plain)).toString('base64') },
  };
  const kernel: ConfigMapObject[] = [];
  if (kernelView) {
    const key = buildKey(kernelView.build.digest);
    const bytes = pack(JSON.stringify(kernelView));
    const parts = Math.max(1, Math.ceil(bytes.length / PART_BYTES));
    for (let i = 0; i < parts; i++) {
      kernel.push({
        apiVersion: 'v1',
        kind: 'ConfigMap',
        metadata: {
          name: `bpfready-kernel-${key.slice(0, 16)}-${i}`,
          labels: { ...labels, [OBJECT_LABEL]: 'kernel-view', [BUILD_LABEL]: key },
          annotations: { [PARTS_ANNOTATION]: String(parts) },
        },
        binaryData: { [`kernel-view.json.br.${i}`]: bytes.subarray(i * PART_BYTES, (i + 1) * PART_BYTES).toString('base64') },
      });
    }
  }
  return { node: nodeObj, kernel };
}

export interface PublishedNode {
  node: string;
  /** Nodes whose stored report bytes are equal share one key (and one verdict). */
  key: string;
  /** The node's report with its build's kernel view put back, or why it cannot be read. */
  report: ProbeReport | string;
}

/** The nodes' reports from the objects of one LIST (any order); kernel views rejoined per build. */
export function readPublished(items: readonly ConfigMapObject[]): PublishedNode[] {
  const parts = new Map<string, Map<number, Buffer>>();
  const wanted = new Map<string, number>();
  for (const o of items) {
    if (o.metadata.labels?.[OBJECT_LABEL] !== 'kernel-view') continue;
    const key = o.metadata.labels[BUILD_LABEL] ?? '';
    const [file, data] = Object.entries(o.binaryData ?? {})[0] ?? [];
    const i = Number(file?.split('.').at(-1));
    if (data === undefined || !Number.isInteger(i)) continue;
    (parts.get(key) ?? parts.set(key, new Map()).get(key)!).set(i, Buffer.from(data, 'base64'));
    wanted.set(key, Number(o.metadata.annotations?.[PARTS_ANNOTATION] ?? 0));
  }
  const views = new Map<string, KernelViewSection | string>();
  const viewOf = (key: string): KernelViewSection | string => {
    let v = views.get(key);
    if (v !== undefined) return v;
    const got = parts.get(key);
    const n = wanted.get(key) ?? 0;
    if (!got || got.size !== n) v = `kernel view of build ${key}: ${got?.size ?? 0} of ${n || '?'} parts published`;
    else {
      try {
        v = JSON.parse(brotliDecompressSync(Buffer.concat([...Array(n).keys()].map((i) => got.get(i)!))).toString('utf8')) as KernelViewSection;
      } catch (e) {
        v = `kernel view of build ${key} does not decode: ${(e as Error).message}`;
      }
    }
    views.set(key, v);
    return v;
  };
  const out: PublishedNode[] = [];
  const decoded = new Map<string, ProbeReport | string>();
  for (const o of items) {
    if (o.metadata.labels?.[OBJECT_LABEL] !== 'node-report') continue;
    const node = o.metadata.annotations?.[NODE_ANNOTATION] ?? o.metadata.name;
    const body = o.binaryData?.['report.json.br'] ?? '';
    const build = o.metadata.labels[BUILD_LABEL] ?? '';
    const key = `${build}:${createHash('sha256').update(body).digest('hex')}`;
    let report = decoded.get(key);
    if (report === undefined) {
      try {
        const r = JSON.parse(brotliDecompressSync(Buffer.from(body, 'base64')).toString('utf8')) as ProbeReport;
        if (build) {
          const v = viewOf(build);
          // Without its view the report is still judged: what needs one is "unknown", never met.
          if (typeof v !== 'string') r.kernelView = v;
        }
        report = r;
      } catch (e) {
        report = `${o.metadata.name}: the report does not decode: ${(e as Error).message}`;
      }
      decoded.set(key, report);
    }
    out.push({ node, key, report });
  }
  return out.sort((a, b) => (a.node < b.node ? -1 : a.node > b.node ? 1 : 0));
}

/** Creates or replaces each object in `namespace` (a ConfigMap's replace needs no resourceVersion). */
export async function publishReports(api: import('@kubernetes/client-node').CoreV1Api, namespace: string, objs: readonly ConfigMapObject[]): Promise<void> {
  for (const o of objs) {
    const body = { ...o, metadata: { ...o.metadata, namespace } };
    try {
      await api.createNamespacedConfigMap({ namespace, body });
    } catch (e) {
      if ((e as { code?: number }).code !== 409) throw e;
      await api.replaceNamespacedConfigMap({ namespace, name: o.metadata.name, body });
    }
  }
}
