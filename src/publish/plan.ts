// Desired state + observed Node → the patches to send, or none. Pure: the whole "write only on
// change" and "touch only what is ours" policy lives here, where it is easy to test.
import { conditionMatches, isOwnCondition, toApiCondition } from './conditions.ts';
import { decodeOwned, encodeOwned, ownedLabelsAnnotation } from './labels.ts';
import type { ApiCondition, ApiTaint, DesiredState, NodeView, TaintSpec } from './types.ts';

export interface Plan {
  /** Strategic merge patch for the Node, or undefined when metadata/spec already match. */
  node?: Record<string, unknown>;
  /** Strategic merge patch for nodes/status, or undefined when our conditions already match. */
  status?: Record<string, unknown>;
}

export interface PlanOptions {
  prefix: string;
  nowIso: string;
  /** Rewrite every condition so lastHeartbeatTime moves even though nothing else did. */
  heartbeat?: boolean;
  /** Taint management: undefined = we do not manage a taint. */
  taint?: TaintSpec;
}

const sameTaint = (a: ApiTaint, b: TaintSpec): boolean => a.key === b.key && a.effect === b.effect;

/** A taint key we own: under our prefix, or the configured readiness taint's key. */
export function isOwnTaintKey(prefix: string, key: string, configured?: TaintSpec): boolean {
  return key.startsWith(`${prefix}/`) || key === configured?.key;
}

export function planWrites(desired: DesiredState, observed: NodeView, opts: PlanOptions): Plan {
  const plan: Plan = {};
  const node = planNode(desired, observed, opts);
  if (node) plan.node = node;
  const status = planStatus(desired, observed, opts);
  if (status) plan.status = status;
  return plan;
}

function planNode(desired: DesiredState, observed: NodeView, opts: PlanOptions): Record<string, unknown> | undefined {
  const { prefix } = opts;
  const labels = observed.metadata?.labels ?? {};
  const annotations = observed.metadata?.annotations ?? {};
  const annKey = ownedLabelsAnnotation(prefix);
  const labelPatch: Record<string, string | null> = {};

  for (const [k, v] of Object.entries(desired.labels)) if (labels[k] !== v) labelPatch[k] = v;
  for (const k of decodeOwned(prefix, annotations[annKey])) {
    if (!(k in desired.labels) && k in labels) labelPatch[k] = null;
  }
  const owned = encodeOwned(prefix, Object.keys(desired.labels));
  const metadata: Record<string, unknown> = {};
  if (Object.keys(labelPatch).length > 0) metadata['labels'] = labelPatch;
  if (annotations[annKey] !== owned) metadata['annotations'] = { [annKey]: owned };

  // Our taints: any whose key is under our prefix or is the configured key, whatever the effect
  // (what the chart's admission policy lets us change). So a changed effect, or taint management
  // switched off, takes off the taint we put on before instead of stranding it.
  const patch: Record<string, unknown> = {};
  const taints = observed.spec?.taints ?? [];
  const isOurs = (t: ApiTaint): boolean => isOwnTaintKey(prefix, t.key, opts.taint);
  const want = opts.taint !== undefined && desired.taint !== undefined;
  const current = want ? taints.find((t) => sameTaint(t, opts.taint!)) : undefined;
  const stale = taints.some((t) => isOurs(t) && !(want && sameTaint(t, opts.taint!)));
  if (stale || (want && (!current || (current.value ?? '') !== (opts.taint!.value ?? '')))) {
    const next = taints.filter((t) => !isOurs(t));
    if (want) {
      const mine: ApiTaint = { key: opts.taint!.key, effect: opts.taint!.effect };
      if (opts.taint!.value) mine.value = opts.taint!.value;
      next.push(mine);
    }
    // spec.taints has no patchMergeKey: a strategic merge patch replaces the whole list, so the
    // foreign taints we send back must be the current ones — hence the resourceVersion
    // precondition (409 when someone changed the node since we read it).
    patch['spec'] = { taints: next };
    metadata['resourceVersion'] = observed.metadata?.resourceVersion;
  }
  if (Object.keys(metadata).length > 0) patch['metadata'] = metadata;
  return Object.keys(patch).length > 0 ? patch : undefined;
}

function planStatus(desired: DesiredState, observed: NodeView, opts: PlanOptions): Record<string, unknown> | undefined {
  const current = new Map((observed.status?.conditions ?? []).map((c) => [c.type, c]));
  const out: (ApiCondition | { type: string; $patch: 'delete' })[] = [];
  for (const c of desired.conditions) {
    const seen = current.get(c.type);
    if (opts.heartbeat || !conditionMatches(c, seen)) out.push(toApiCondition(c, seen, opts.nowIso));
  }
  const wanted = new Set(desired.conditions.map((c) => c.type));
  for (const type of current.keys()) {
    if (isOwnCondition(opts.prefix, type) && !wanted.has(type)) out.push({ type, $patch: 'delete' });
  }
  return out.length > 0 ? { status: { conditions: out } } : undefined;
}

/** Everything we own, removed: owned labels, the ownership annotation, our conditions, our taint. */
export function planPrune(observed: NodeView, prefix: string, taintKeys: readonly string[]): Plan {
  const plan: Plan = {};
  const labels = observed.metadata?.labels ?? {};
  const annotations = observed.metadata?.annotations ?? {};
  const annKey = ownedLabelsAnnotation(prefix);
  const metadata: Record<string, unknown> = {};
  const labelPatch: Record<string, null> = {};
  for (const k of decodeOwned(prefix, annotations[annKey])) if (k in labels) labelPatch[k] = null;
  if (Object.keys(labelPatch).length > 0) metadata['labels'] = labelPatch;
  if (annKey in annotations) metadata['annotations'] = { [annKey]: null };
  const taints = observed.spec?.taints ?? [];
  const keep = taints.filter((t) => !taintKeys.includes(t.key));
  const node: Record<string, unknown> = {};
  if (keep.length !== taints.length) {
    node['spec'] = { taints: keep };
    metadata['resourceVersion'] = observed.metadata?.resourceVersion;
  }
  if (Object.keys(metadata).length > 0) node['metadata'] = metadata;
  if (Object.keys(node).length > 0) plan.node = node;
  const ours = (observed.status?.conditions ?? []).filter((c) => isOwnCondition(prefix, c.type));
  if (ours.length > 0) plan.status = { status: { conditions: ours.map((c) => ({ type: c.type, $patch: 'delete' })) } };
  return plan;
}
