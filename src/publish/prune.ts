// `bpfready prune`: take off the node everything we published — the labels recorded as ours, the
// ownership annotation, conditions under our prefix, our taint — and nothing else.
import { KubeApiError, type NodeApi } from './client.ts';
import { planPrune } from './plan.ts';

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

const sleepReal = (ms: number): Promise<void> => new Promise((r) => setTimeout(r, ms));

export async function pruneNode(api: NodeApi, nodeName: string, opts: PruneOptions): Promise<PruneResult> {
  const attempts = opts.attempts ?? 8;
  const sleep = opts.sleep ?? sleepReal;
  for (let i = 0; ; i++) {
    try {
      return await pruneOnce(api, nodeName, opts);
    } catch (e) {
      const err = e instanceof KubeApiError ? e : undefined;
      const retryable = err !== undefined && (err.status === undefined || err.status === 409 || err.status === 429 || err.status >= 500);
      if (!retryable || i + 1 >= attempts) throw e;
      // 409: the node changed between our read and our taint write; read again and recompute.
      await sleep(Math.max(err.retryAfterMs ?? 0, Math.min(10_000, 200 * 2 ** i)));
    }
  }
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
  return { labels: Object.keys(meta?.labels ?? {}), annotation: meta?.annotations !== undefined, conditions: conds.map((c) => c.type), taints: taintKeys };
}
