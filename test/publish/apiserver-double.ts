// A DOUBLE of the Kubernetes API server, for the Node paths bpfready uses. It is a real HTTP server
// on 127.0.0.1 speaking the wire protocol @kubernetes/client-node speaks (JSON bodies, patch content
// types, Status objects for errors, newline-delimited watch events), so the real client is exercised
// end to end. What it models and what it does not is listed in docs/kubernetes.md.
import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import type { AddressInfo, Socket } from 'node:net';
import { randomUUID } from 'node:crypto';
import { isDeepStrictEqual } from 'node:util';
import { KubeConfig } from '@kubernetes/client-node';
import { jsonMergePatch, PatchError, strategicMergePatch } from './patch.ts';

type Obj = Record<string, unknown>;
export interface NodeObject {
  apiVersion?: string;
  kind?: string;
  metadata: {
    name: string;
    resourceVersion?: string;
    labels?: Record<string, string>;
    annotations?: Record<string, string>;
    [k: string]: unknown;
  };
  spec?: { taints?: { key: string; value?: string; effect: string }[]; [k: string]: unknown };
  status?: { conditions?: { type: string; status: string; [k: string]: unknown }[]; [k: string]: unknown };
}

/** One injected fault. It applies to the next `times` requests that match, then is spent. */
export interface Fault {
  method?: string;
  /** Substring or pattern of the URL path (query excluded). */
  path?: string | RegExp;
  /** Match only watch requests (true) or only non-watch requests (false). */
  watch?: boolean;
  kind: 'status' | 'reset' | 'gone';
  status?: number;
  /** The Status message (default "injected fault <status>"), e.g. an admission policy's refusal. */
  message?: string;
  retryAfterSeconds?: number;
  times?: number;
}

export interface RequestRecord {
  method: string;
  path: string;
  query: string;
  watch: boolean;
  contentType?: string;
  status: number;
  at: number;
}

interface Watcher {
  name?: string;
  res: ServerResponse;
}

const NODE_PATH = /^\/api\/v1\/nodes\/([^/]+)(\/status)?$/;
// Namespaced custom resources (NodeFeature): /apis/{group}/{version}/namespaces/{ns}/{plural}[/{name}]
const CUSTOM_PATH = /^\/apis\/([^/]+)\/([^/]+)\/namespaces\/([^/]+)\/([^/]+)(?:\/([^/]+))?$/;
// Namespaced core objects bpfready stores as the custom ones: /api/v1/namespaces/{ns}/configmaps[/{name}]
const CONFIGMAP_PATH = /^\/api\/(v1)\/namespaces\/([^/]+)\/(configmaps)(?:\/([^/]+))?$/;
const LABEL_NAME = /^[A-Za-z0-9]([-A-Za-z0-9_.]*[A-Za-z0-9])?$/;

/** An RBAC PolicyRule as a ClusterRole or Role carries it (rbac.authorization.k8s.io/v1). */
export interface PolicyRule {
  apiGroups?: string[];
  resources?: string[];
  verbs: string[];
  resourceNames?: string[];
}

/**
 * What RBAC grants the client: the rules of the ClusterRoles bound to it, and of the Roles bound
 * to it per namespace. A request none of them grants is answered 403 Forbidden with the Status
 * the API server sends (its message and details), as the real authorizer does.
 */
export interface Rbac {
  user: string;
  clusterRules: PolicyRule[];
  namespaceRules?: Record<string, PolicyRule[]>;
}

/** The RBAC attributes of a request, as the API server's request-info resolver derives them. */
export interface RequestAttributes {
  verb: string;
  apiGroup: string;
  resource: string;
  subresource: string;
  name: string;
  namespace: string;
}

export function requestAttributes(method: string, path: string, watch: boolean): RequestAttributes | undefined {
  const core = /^\/api\/v1(?:\/namespaces\/([^/]+))?\/([^/]+)(?:\/([^/]+))?(?:\/([^/]+))?$/.exec(path);
  const group = /^\/apis\/([^/]+)\/[^/]+(?:\/namespaces\/([^/]+))?\/([^/]+)(?:\/([^/]+))?(?:\/([^/]+))?$/.exec(path);
  const [apiGroup, namespace, resource, name, subresource] = core
    ? ['', core[1], core[2], core[3], core[4]]
    : group
      ? [group[1], group[2], group[3], group[4], group[5]]
      : [];
  if (resource === undefined) return undefined;
  const verbs: Record<string, string> = { POST: 'create', PUT: 'update', PATCH: 'patch', DELETE: name ? 'delete' : 'deletecollection' };
  const verb = method === 'GET' ? (watch ? 'watch' : name ? 'get' : 'list') : (verbs[method] ?? method.toLowerCase());
  return {
    verb,
    apiGroup: apiGroup!,
    resource,
    subresource: subresource ?? '',
    name: decodeURIComponent(name ?? ''),
    namespace: namespace ?? '',
  };
}

const grants = (r: PolicyRule, a: RequestAttributes): boolean => {
  const res = a.subresource ? `${a.resource}/${a.subresource}` : a.resource;
  const has = (list: string[] | undefined, v: string): boolean => (list ?? []).some((x) => x === '*' || x === v);
  return (
    has(r.verbs, a.verb) &&
    has(r.apiGroups, a.apiGroup) &&
    has(r.resources, res) &&
    (!r.resourceNames?.length || (a.name !== '' && r.resourceNames.includes(a.name)))
  );
};

export function authorized(rbac: Rbac, a: RequestAttributes): boolean {
  return (
    rbac.clusterRules.some((r) => grants(r, a)) ||
    (a.namespace !== '' && (rbac.namespaceRules?.[a.namespace] ?? []).some((r) => grants(r, a)))
  );
}

/** The API server's 403 message, word for word (k8s.io/apiserver's forbidden responder). */
export function forbiddenMessage(user: string, a: RequestAttributes): string {
  const res = a.subresource ? `${a.resource}/${a.subresource}` : a.resource;
  // errors.NewForbidden names the group-qualified resource, without the subresource.
  const qualified = a.apiGroup ? `${a.resource}.${a.apiGroup}` : a.resource;
  const what = a.name ? `${qualified} "${a.name}"` : qualified;
  const scope = a.namespace ? `in the namespace "${a.namespace}"` : 'at the cluster scope';
  return `${what} is forbidden: User "${user}" cannot ${a.verb} resource "${res}" in API group "${a.apiGroup}" ${scope}`;
}

export class ApiServerDouble {
  /** Enforce RBAC (undefined: every request is allowed, as for a cluster admin). */
  rbac: Rbac | undefined;
  private server: Server;
  private sockets = new Set<Socket>();
  private nodes = new Map<string, NodeObject>();
  private rv = 1;
  /** Events kept for watches that resume from a resourceVersion; older ones answer 410 Gone. */
  private history: { rv: number; type: string; object: NodeObject }[] = [];
  private watchers = new Set<Watcher>();
  private faults: (Fault & { left: number })[] = [];
  readonly historyLimit: number;
  /** Every request, for assertions. Turn off for large simulations with `recordRequests = false`. */
  recordRequests = true;
  readonly requests: RequestRecord[] = [];
  /** Counters by "METHOD kind" (kind: node, status, watch), always kept. */
  readonly counts = new Map<string, number>();
  private bookmarkTimer: NodeJS.Timeout | undefined;
  url = '';

  constructor(opts: { historyLimit?: number; bookmarkIntervalMs?: number } = {}) {
    this.historyLimit = opts.historyLimit ?? 1000;
    this.server = createServer((req, res) => void this.handle(req, res));
    this.server.keepAliveTimeout = 60_000;
    this.server.on('connection', (s) => {
      this.sockets.add(s);
      s.on('close', () => this.sockets.delete(s));
    });
    if (opts.bookmarkIntervalMs) {
      this.bookmarkTimer = setInterval(() => this.bookmark(), opts.bookmarkIntervalMs);
      this.bookmarkTimer.unref();
    }
  }

  async start(): Promise<string> {
    await new Promise<void>((resolve) => this.server.listen(0, '127.0.0.1', resolve));
    this.url = `http://127.0.0.1:${(this.server.address() as AddressInfo).port}`;
    return this.url;
  }

  async close(): Promise<void> {
    clearInterval(this.bookmarkTimer);
    for (const w of this.watchers) w.res.end();
    for (const s of this.sockets) s.destroy();
    await new Promise<void>((resolve) => this.server.close(() => resolve()));
  }

  kubeConfig(): KubeConfig {
    const kc = new KubeConfig();
    kc.loadFromOptions({
      clusters: [{ name: 'double', server: this.url, skipTLSVerify: true }],
      users: [{ name: 'bpfready', token: 'double-token' }],
      contexts: [{ name: 'double', cluster: 'double', user: 'bpfready' }],
      currentContext: 'double',
    });
    return kc;
  }

  addNode(node: NodeObject): NodeObject {
    const n = structuredClone(node);
    n.apiVersion = 'v1';
    n.kind = 'Node';
    n.metadata.resourceVersion = String(++this.rv);
    // Every object the real server stores has a uid, new for each creation (ownerReferences name it).
    n.metadata.uid = randomUUID();
    this.nodes.set(n.metadata.name, n);
    this.emit('ADDED', n);
    return structuredClone(n);
  }

  /**
   * The node is deleted (a cloud instance replaced, `kubectl delete node`): DELETED, then 404 on GET.
   * The garbage collector then deletes every custom object all of whose owners are gone (background
   * propagation, the default); done here at once, where the real one takes a moment.
   */
  deleteNode(name: string): void {
    const n = this.node(name);
    this.nodes.delete(name);
    n.metadata.resourceVersion = String(++this.rv);
    this.emit('DELETED', n);
    const live = new Set([...this.nodes.values()].map((x) => x.metadata['uid']));
    for (const [key, o] of this.customs) {
      const refs = ((o.metadata as Obj)['ownerReferences'] ?? []) as { uid: string }[];
      if (refs.length > 0 && refs.every((r) => !live.has(r.uid))) this.customs.delete(key);
    }
  }

  node(name: string): NodeObject {
    const n = this.nodes.get(name);
    if (!n) throw new Error(`double: no node ${name}`);
    return structuredClone(n);
  }

  /** Someone else (kubectl, another controller) changes the node: a new resourceVersion and a watch event. */
  edit(name: string, change: (n: NodeObject) => void): NodeObject {
    const n = this.node(name);
    change(n);
    return this.commit(name, n);
  }

  inject(fault: Fault): void {
    this.faults.push({ ...fault, left: fault.times ?? 1 });
  }

  /** End every open watch as the server does when its timeout expires. */
  closeWatches(): void {
    for (const w of this.watchers) w.res.end();
    this.watchers.clear();
  }

  /** An API server restart as clients see it: every connection, watches included, is cut. */
  dropConnections(): void {
    for (const s of this.sockets) s.destroy();
  }

  get watchCount(): number {
    return this.watchers.size;
  }

  get resourceVersion(): number {
    return this.rv;
  }

  count(key: string): number {
    return this.counts.get(key) ?? 0;
  }

  /** Writes = PATCHes that changed an object (no-op patches change nothing and emit no event, as in the real server). */
  writes = 0;

  private commit(name: string, n: NodeObject): NodeObject {
    n.metadata.resourceVersion = String(++this.rv);
    this.nodes.set(name, n);
    this.writes++;
    this.emit('MODIFIED', n);
    return structuredClone(n);
  }

  private emit(type: string, object: NodeObject): void {
    this.history.push({ rv: Number(object.metadata.resourceVersion), type, object: structuredClone(object) });
    if (this.history.length > this.historyLimit) this.history.splice(0, this.history.length - this.historyLimit);
    const line = JSON.stringify({ type, object }) + '\n';
    for (const w of this.watchers) if (!w.name || w.name === object.metadata.name) this.deliver(w, line);
  }

  private held: { w: Watcher; line: string }[] | undefined;

  /** Delay watch delivery (a slow watch cache), so a client acts on a stale view; release() sends. */
  holdWatchEvents(): void {
    this.held ??= [];
  }

  releaseWatchEvents(): void {
    const held = this.held ?? [];
    this.held = undefined;
    for (const { w, line } of held) w.res.write(line);
  }

  private deliver(w: Watcher, line: string): void {
    if (this.held) this.held.push({ w, line });
    else w.res.write(line);
  }

  private bookmark(): void {
    for (const w of this.watchers) {
      w.res.write(
        JSON.stringify({ type: 'BOOKMARK', object: { kind: 'Node', apiVersion: 'v1', metadata: { resourceVersion: String(this.rv) } } }) +
          '\n',
      );
    }
  }

  private takeFault(method: string, path: string, watch: boolean): Fault | undefined {
    const i = this.faults.findIndex(
      (f) =>
        (!f.method || f.method === method) &&
        (f.watch === undefined || f.watch === watch) &&
        (!f.path || (typeof f.path === 'string' ? path.includes(f.path) : f.path.test(path))),
    );
    if (i < 0) return undefined;
    const f = this.faults[i]!;
    if (--f.left <= 0) this.faults.splice(i, 1);
    return f;
  }

  private async handle(req: IncomingMessage, res: ServerResponse): Promise<void> {
    const url = new URL(req.url ?? '/', 'http://double');
    const method = req.method ?? 'GET';
    const watch = url.searchParams.get('watch') === 'true' || url.searchParams.get('watch') === '1';
    const m = NODE_PATH.exec(url.pathname);
    const kind = watch ? 'watch' : m?.[2] ? 'status' : url.pathname === '/api/v1/nodes' ? 'list' : 'node';
    this.counts.set(`${method} ${kind}`, (this.counts.get(`${method} ${kind}`) ?? 0) + 1);
    const body = await readBody(req);
    const record = (status: number): void => {
      if (this.recordRequests) {
        const r: RequestRecord = { method, path: url.pathname, query: url.search, watch, status, at: Date.now() };
        if (req.headers['content-type']) r.contentType = req.headers['content-type'];
        this.requests.push(r);
      }
    };

    // dryRun=All: admission and validation run, nothing is stored (the only value the API has).
    const dryRun = url.searchParams.getAll('dryRun');
    if (dryRun.some((v) => v !== 'All')) {
      record(400);
      return sendStatus(res, 400, 'BadRequest', `Invalid dry run value: ${dryRun.join(',')} (supported: All)`);
    }
    const attrs = this.rbac ? requestAttributes(method, url.pathname, watch) : undefined;
    if (this.rbac && attrs && !authorized(this.rbac, attrs)) {
      record(403);
      const details = {
        ...(attrs.name ? { name: attrs.name } : {}),
        ...(attrs.apiGroup ? { group: attrs.apiGroup } : {}),
        kind: attrs.resource,
      };
      return sendJson(res, 403, { ...statusBody(403, 'Forbidden', forbiddenMessage(this.rbac.user, attrs)), details });
    }
    const fault = this.takeFault(method, url.pathname, watch);
    if (fault?.kind === 'reset') {
      record(0);
      req.socket.destroy();
      return;
    }
    if (fault?.kind === 'status') {
      const code = fault.status ?? 500;
      const headers: Record<string, string> = {};
      if (fault.retryAfterSeconds !== undefined) headers['Retry-After'] = String(fault.retryAfterSeconds);
      record(code);
      const reason = code === 429 ? 'TooManyRequests' : code === 409 ? 'Conflict' : code === 403 ? 'Forbidden' : 'InternalError';
      return sendStatus(res, code, reason, fault.message ?? `injected fault ${code}`, headers);
    }

    if (method === 'GET' && url.pathname === '/api/v1/nodes' && watch) {
      record(200);
      return this.startWatch(url, res, fault?.kind === 'gone');
    }
    if (method === 'GET' && url.pathname === '/api/v1/nodes') return this.list(url, record, res);
    const cm = CUSTOM_PATH.exec(url.pathname);
    if (cm) return this.custom(method, cm, body, record, res, url);
    const core = CONFIGMAP_PATH.exec(url.pathname);
    if (core)
      return this.custom(method, ['', '', core[1]!, core[2]!, core[3]!, core[4]!] as unknown as RegExpExecArray, body, record, res, url);
    if (!m) {
      record(404);
      return sendStatus(res, 404, 'NotFound', `the server could not find the requested resource`);
    }
    const name = decodeURIComponent(m[1]!);
    const current = this.nodes.get(name);
    if (!current) {
      record(404);
      return sendStatus(res, 404, 'NotFound', `nodes "${name}" not found`);
    }
    if (method === 'GET') {
      record(200);
      return sendJson(res, 200, current);
    }
    if (method !== 'PATCH') {
      record(405);
      return sendStatus(res, 405, 'MethodNotAllowed', `${method} is not supported by the double`);
    }

    let patch: unknown;
    try {
      patch = JSON.parse(body);
    } catch {
      record(400);
      return sendStatus(res, 400, 'BadRequest', 'the body of the request was in an unknown format');
    }
    const ctype = (req.headers['content-type'] ?? '').split(';')[0]!.trim();
    let merged: NodeObject;
    try {
      if (ctype === 'application/strategic-merge-patch+json') merged = strategicMergePatch(current, patch) as NodeObject;
      else if (ctype === 'application/merge-patch+json') merged = jsonMergePatch(current, patch) as NodeObject;
      else {
        record(415);
        return sendStatus(
          res,
          415,
          'UnsupportedMediaType',
          `the body of the request was in an unknown format - accepted media types include: application/merge-patch+json, application/strategic-merge-patch+json (double)`,
        );
      }
    } catch (e) {
      record(422);
      return sendStatus(res, 422, 'Invalid', e instanceof PatchError ? e.message : String(e));
    }

    // A resourceVersion in the patch is a precondition, as in the real server's update path.
    const wanted = (patch as { metadata?: { resourceVersion?: unknown } })?.metadata?.resourceVersion;
    if (wanted !== undefined && wanted !== current.metadata.resourceVersion) {
      record(409);
      return sendStatus(
        res,
        409,
        'Conflict',
        `Operation cannot be fulfilled on nodes "${name}": the object has been modified; please apply your changes to the latest version and try again`,
      );
    }
    // The status subresource keeps everything but status; the main resource ignores status (the
    // node registry strategies' PrepareForUpdate).
    const next: NodeObject = structuredClone(current);
    if (m[2]) next.status = merged.status ?? {};
    else {
      next.metadata = { ...merged.metadata, name, resourceVersion: current.metadata.resourceVersion! };
      next.spec = merged.spec ?? {};
    }
    const invalid = validateNode(next);
    if (invalid) {
      record(422);
      return sendStatus(res, 422, 'Invalid', `Node "${name}" is invalid: ${invalid}`);
    }
    if (isDeepStrictEqual(next, current)) {
      record(200);
      return sendJson(res, 200, current);
    }
    record(200);
    if (dryRun.length > 0) return sendJson(res, 200, next);
    sendJson(res, 200, this.commit(name, next));
  }

  /** Stored custom objects by "group/version/ns/plural/name". */
  private readonly customs = new Map<string, Obj & { metadata: { name: string; resourceVersion?: string } }>();

  /** Stores an object as if created through the API (large simulations); `collection` as in customs' keys, e.g. "/v1/bpfready/configmaps". */
  seed(collection: string, obj: Obj & { metadata: { name: string } }): void {
    const o = sortKeys(structuredClone(obj)) as Obj & { metadata: { name: string; resourceVersion?: string } };
    o.metadata.resourceVersion = String(++this.rv);
    this.customs.set(`${collection}/${o.metadata.name}`, o);
  }

  /** Every stored object of one collection (e.g. "/v1/bpfready/configmaps"), by name. */
  objects(collection: string): Obj[] {
    const prefix = `${collection}/`;
    return [...this.customs.entries()]
      .filter(([k]) => k.startsWith(prefix) && !k.slice(prefix.length).includes('/'))
      .sort(([a], [b]) => (a < b ? -1 : 1))
      .map(([, o]) => structuredClone(o));
  }

  customObject(path: string): Obj | undefined {
    const o = this.customs.get(path);
    return o ? structuredClone(o) : undefined;
  }

  /** Someone else rewrites (or deletes, with `change` returning undefined) a custom object. */
  editCustom(path: string, change: (o: Obj) => Obj | undefined): void {
    const o = this.customObject(path);
    if (!o) throw new Error(`double: no ${path}`);
    const next = change(o) as (Obj & { metadata: { name: string; resourceVersion?: string } }) | undefined;
    if (!next) this.customs.delete(path);
    else {
      next.metadata.resourceVersion = String(++this.rv);
      this.customs.set(path, next);
    }
  }

  // GET, POST (create: 409 AlreadyExists) and PUT (replace: resourceVersion precondition, 409 on a
  // stale one, 404 when absent) — the verbs of a CRD's REST endpoint that bpfready uses; no schema
  // validation, no status subresource, no watch.
  private custom(method: string, cm: RegExpExecArray, body: string, record: (s: number) => void, res: ServerResponse, url: URL): void {
    const [, group, version, ns, plural, name] = cm;
    // Core objects (group ""): unconditional PUT is allowed, unlike a custom resource's.
    const coreKind = group === '';
    const base = `${group}/${version}/${ns}/${plural}`;
    let obj: (Obj & { metadata: { name: string; resourceVersion?: string; namespace?: string } }) | undefined;
    if (method === 'POST' || method === 'PUT') {
      try {
        // Stored and served as the real server does a custom resource: decoded into Go maps, so every
        // object comes back with its keys sorted, whatever order the client wrote them in.
        obj = sortKeys(JSON.parse(body)) as typeof obj;
      } catch {
        record(400);
        return sendStatus(res, 400, 'BadRequest', 'the body of the request was in an unknown format');
      }
    }
    // A ConfigMap holds at most 1 MiB of data and binaryData together (k8s.io/api core validation).
    if (obj && plural === 'configmaps') {
      const o = obj as Obj;
      const size =
        Object.values((o['data'] as Record<string, string>) ?? {}).reduce((n, v) => n + Buffer.byteLength(v), 0) +
        Object.values((o['binaryData'] as Record<string, string>) ?? {}).reduce((n, v) => n + Buffer.from(v, 'base64').length, 0);
      if (size > 1 << 20) {
        record(422);
        return sendStatus(
          res,
          422,
          'Invalid',
          `ConfigMap "${obj.metadata?.name}" is invalid: []: Too long: must have at most 1048576 bytes`,
        );
      }
    }
    const badOwner = obj ? ownerReferencesProblem(obj.metadata) : undefined;
    if (badOwner) {
      record(422);
      return sendStatus(res, 422, 'Invalid', `${plural}.${group} "${obj?.metadata?.name ?? name}" is invalid: ${badOwner}`);
    }
    if (method === 'GET' && !name) return this.listCustom(base, url, record, res);
    if (method === 'DELETE' && name) {
      const had = this.customs.delete(`${base}/${name}`);
      if (had) this.writes++;
      record(had ? 200 : 404);
      return had
        ? sendJson(res, 200, { kind: 'Status', apiVersion: 'v1', status: 'Success' })
        : sendStatus(res, 404, 'NotFound', `${plural}${group ? `.${group}` : ''} "${name}" not found`);
    }
    if (method === 'GET' && name) {
      const o = this.customs.get(`${base}/${name}`);
      record(o ? 200 : 404);
      return o ? sendJson(res, 200, o) : sendStatus(res, 404, 'NotFound', `${plural}.${group} "${name}" not found`);
    }
    if (method === 'POST' && !name && obj?.metadata?.name) {
      const key = `${base}/${obj.metadata.name}`;
      if (this.customs.has(key)) {
        record(409);
        return sendStatus(res, 409, 'AlreadyExists', `${plural}.${group} "${obj.metadata.name}" already exists`);
      }
      obj.metadata = sortKeys({ ...obj.metadata, namespace: ns!, resourceVersion: String(++this.rv) }) as typeof obj.metadata;
      this.customs.set(key, obj);
      this.writes++;
      record(201);
      return sendJson(res, 201, obj);
    }
    if (method === 'PUT' && name && obj) {
      const key = `${base}/${name}`;
      const cur = this.customs.get(key);
      if (!cur) {
        record(404);
        return sendStatus(res, 404, 'NotFound', `${plural}.${group} "${name}" not found`);
      }
      // A custom resource's update must carry metadata.resourceVersion (CRDs have no unconditional update).
      if (obj.metadata?.resourceVersion === undefined && !coreKind) {
        record(422);
        return sendStatus(
          res,
          422,
          'Invalid',
          `${plural}.${group} "${name}" is invalid: metadata.resourceVersion: Invalid value: 0x0: must be specified for an update`,
        );
      }
      if (obj.metadata.resourceVersion !== undefined && obj.metadata.resourceVersion !== cur.metadata.resourceVersion) {
        record(409);
        return sendStatus(
          res,
          409,
          'Conflict',
          `Operation cannot be fulfilled on ${plural}.${group} "${name}": the object has been modified; please apply your changes to the latest version and try again`,
        );
      }
      obj.metadata = sortKeys({ ...obj.metadata, name, namespace: ns!, resourceVersion: String(++this.rv) }) as typeof obj.metadata;
      this.customs.set(key, obj);
      this.writes++;
      record(200);
      return sendJson(res, 200, obj);
    }
    record(405);
    return sendStatus(res, 405, 'MethodNotAllowed', `${method} ${base} is not supported by the double`);
  }

  /** Where a LIST page starts (after `start`) and its list's resourceVersion; undefined for a bad token. */
  private continueFrom(url: URL): { start: string; rv: string } | undefined {
    const token = url.searchParams.get('continue');
    if (!token) return { start: '', rv: String(this.rv) };
    try {
      const t = JSON.parse(Buffer.from(token, 'base64').toString('utf8')) as { v?: unknown; rv?: unknown; start?: unknown };
      if (t.v !== 'meta.k8s.io/v1' || typeof t.rv !== 'number' || typeof t.start !== 'string') return undefined;
      return { start: t.start, rv: String(t.rv) };
    } catch {
      return undefined;
    }
  }

  /**
   * LIST of stored objects under one collection, with equality-based label selectors
   * (`k=v`, `k==v`, `k!=v`, `k`, `!k`, comma = and) and limit/continue as list() pages nodes.
   */
  private listCustom(base: string, url: URL, record: (s: number) => void, res: ServerResponse): void {
    const limit = Number(url.searchParams.get('limit') ?? 0);
    const from = this.continueFrom(url);
    if (!from) {
      record(400);
      return sendStatus(
        res,
        400,
        'BadRequest',
        'continue key is not valid: incorrect encoded start resourceVersion (version meta.k8s.io/v1)',
      );
    }
    const { start, rv } = from;
    const tests: ((l: Record<string, string>) => boolean)[] = [];
    for (const term of (url.searchParams.get('labelSelector') ?? '').split(',').filter(Boolean)) {
      const m = /^\s*(!?)([A-Za-z0-9./_-]+)\s*(?:(==|=|!=)\s*([A-Za-z0-9._-]*))?\s*$/.exec(term);
      if (!m || (m[1] && m[3])) {
        record(400);
        return sendStatus(res, 400, 'BadRequest', `unable to parse requirement: ${term}`);
      }
      const [, not, key, op, value] = m;
      tests.push(op === '!=' ? (l) => l[key!] !== value : op ? (l) => l[key!] === value : not ? (l) => !(key! in l) : (l) => key! in l);
    }
    const prefix = `${base}/`;
    const all = [...this.customs.entries()]
      .filter(
        ([k, o]) =>
          k.startsWith(prefix) &&
          !k.slice(prefix.length).includes('/') &&
          o.metadata.name > start &&
          tests.every((t) => t(((o.metadata as Obj)['labels'] as Record<string, string>) ?? {})),
      )
      .map(([, o]) => o)
      .sort((a, b) => (a.metadata.name < b.metadata.name ? -1 : 1));
    const { items, metadata } = pageOf(all, limit, rv);
    record(200);
    const kind = base.split('/').at(-1) === 'configmaps' ? 'ConfigMapList' : 'List';
    sendJson(res, 200, { kind, apiVersion: 'v1', metadata, items });
  }

  // A chunked LIST as the real server answers it: items in key order (etcd's, i.e. by name), a
  // `continue` token carrying the list's resourceVersion and the last key served, remainingItemCount
  // while more follow. Not modelled: later pages are cut from the current nodes, not from a snapshot
  // at that resourceVersion, and tokens never expire (no 410 after compaction).
  private list(url: URL, record: (s: number) => void, res: ServerResponse): void {
    const limit = Number(url.searchParams.get('limit') ?? 0);
    const from = this.continueFrom(url);
    if (!from) {
      record(400);
      return sendStatus(
        res,
        400,
        'BadRequest',
        'continue key is not valid: incorrect encoded start resourceVersion (version meta.k8s.io/v1)',
      );
    }
    const { start, rv } = from;
    if (url.searchParams.get('labelSelector') || url.searchParams.get('fieldSelector')) {
      record(400);
      return sendStatus(res, 400, 'BadRequest', 'selectors on a node LIST are not modelled by the double');
    }
    const all = [...this.nodes.values()]
      .filter((n) => n.metadata.name > start)
      .sort((a, b) => (a.metadata.name < b.metadata.name ? -1 : 1));
    const { items, metadata } = pageOf(all, limit, rv);
    record(200);
    sendJson(res, 200, { kind: 'NodeList', apiVersion: 'v1', metadata, items });
  }

  private startWatch(url: URL, res: ServerResponse, forceGone: boolean): void {
    const selector = url.searchParams.get('fieldSelector') ?? '';
    const sel = /^metadata\.name=(.+)$/.exec(selector);
    const name = sel?.[1];
    if (selector && !name) return sendStatus(res, 400, 'BadRequest', `unsupported field selector ${selector} (double)`);
    res.writeHead(200, { 'Content-Type': 'application/json', 'Transfer-Encoding': 'chunked' });
    // The real server sends the headers at once; the client's watch() resolves only when it has them.
    res.flushHeaders();
    const rvParam = url.searchParams.get('resourceVersion');
    const from = rvParam ? Number(rvParam) : 0;
    const oldest = this.history[0]?.rv ?? this.rv;
    if (forceGone || (from > 0 && from < oldest - 1)) {
      res.end(
        JSON.stringify({ type: 'ERROR', object: statusBody(410, 'Expired', `too old resource version: ${from} (${oldest - 1})`) }) + '\n',
      );
      return;
    }
    if (from === 0) {
      // "Any" resourceVersion: start with the current state as synthetic ADDED events.
      for (const n of this.nodes.values())
        if (!name || n.metadata.name === name) res.write(JSON.stringify({ type: 'ADDED', object: n }) + '\n');
    } else {
      for (const e of this.history)
        if (e.rv > from && (!name || e.object.metadata.name === name)) res.write(JSON.stringify({ type: e.type, object: e.object }) + '\n');
    }
    const w: Watcher = name ? { name, res } : { res };
    this.watchers.add(w);
    const timeout = Number(url.searchParams.get('timeoutSeconds') ?? 0);
    const timer = timeout > 0 ? setTimeout(() => res.end(), timeout * 1000) : undefined;
    res.on('close', () => {
      clearTimeout(timer);
      this.watchers.delete(w);
    });
  }
}

/** apimachinery's ValidateOwnerReferences: apiVersion, kind, name and uid set; at most one controller. */
function ownerReferencesProblem(meta: Obj | undefined): string | undefined {
  const refs = meta?.['ownerReferences'];
  if (refs === undefined) return undefined;
  if (!Array.isArray(refs)) return 'metadata.ownerReferences: Invalid value: must be a list';
  for (const [i, r] of (refs as Obj[]).entries()) {
    for (const f of ['apiVersion', 'kind', 'name', 'uid']) {
      if (typeof r?.[f] !== 'string' || r[f] === '')
        return `metadata.ownerReferences[${i}].${f}: Invalid value: "": ${f} must not be empty`;
    }
  }
  if ((refs as Obj[]).filter((r) => r['controller'] === true).length > 1)
    return 'metadata.ownerReferences: Invalid value: Only one reference can have Controller set to true';
  return undefined;
}

function validateNode(n: NodeObject): string | undefined {
  for (const [k, v] of Object.entries(n.metadata.labels ?? {})) {
    const slash = k.lastIndexOf('/');
    const prefix = slash >= 0 ? k.slice(0, slash) : '';
    const nm = slash >= 0 ? k.slice(slash + 1) : k;
    if (prefix.length > 253 || (slash >= 0 && !/^[a-z0-9]([-a-z0-9]*[a-z0-9])?(\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*$/.test(prefix)))
      return `metadata.labels: Invalid value: "${k}": prefix part must be a DNS-1123 subdomain`;
    if (nm.length > 63 || !LABEL_NAME.test(nm)) return `metadata.labels: Invalid value: "${k}": name part must be a valid label name`;
    if (typeof v !== 'string' || v.length > 63 || (v !== '' && !LABEL_NAME.test(v)))
      return `metadata.labels: Invalid value: "${String(v)}": a valid label must be an empty string or consist of alphanumeric characters, '-', '_' or '.'`;
  }
  for (const t of n.spec?.taints ?? []) {
    if (!['NoSchedule', 'PreferNoSchedule', 'NoExecute'].includes(t.effect)) return `spec.taints.effect: Unsupported value: "${t.effect}"`;
  }
  return undefined;
}

function readBody(req: IncomingMessage): Promise<string> {
  return new Promise((resolve) => {
    const chunks: Buffer[] = [];
    req.on('data', (c: Buffer) => chunks.push(c));
    req.on('end', () => resolve(Buffer.concat(chunks).toString('utf8')));
    req.on('error', () => resolve(''));
  });
}

function statusBody(code: number, reason: string, message: string): Obj {
  return { kind: 'Status', apiVersion: 'v1', metadata: {}, status: 'Failure', message, reason, code };
}

function sendStatus(res: ServerResponse, code: number, reason: string, message: string, headers: Record<string, string> = {}): void {
  sendJson(res, code, statusBody(code, reason, message), headers);
}

function sendJson(res: ServerResponse, code: number, body: unknown, headers: Record<string, string> = {}): void {
  const text = JSON.stringify(body);
  res.writeHead(code, { 'Content-Type': 'application/json', 'Content-Length': Buffer.byteLength(text), ...headers });
  res.end(text);
}

/** A JSON value with every object's keys in sorted order (Go's encoding of map[string]interface{}). */
function sortKeys(v: unknown): unknown {
  if (Array.isArray(v)) return v.map(sortKeys);
  if (v && typeof v === 'object') {
    return Object.fromEntries(
      Object.keys(v)
        .sort()
        .map((k) => [k, sortKeys((v as Record<string, unknown>)[k])]),
    );
  }
  return v;
}

/** One page of a LIST sorted by name: `limit` items, and a continue token naming the last while more follow. */
function pageOf<T extends { metadata: { name: string } }>(all: T[], limit: number, rv: string): { items: T[]; metadata: Obj } {
  const items = limit > 0 ? all.slice(0, limit) : all;
  const metadata: Obj = { resourceVersion: rv };
  if (items.length < all.length) {
    metadata['continue'] = Buffer.from(
      JSON.stringify({ v: 'meta.k8s.io/v1', rv: Number(rv), start: items.at(-1)!.metadata.name }),
    ).toString('base64');
    metadata['remainingItemCount'] = all.length - items.length;
  }
  return { items, metadata };
}
