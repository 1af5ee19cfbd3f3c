// What the daemon publishes so that `bpfready nodes` can judge any object for any node without
// reaching it (docs/kubernetes.md "Reports for bpfready nodes"): ConfigMaps in our namespace, all
// labelled app.kubernetes.io/managed-by=bpfready and bpfready.io/object, read with one paginated
// LIST by that label.
//   - per node, `bpfready-node-<node>`: the probe report without its kernel view (brotli, ~20 KB),
//     owned by the Node (the garbage collector removes it with the Node);
//   - per kernel build, the kernel view in parts of at most 768 KiB (a ConfigMap holds at most
//     1 MiB), `bpfready-kernel-<build>-<set>-<i>`, where <set> names the parts' content; and the
//     build's index `bpfready-kernel-<build>`, created after its parts, naming the one set readers
//     use. Nodes of one build that start together may each write a set (module functions differ
//     from node to node); the first index created wins and the others remove their parts.
// nodeReportObject(), kernelViewObjects() and readPublished() are pure; ReportWriter is the daemon's writer.
import { createHash } from 'node:crypto';
import { Backoff } from '../base/backoff.ts';
import type { Logger } from 'pino';
import { brotliDecompressSync } from 'node:zlib';
import type { KernelViewSection, ProbeReport } from '../contract/report.ts';
import { KubeApiError, type ConfigMapApi, type ConfigMapView } from './client.ts';
import { pack, packedViewProblem, packKernelView, type PackedKernelView } from './packed-view.ts';
import { SerialRunner } from './serial.ts';
import type { Clock } from './types.ts';

export { packedViewProblem, packKernelView, type PackedKernelView } from './packed-view.ts';

export const MANAGED_BY = 'app.kubernetes.io/managed-by';
export const OBJECT_LABEL = 'bpfready.io/object';
export const BUILD_LABEL = 'bpfready.io/kernel-build';
export const SET_LABEL = 'bpfready.io/kernel-view-set';
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
  binaryData?: Record<string, string>;
}

/** Label values are at most 63 characters: the digest's first 40 hex digits name the build. */
export const buildKey = (digest: string): string => digest.replace(/^sha256:/, '').slice(0, 40);
/** The name of a build's index object; its parts are `<index>-<set>-<i>`. */
export const kernelIndexName = (digest: string): string => `bpfready-kernel-${buildKey(digest).slice(0, 16)}`;

/** A DNS-1123 object name for a node's report; long node names are cut and told apart by a hash. */
export function nodeObjectName(node: string): string {
  const name = `bpfready-node-${node}`;
  return name.length <= 253 ? name : `${name.slice(0, 236)}-${createHash('sha256').update(node).digest('hex').slice(0, 16)}`;
}

/**
 * What a node's report object stores: the report without its kernel view and its timestamps. What
 * changes every probe goes into annotations: nodes that probe alike store the same bytes, which
 * `bpfready nodes` decodes and judges once.
 */
export function nodeReportJson(report: ProbeReport): string {
  const { kernelView: _view, generatedAt: _at, durationMs: _ms, ...plain } = report;
  return JSON.stringify(plain);
}

/**
 * The node's report object. Its kernel view is not in it: `digest` (or the report's own view) names
 * the build whose view readers join it with.
 */
export function nodeReportObject(
  report: ProbeReport,
  node: { name: string; uid: string },
  digest = report.kernelView?.build.digest,
  json = nodeReportJson(report),
): ConfigMapObject {
  const { generatedAt, durationMs } = report;
  return {
    apiVersion: 'v1',
    kind: 'ConfigMap',
    metadata: {
      name: nodeObjectName(node.name),
      labels: { [MANAGED_BY]: 'bpfready', [OBJECT_LABEL]: 'node-report', ...(digest ? { [BUILD_LABEL]: buildKey(digest) } : {}) },
      annotations: { [NODE_ANNOTATION]: node.name, 'bpfready.io/generated-at': generatedAt, 'bpfready.io/duration-ms': String(durationMs) },
      ownerReferences: [{ apiVersion: 'v1', kind: 'Node', name: node.name, uid: node.uid }],
    },
    binaryData: { 'report.json.br': pack(json).toString('base64') },
  };
}

/** A build's kernel view as its parts, then its index (create them in this order). */
export function kernelViewObjects(view: KernelViewSection | PackedKernelView): ConfigMapObject[] {
  const { digest, release, bytes, set } = 'bytes' in view ? view : packKernelView(view);
  const key = buildKey(digest);
  const index = kernelIndexName(digest);
  const buf = Buffer.from(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  const parts = Math.max(1, Math.ceil(bytes.length / PART_BYTES));
  const labels = { [MANAGED_BY]: 'bpfready', [BUILD_LABEL]: key, [SET_LABEL]: set };
  const out: ConfigMapObject[] = [];
  for (let i = 0; i < parts; i++) {
    out.push({
      apiVersion: 'v1',
      kind: 'ConfigMap',
      metadata: {
        name: `${index}-${set}-${i}`,
        labels: { ...labels, [OBJECT_LABEL]: 'kernel-view' },
        annotations: { [PARTS_ANNOTATION]: String(parts) },
      },
      binaryData: { [`kernel-view.json.br.${i}`]: buf.subarray(i * PART_BYTES, (i + 1) * PART_BYTES).toString('base64') },
    });
  }
  out.push({
    apiVersion: 'v1',
    kind: 'ConfigMap',
    metadata: {
      name: index,
      labels: { ...labels, [OBJECT_LABEL]: 'kernel-index' },
      annotations: { [PARTS_ANNOTATION]: String(parts), 'bpfready.io/release': release },
    },
  });
  return out;
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
  // Parts by build and set; per build, the set its index names.
  const parts = new Map<string, Map<number, Buffer>>();
  const chosen = new Map<string, { set: string; n: number }>();
  for (const o of items) {
    const kind = o.metadata.labels?.[OBJECT_LABEL];
    const key = o.metadata.labels?.[BUILD_LABEL] ?? '';
    const set = o.metadata.labels?.[SET_LABEL] ?? '';
    if (kind === 'kernel-index') chosen.set(key, { set, n: Number(o.metadata.annotations?.[PARTS_ANNOTATION] ?? 0) });
    if (kind !== 'kernel-view') continue;
    const [file, data] = Object.entries(o.binaryData ?? {})[0] ?? [];
    const i = Number(file?.split('.').at(-1));
    if (data === undefined || !Number.isInteger(i)) continue;
    const k = `${key}/${set}`;
    (parts.get(k) ?? parts.set(k, new Map()).get(k)!).set(i, Buffer.from(data, 'base64'));
  }
  const views = new Map<string, KernelViewSection | string>();
  const viewOf = (key: string): KernelViewSection | string => {
    let v = views.get(key);
    if (v !== undefined) return v;
    const index = chosen.get(key);
    const got = index && parts.get(`${key}/${index.set}`);
    if (!index) v = `kernel view of build ${key}: no index published yet`;
    else if (!got || got.size !== index.n) v = `kernel view of build ${key}: ${got?.size ?? 0} of ${index.n} parts published`;
    else {
      try {
        v = JSON.parse(
          brotliDecompressSync(Buffer.concat([...Array(index.n).keys()].map((i) => got.get(i) ?? Buffer.alloc(0)))).toString('utf8'),
        ) as KernelViewSection;
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

export interface ReportWriterOptions {
  api: ConfigMapApi;
  nodeName: string;
  /** The Node's uid, for the owner reference that lets the garbage collector remove the report with it. */
  nodeUid: () => Promise<string>;
  /** The running kernel's build digest (vmlinux BTF does not change while the kernel runs: read once). */
  buildDigest: (report: ProbeReport) => Promise<string>;
  /**
   * The running kernel's view, packed: costly (about a second), collected only when no node of the
   * build has published one. Its failure delays the view (retried with backoff), never the node
   * report. `signal` is aborted when the writer is closed.
   */
  kernelView: (report: ProbeReport, signal: AbortSignal) => Promise<PackedKernelView>;
  /**
   * Called after a pass that collected a view or packed a node report, to return the memory that
   * took (the daemon passes releaseMemory, src/daemon/memory.ts).
   */
  afterWork?: () => void;
  logger: Logger;
  clock: Clock;
  random: () => number;
  backoff?: { baseMs: number; maxMs: number };
}

const isOurs = (o: ConfigMapView | undefined): boolean => o?.metadata?.labels?.[MANAGED_BY] === 'bpfready';
const errorText = (e: unknown): string => (e instanceof Error ? e.message : String(e)).replace(/\s*\n\s*/g, ' ');

/**
 * Keeps this node's report object equal to its latest report, and its build's kernel view published
 * once. Writes only when the report's facts change (its timestamps live in annotations and do not
 * count), never replaces a ConfigMap that is not ours, and retries failed writes with backoff. The
 * view has a backoff of its own: while it cannot be collected or written, the node report is kept
 * up to date without it (readers then judge what needs a view "unknown").
 */
export class ReportWriter {
  private readonly o: ReportWriterOptions;
  private readonly runner: SerialRunner;
  private desired: ProbeReport | undefined;
  private uid: string | undefined;
  private digest: string | undefined;
  /** The build whose view is known to be published (by us or another node). */
  private viewDone: string | undefined;
  /** The pending retry of a view that failed (the other passes meanwhile skip it). */
  private viewRetry: unknown;
  /** The sha256 of the report JSON last written (or found) in our object. */
  private written: string | undefined;
  private readonly backoff: Backoff;
  private readonly viewBackoff: Backoff;
  private started = false;
  private closed = false;
  private readonly stopping = new AbortController();
  private announced = false;
  writes = 0;
  viewsCollected = 0;

  constructor(opts: ReportWriterOptions) {
    this.o = opts;
    this.runner = new SerialRunner(() => this.sync(), opts.clock);
    const policy = { ...(opts.backoff ?? { baseMs: 500, maxMs: 60_000 }), jitter: 'equal' as const };
    this.backoff = new Backoff(policy, opts.random);
    this.viewBackoff = new Backoff(policy, opts.random);
  }

  set(report: ProbeReport): void {
    this.desired = report;
    if (this.started) this.runner.kick();
  }

  /** First pass after `delayMs` (the publisher's start jitter); set() before then only records. */
  start(delayMs: number): void {
    this.started = true;
    this.runner.retryIn(delayMs);
  }

  close(): void {
    this.closed = true;
    this.stopping.abort();
    this.o.clock.clearTimeout(this.viewRetry);
    this.viewRetry = undefined;
    this.runner.close();
  }

  /** Resolves once every report set so far has been written (or its retry is pending no longer); a view's retry may still be pending. */
  idle(): Promise<void> {
    return this.runner.idle();
  }

  private async sync(): Promise<void> {
    const report = this.desired;
    if (!report) return;
    const { api, logger } = this.o;
    let worked = false;
    let announce: { writes: number; kernelView: boolean } | undefined;
    try {
      const digest = (this.digest ??= await this.o.buildDigest(report));
      if (this.viewDone !== digest && this.viewRetry === undefined) {
        try {
          worked = await this.publishView(report, digest);
          this.viewDone = digest;
          this.viewBackoff.reset();
        } catch (e) {
          // Closed meanwhile (the daemon stopping killed the collector): nothing to retry, nothing to say.
          if (!this.closed) {
            const delay = this.viewBackoff.next(e instanceof KubeApiError ? (e.retryAfterMs ?? 0) : 0);
            logger.warn({ err: `kernel view: ${errorText(e)}`, retryInMs: Math.round(delay) }, 'kernel view publish failed; will retry');
            this.viewRetry = this.o.clock.setTimeout(() => {
              this.viewRetry = undefined;
              this.runner.kick();
            }, delay);
          }
        }
      }
      this.uid ??= await this.o.nodeUid();
      // The JSON's hash decides whether to write: a re-probe that changed nothing packs nothing.
      const json = nodeReportJson(report);
      const hash = createHash('sha256').update(json).digest('hex');
      if (hash !== this.written) {
        worked = true;
        const obj = nodeReportObject(report, { name: this.o.nodeName, uid: this.uid }, digest, json);
        const body = { ...obj, metadata: { ...obj.metadata, namespace: api.namespace } };
        try {
          await api.create(body);
        } catch (e) {
          if (!(e instanceof KubeApiError && e.status === 409)) throw e;
          const current = await api.get(obj.metadata.name);
          if (current && !isOurs(current)) {
            throw new KubeApiError(
              `configmap ${api.namespace}/${obj.metadata.name} exists and is not bpfready's (no ${MANAGED_BY}=bpfready label): left alone`,
              409,
              undefined,
              e,
            );
          }
          // Ours from before this start (or a re-created Node's, whose uid the replace brings up to date).
          await api.replace(obj.metadata.name, body);
        }
        this.writes++;
        this.written = hash;
        if (!this.announced) announce = { writes: this.writes, kernelView: this.viewDone === digest };
      }
      this.backoff.reset();
    } catch (e) {
      const err = e instanceof KubeApiError ? e : new KubeApiError(`node report: ${errorText(e)}`, undefined, undefined, e);
      const delay = this.backoff.next(err.retryAfterMs ?? 0);
      logger.warn({ err: err.message, retryInMs: Math.round(delay) }, 'node report update failed; will retry');
      this.runner.retryIn(delay);
    } finally {
      if (worked) this.o.afterWork?.();
    }
    // The first write of this start, after the memory of its pass was returned: the line the in-pod
    // test (test/container/image.test.ts) measures the daemon after.
    if (announce) {
      this.announced = true;
      logger.info(announce, 'node report published');
    }
  }

  /** The build's view: already indexed → nothing (false); else collect it, write its parts, then the index (true). */
  private async publishView(report: ProbeReport, digest: string): Promise<boolean> {
    const { api, logger } = this.o;
    const index = kernelIndexName(digest);
    if (await api.get(index)) return false;
    const t0 = Date.now();
    const view = await this.o.kernelView(report, this.stopping.signal);
    this.viewsCollected++;
    const problem = packedViewProblem(view);
    if (problem) throw new Error(`the collected view is unusable: ${problem}`);
    if (view.digest !== digest) throw new Error(`the kernel view's build ${view.digest} is not the running build ${digest}`);
    const collectMs = Date.now() - t0;
    const objs = kernelViewObjects(view).map((o) => ({ ...o, metadata: { ...o.metadata, namespace: api.namespace } }));
    const create = async (o: ConfigMapObject): Promise<boolean> => {
      try {
        await api.create(o);
        this.writes++;
        return true;
      } catch (e) {
        // A part of the same name holds the same bytes (the name carries their hash).
        if (e instanceof KubeApiError && e.status === 409) return false;
        throw e;
      }
    };
    for (const o of objs.slice(0, -1)) await create(o);
    if (!(await create(objs.at(-1)!))) {
      // Another node's index came first: its set is the build's; ours would only be garbage.
      const winner = await api.get(index);
      const ours = objs.at(-1)!.metadata.labels[SET_LABEL];
      if (winner && winner.metadata?.labels?.[SET_LABEL] !== ours) {
        for (const o of objs.slice(0, -1)) await api.delete(o.metadata.name);
      }
      return true;
    }
    logger.info({ build: buildKey(digest), parts: objs.length - 1, bytes: view.bytes.length, collectMs }, 'kernel view published');
    return true;
  }
}
