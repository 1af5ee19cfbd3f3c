// The only module that talks to the API server. Everything else gets a NodeApi, so tests can hand in
// a client pointed at the API-server double and the writer stays free of client-library types.
import { ApiException, CoreV1Api, PatchStrategy, setHeaderOptions, Watch, type KubeConfig } from '@kubernetes/client-node';
import { BpfreadyError } from '../base/errors.ts';
import type { NodeView } from './types.ts';

export type WatchEventType = 'ADDED' | 'MODIFIED' | 'DELETED' | 'BOOKMARK' | 'ERROR';

export interface NodeApi {
  read(name: string): Promise<NodeView>;
  /** One page of `GET /api/v1/nodes`: pass `continueToken` from the previous page until it is absent. */
  list(page: { limit?: number; continueToken?: string }): Promise<NodeListPage>;
  /** Strategic merge patch of the Node (metadata, spec). */
  patchNode(name: string, body: object): Promise<NodeView>;
  /** Strategic merge patch of nodes/status: conditions merge by `type`. */
  patchStatus(name: string, body: object): Promise<NodeView>;
  /** Watch one node from `resourceVersion`; `done` is called once, when the stream ends for any reason. */
  watch(
    name: string,
    resourceVersion: string,
    onEvent: (type: WatchEventType, obj: NodeView & { code?: number }) => void,
    done: (err: unknown) => void,
  ): Promise<{ abort(): void }>;
}

export interface NodeListPage {
  items: NodeView[];
  /** The list's metadata.continue; absent on the last page. */
  continueToken?: string;
  resourceVersion?: string;
}

/** An API request failed. `status` is absent for transport errors (reset, refused, timeout). */
export class KubeApiError extends BpfreadyError {
  readonly status: number | undefined;
  readonly retryAfterMs: number | undefined;
  constructor(message: string, status: number | undefined, retryAfterMs: number | undefined, cause: unknown) {
    super('EBPFREADY_KUBE_API', message, { cause });
    this.status = status;
    this.retryAfterMs = retryAfterMs;
  }
}

/** Retry-After is delta-seconds or an HTTP date (RFC 9110 §10.2.3). */
export function parseRetryAfter(v: string | undefined, now: number): number | undefined {
  if (!v) return undefined;
  if (/^\d+$/.test(v.trim())) return Number(v.trim()) * 1000;
  const at = Date.parse(v);
  return Number.isNaN(at) ? undefined : Math.max(0, at - now);
}

export function toKubeApiError(what: string, err: unknown, now = Date.now()): KubeApiError {
  if (err instanceof KubeApiError) return err;
  if (err instanceof ApiException) {
    const headers = (err.headers ?? {}) as Record<string, string>;
    const retry = parseRetryAfter(headers['retry-after'] ?? headers['Retry-After'], now);
    const body = err.body as unknown;
    let msg = '';
    if (typeof body === 'string') {
      try {
        msg = String((JSON.parse(body) as { message?: string }).message ?? body);
      } catch {
        msg = body;
      }
    } else if (body && typeof body === 'object') msg = String((body as { message?: string }).message ?? '');
    return new KubeApiError(`${what}: HTTP ${err.code}${msg ? `: ${msg.slice(0, 300)}` : ''}`, err.code, retry, err);
  }
  const status = (err as { statusCode?: unknown })?.statusCode;
  const cause = (err as { cause?: { code?: string; message?: string } })?.cause;
  const detail = cause?.code ?? cause?.message ?? (err instanceof Error ? err.message : String(err));
  return new KubeApiError(
    `${what}: ${typeof status === 'number' ? `HTTP ${status}` : detail}`,
    typeof status === 'number' ? status : undefined,
    undefined,
    err,
  );
}

// The client deserializes into model classes with Date fields; watch events are plain JSON. Bring
// both to the wire form, with metav1.Time's whole-second RFC 3339, so they compare equal.
function toPlain(node: unknown): NodeView {
  return JSON.parse(
    JSON.stringify(node, (_k, v: unknown) =>
      typeof v === 'string' && /^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.000Z$/.test(v) ? `${v.slice(0, 19)}Z` : v,
    ),
  ) as NodeView;
}

/** One API call, its failure as a KubeApiError naming `what`. */
async function call<T>(what: string, f: () => Promise<T>): Promise<T> {
  try {
    return await f();
  } catch (e) {
    throw toKubeApiError(what, e);
  }
}

export interface NodeApiOptions {
  /** Server-side watch timeout, drawn from [t, 2t) per watch; the server then ends the stream cleanly. */
  watchTimeoutSeconds?: number;
  random?: () => number;
}

export function createNodeApi(kc: KubeConfig, opts: NodeApiOptions = {}): NodeApi {
  const core = kc.makeApiClient(CoreV1Api);
  const smp = setHeaderOptions('Content-Type', PatchStrategy.StrategicMergePatch);
  const watchTimeout = opts.watchTimeoutSeconds ?? 300;
  const random = opts.random ?? Math.random;
  const watcher = new Watch(kc);
  // client-node 2.0.1 aborts a watch after 30 s without bytes; a quiet node sends none, so every
  // node would re-watch twice a minute (167 watch requests/s at 5,000 nodes). Let the server's
  // timeoutSeconds end the stream instead; the field is private in the typings only.
  (watcher as unknown as { requestTimeoutMs: number }).requestTimeoutMs = (2 * watchTimeout + 60) * 1000;
  return {
    read: (name) => call(`GET node ${name}`, async () => toPlain(await core.readNode({ name }))),
    list: (page) =>
      call('LIST nodes', async () => {
        const l = await core.listNode({
          ...(page.limit ? { limit: page.limit } : {}),
          ...(page.continueToken ? { _continue: page.continueToken } : {}),
        });
        const out: NodeListPage = { items: (l.items ?? []).map(toPlain) };
        if (l.metadata?._continue) out.continueToken = l.metadata._continue;
        if (l.metadata?.resourceVersion) out.resourceVersion = l.metadata.resourceVersion;
        return out;
      }),
    patchNode: (name, body) => call(`PATCH node ${name}`, async () => toPlain(await core.patchNode({ name, body }, smp))),
    patchStatus: (name, body) => call(`PATCH node ${name}/status`, async () => toPlain(await core.patchNodeStatus({ name, body }, smp))),
    watch: async (name, resourceVersion, onEvent, done) => {
      const ctl = await watcher.watch(
        '/api/v1/nodes',
        // Random per watch, as client-go's reflector does: nodes that started together must not all
        // re-watch in the same second, every period, forever.
        {
          fieldSelector: `metadata.name=${name}`,
          resourceVersion,
          allowWatchBookmarks: true,
          timeoutSeconds: Math.floor(watchTimeout * (1 + random())),
        },
        (type, obj) => onEvent(type as WatchEventType, obj as NodeView & { code?: number }),
        (err) => done(err ? toKubeApiError(`WATCH node ${name}`, err) : null),
      );
      return { abort: () => ctl.abort() };
    },
  };
}

/** A ConfigMap as the report writer reads it back: what it needs to tell ours from another's. */
export interface ConfigMapView {
  metadata?: { name?: string; labels?: Record<string, string>; annotations?: Record<string, string> };
  binaryData?: Record<string, string>;
}

/** The ConfigMaps of one namespace, for the node reports `bpfready nodes` reads (src/publish/reports.ts). */
export interface ConfigMapApi {
  readonly namespace: string;
  /** undefined when there is no such object (404). */
  get(name: string): Promise<ConfigMapView | undefined>;
  create(body: object): Promise<void>;
  /** An unconditional replace (no resourceVersion): for objects only we write. */
  replace(name: string, body: object): Promise<void>;
  /** Gone already (404) is success. */
  delete(name: string): Promise<void>;
  /** One page of the namespace's ConfigMaps matching `labelSelector`; pass `continueToken` on until it is absent. */
  list(page: {
    labelSelector: string;
    limit?: number;
    continueToken?: string;
  }): Promise<{ items: ConfigMapView[]; continueToken?: string }>;
}

export function createConfigMapApi(kc: KubeConfig, namespace: string): ConfigMapApi {
  const core = kc.makeApiClient(CoreV1Api);
  return {
    namespace,
    get: (name) =>
      call(`GET configmap ${namespace}/${name}`, async () => {
        try {
          return JSON.parse(JSON.stringify(await core.readNamespacedConfigMap({ namespace, name }))) as ConfigMapView;
        } catch (e) {
          if (e instanceof ApiException && e.code === 404) return undefined;
          throw e;
        }
      }),
    create: (body) =>
      call(`CREATE configmap in ${namespace}`, async () => void (await core.createNamespacedConfigMap({ namespace, body }))),
    replace: (name, body) =>
      call(`PUT configmap ${namespace}/${name}`, async () => void (await core.replaceNamespacedConfigMap({ namespace, name, body }))),
    list: (page) =>
      call(`LIST configmaps in ${namespace}`, async () => {
        const l = await core.listNamespacedConfigMap({
          namespace,
          labelSelector: page.labelSelector,
          ...(page.limit ? { limit: page.limit } : {}),
          ...(page.continueToken ? { _continue: page.continueToken } : {}),
        });
        const out: { items: ConfigMapView[]; continueToken?: string } = { items: (l.items ?? []) as ConfigMapView[] };
        if (l.metadata?._continue) out.continueToken = l.metadata._continue;
        return out;
      }),
    delete: (name) =>
      call(`DELETE configmap ${namespace}/${name}`, async () => {
        try {
          await core.deleteNamespacedConfigMap({ namespace, name });
        } catch (e) {
          if (!(e instanceof ApiException && e.code === 404)) throw e;
        }
      }),
  };
}
