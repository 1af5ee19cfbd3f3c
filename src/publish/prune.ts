// `bpfready prune`: take off the node everything we published — the labels recorded as ours, the
// ownership annotation, conditions under our prefix, our taint — and nothing else.
import { retry } from '../base/backoff.ts';
import { KubeApiError, type ConfigMapApi, type NodeApi } from './client.ts';
import { planPrune } from './plan.ts';
import { MANAGED_BY, nodeObjectName, OBJECT_LABEL, REPORTS_SELECTOR } from './reports.ts';

export interface PruneResult {
  labels: string[];
  annotation: boolean;
  conditions: string[];
  taints: string[];
}

export interface PruneOptions {
  prefix: string;
  /** Taint keys that are ours besides those under `<prefix>/` (a configured readiness.k8s.io/ key). */
  taintKeys?: readonly string[];
  attempts?: number;
  sleep?: (ms: number) => Promise<void>;
}

export async function pruneNode(api: NodeApi, nodeName: string, opts: PruneOptions): Promise<PruneResult> {
  // 409: the node changed between our read and our taint write; read again and recompute.
  try {
    return await withRetry(
      () => pruneOnce(api, nodeName, opts),
      opts,
      (status) => status === 409,
    );
  } catch (e) {
    // 404: the node is gone (deleted since the LIST, an autoscaler at work): nothing of ours is left on it.
    if (e instanceof KubeApiError && e.status === 404) return { labels: [], annotation: false, conditions: [], taints: [] };
    throw e;
  }
}

/** Retries transport errors, 429 (honouring Retry-After) and 5xx with exponential backoff (src/base/backoff.ts). */
function withRetry<T>(
  f: () => Promise<T>,
  opts: Pick<PruneOptions, 'attempts' | 'sleep'>,
  alsoRetry: (status: number) => boolean = () => false,
): Promise<T> {
  const status = (e: unknown) => (e instanceof KubeApiError ? { status: e.status } : undefined);
  return retry(f, {
    policy: { baseMs: 200, maxMs: 10_000, jitter: 'none' },
    attempts: opts.attempts ?? 8,
    retryable: (e) => {
      const s = status(e);
      return s !== undefined && (s.status === undefined || s.status === 429 || s.status >= 500 || alsoRetry(s.status));
    },
    retryAfterMs: (e) => (e instanceof KubeApiError ? e.retryAfterMs : undefined),
    ...(opts.sleep ? { sleep: opts.sleep } : {}),
  });
}

async function pruneOnce(api: NodeApi, nodeName: string, opts: PruneOptions): Promise<PruneResult> {
  const node = await api.read(nodeName);
  const ours = (key: string): boolean => key.startsWith(`${opts.prefix}/`) || (opts.taintKeys ?? []).includes(key);
  const taintKeys = (node.spec?.taints ?? []).map((t) => t.key).filter(ours);
  const plan = planPrune(node, opts.prefix, taintKeys);
  const meta = plan.node?.['metadata'] as { labels?: Record<string, null>; annotations?: Record<string, null> } | undefined;
  const conds = (plan.status?.['status'] as { conditions: { type: string }[] } | undefined)?.conditions ?? [];
  if (plan.node) await api.patchNode(nodeName, plan.node);
  if (plan.status) await api.patchStatus(nodeName, plan.status);
  return {
    labels: Object.keys(meta?.labels ?? {}),
    annotation: meta?.annotations !== undefined,
    conditions: conds.map((c) => c.type),
    taints: taintKeys,
  };
}

export interface NodePruneOutcome {
  node: string;
  result?: PruneResult;
  error?: string;
}

export interface PruneAllResult {
  nodes: NodePruneOutcome[];
  /** The node LIST failed (after retries): the nodes not yet listed were not pruned. */
  listError?: string;
}

export interface PruneAllOptions extends PruneOptions {
  /** Nodes pruned at once; each is a GET and up to two PATCHes. */
  concurrency?: number;
  /** Page size of the node LIST, so a 5,000-node cluster is not one response. */
  pageSize?: number;
  /** Called as each node finishes, in completion order. */
  onNode?: (o: NodePruneOutcome) => void;
}

/**
 * Every Node in the cluster, pruned as pruneNode does one: for an uninstall, where no daemon is left
 * to clean its own node. A node that fails (after pruneNode's retries) does not stop the others.
 */
export async function pruneAllNodes(api: NodeApi, opts: PruneAllOptions): Promise<PruneAllResult> {
  const concurrency = Math.max(1, opts.concurrency ?? 8);
  const nodes: NodePruneOutcome[] = [];
  const running = new Set<Promise<void>>();
  let continueToken: string | undefined;
  try {
    do {
      const page = { limit: opts.pageSize ?? 500, ...(continueToken ? { continueToken } : {}) };
      // A 410 on a continue token (its snapshot compacted) is not retried here: the run fails, and
      // the hook Job's backoffLimit starts it over, which is safe because pruning is idempotent.
      const { items, continueToken: next } = await withRetry(() => api.list(page), opts);
      continueToken = next;
      for (const n of items) {
        const name = n.metadata?.name;
        if (!name) continue;
        while (running.size >= concurrency) await Promise.race(running);
        const done = (o: NodePruneOutcome): void => {
          nodes.push(o);
          opts.onNode?.(o);
        };
        const job: Promise<void> = pruneNode(api, name, opts)
          .then(
            (result) => done({ node: name, result }),
            (e: unknown) => done({ node: name, error: e instanceof Error ? e.message : String(e) }),
          )
          .finally(() => running.delete(job));
        running.add(job);
      }
    } while (continueToken);
  } catch (e) {
    await Promise.all(running);
    return { nodes, listError: e instanceof Error ? e.message : String(e) };
  }
  await Promise.all(running);
  return { nodes };
}

/**
 * The report ConfigMaps (src/publish/reports.ts) in `api`'s namespace: of one node, or with `node`
 * absent every one — node reports and kernel views (the uninstall hook). Only objects labelled as
 * bpfready's are deleted. Returns the names deleted.
 */
export async function pruneReports(
  api: ConfigMapApi,
  opts: Pick<PruneOptions, 'attempts' | 'sleep'> & { node?: string; pageSize?: number },
): Promise<string[]> {
  const ours = (o: { metadata?: { labels?: Record<string, string> } } | undefined): boolean =>
    o?.metadata?.labels?.[MANAGED_BY] === 'bpfready' && o.metadata.labels[OBJECT_LABEL] !== undefined;
  const gone: string[] = [];
  const remove = async (name: string): Promise<void> => {
    await withRetry(() => api.delete(name), opts);
    gone.push(name);
  };
  if (opts.node !== undefined) {
    const name = nodeObjectName(opts.node);
    if (ours(await withRetry(() => api.get(name), opts))) await remove(name);
    return gone;
  }
  // Collect first, then delete: deleting while paging would shift the pages under the continue token.
  const names: string[] = [];
  let continueToken: string | undefined;
  do {
    const page = { labelSelector: REPORTS_SELECTOR, limit: opts.pageSize ?? 500, ...(continueToken ? { continueToken } : {}) };
    const { items, continueToken: next } = await withRetry(() => api.list(page), opts);
    continueToken = next;
    for (const o of items) if (ours(o) && o.metadata?.name) names.push(o.metadata.name);
  } while (continueToken);
  for (const n of names) await remove(n);
  return gone;
}
