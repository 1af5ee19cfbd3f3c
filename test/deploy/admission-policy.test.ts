// The ValidatingAdmissionPolicy, evaluated: its CEL runs (with a standard CEL evaluator) against the
// admission requests the daemon really causes — the patches come from src/publish's planner and are
// applied with the API-server double's strategic merge patch — and against the ones it must refuse.
// What this cannot show about a real API server (typed objects, the token claim itself) is listed in
// docs/deploy.md.
import { describe, expect, it } from 'vitest';
import { render } from '../../scripts/chart.ts';
import { desiredState } from '../../src/publish/index.ts';
import { nodeOwnerReference } from '../../src/publish/nodefeature.ts';
import { planPrune, planWrites } from '../../src/publish/plan.ts';
import { kernelViewObjects, nodeReportObject } from '../../src/publish/reports.ts';
import { loadReports } from '../../src/requirements/reports.ts';
import type { NodeView, TaintSpec } from '../../src/publish/types.ts';
import { checksBad, checksOk, foreignNode, report } from '../publish/fixtures.ts';
import { strategicMergePatch } from '../publish/patch.ts';
import { helmSkip } from './k8s.ts';

type Cel = { evaluate(expr: string, ctx: Record<string, unknown>): unknown };
// A devDependency: a missing one is a broken install and fails here, it never skips.
const cel = (await import('@marcbachmann/cel-js')) as unknown as Cel;

type Obj = Record<string, any>;
const SA = 'system:serviceaccount:bpfready:bpfready';
const NODE_CLAIM = 'authentication.kubernetes.io/node-name';

const skip = helmSkip();

function policyFor(values: Record<string, unknown> = {}, name = 'bpfready-node-writes'): Obj {
  // Without Helm the describe blocks below are skipped, but still collected.
  if (skip) return {};
  const doc = render({ values: [values] }).find(
    (d) => d.doc['kind'] === 'ValidatingAdmissionPolicy' && (d.doc['metadata'] as Obj)['name'] === name,
  );
  if (!doc) throw new Error('no ValidatingAdmissionPolicy rendered');
  return doc.doc as Obj;
}

interface Verdict {
  matched: boolean;
  failures: string[];
}

/** The API server's order: matchConditions, then variables (in order), then every validation. */
function admit(
  policy: Obj,
  r: { user?: string; node?: string | null; oldObject: unknown; object: unknown; operation?: 'CREATE' | 'UPDATE' | 'DELETE' },
): Verdict {
  const evaluate = cel.evaluate;
  const extra =
    r.node === null ? undefined : { [NODE_CLAIM]: [r.node ?? 'node-a'], 'authentication.kubernetes.io/pod-name': ['bpfready-x'] };
  const request = {
    operation: r.operation ?? 'UPDATE',
    userInfo: { username: r.user ?? SA, groups: ['system:serviceaccounts'], ...(extra ? { extra } : {}) },
  };
  const ctx: Obj = { request, object: r.object, oldObject: r.oldObject, variables: {} };
  for (const mc of policy['spec']['matchConditions'] as Obj[])
    if (evaluate(mc['expression'], ctx) !== true) return { matched: false, failures: [] };
  for (const v of policy['spec']['variables'] as Obj[]) ctx['variables'][v['name']] = evaluate(v['expression'], ctx);
  const failures: string[] = [];
  for (const v of policy['spec']['validations'] as Obj[]) {
    let ok: unknown;
    try {
      ok = evaluate(v['expression'], ctx);
    } catch (e) {
      // A runtime error is a rejection under failurePolicy: Fail.
      failures.push(`error: ${(e as Error).message}`);
      continue;
    }
    if (ok !== true) failures.push(v['messageExpression'] ? String(evaluate(v['messageExpression'], ctx)) : v['message']);
  }
  return { matched: true, failures };
}

function node(name = 'node-a'): NodeView {
  const n = foreignNode(name) as Obj;
  n['metadata']['resourceVersion'] = '100';
  n['status']['capacity'] = { cpu: '4', memory: '8Gi' };
  n['status']['nodeInfo'] = { kernelVersion: '6.18.0' };
  return n as NodeView;
}

const mutate = (n: NodeView, f: (o: Obj) => void): NodeView => {
  const c = structuredClone(n) as Obj;
  f(c);
  return c as NodeView;
};

/** The daemon's writes for one publish, as the objects the API server would store. */
function publishSteps(old: NodeView, taint?: TaintSpec, checks = checksOk): { oldObject: NodeView; object: NodeView }[] {
  const desired = desiredState('bpfready.io', report(), checks, taint);
  const plan = planWrites(desired, old, { prefix: 'bpfready.io', nowIso: '2026-11-22T01:00:00Z', ...(taint ? { taint } : {}) });
  return applySteps(old, plan);
}

/** A plan's node and status patches applied in order, as the objects the API server would store. */
function applySteps(
  old: NodeView,
  plan: { node?: object | undefined; status?: object | undefined },
): { oldObject: NodeView; object: NodeView }[] {
  const steps: { oldObject: NodeView; object: NodeView }[] = [];
  let cur = old;
  for (const patch of [plan.node, plan.status]) {
    if (!patch) continue;
    const next = strategicMergePatch(cur, patch) as NodeView;
    steps.push({ oldObject: cur, object: next });
    cur = next;
  }
  return steps;
}

describe.skipIf(skip)('ValidatingAdmissionPolicy', () => {
  const policy = policyFor();

  it('admits every write of a first publish on the pod’s own node', () => {
    const steps = publishSteps(node());
    expect(steps.length).toBe(2);
    for (const s of steps) expect(admit(policy, s)).toEqual({ matched: true, failures: [] });
  });

  it('admits a managed taint being added and later removed, foreign taints kept', () => {
    const taint: TaintSpec = { key: 'bpfready.io/not-ready', effect: 'NoSchedule' };
    const p = policyFor({ config: { kubernetes: { taint: true } } });
    const add = publishSteps(node(), taint, checksBad);
    expect(add[0]!.object.spec?.taints?.map((t) => t.key)).toContain('bpfready.io/not-ready');
    for (const s of add) expect(admit(p, s).failures).toEqual([]);
    const tainted = add.at(-1)!.object;
    const remove = publishSteps(tainted, taint, checksOk);
    expect(remove[0]!.object.spec?.taints?.map((t) => t.key)).toEqual(['example.com/dedicated']);
    for (const s of remove) expect(admit(p, s).failures).toEqual([]);
  });

  it('admits a node-readiness-controller taint key when that is the configured one', () => {
    const taint: TaintSpec = { key: 'readiness.k8s.io/ebpf-ready', value: 'pending', effect: 'NoSchedule' };
    const p = policyFor({ config: { kubernetes: { taint: { key: taint.key, value: 'pending', effect: 'NoSchedule' } } } });
    for (const s of publishSteps(node(), taint, checksBad)) expect(admit(p, s).failures).toEqual([]);
    // …and refuses it when bpfready is not configured to own that taint.
    const denied = publishSteps(node(), taint, checksBad).flatMap((s) => admit(policy, s).failures);
    expect(denied).toContain('bpfready may only add or remove its own taint');
  });

  it('admits prune (labels, annotation, conditions and taint removed)', () => {
    const published = publishSteps(node(), { key: 'bpfready.io/not-ready', effect: 'NoSchedule' }, checksBad).at(-1)!.object;
    const plan = planPrune(published, 'bpfready.io', ['bpfready.io/not-ready']);
    expect(plan.node && plan.status).toBeTruthy();
    const afterNode = strategicMergePatch(published, plan.node) as NodeView;
    const afterStatus = strategicMergePatch(afterNode, plan.status) as NodeView;
    const p = policyFor({ config: { kubernetes: { taint: true } } });
    expect(admit(p, { oldObject: published, object: afterNode }).failures).toEqual([]);
    expect(admit(p, { oldObject: afterNode, object: afterStatus }).failures).toEqual([]);
  });

  it('refuses the same writes to another node, naming both', () => {
    for (const s of publishSteps(node('node-b'))) {
      const v = admit(policy, { ...s, node: 'node-a' });
      expect(v.failures).toEqual(['bpfready on node node-a may not change node node-b']);
    }
  });

  it('refuses a token that is not bound to a node', () => {
    const [s] = publishSteps(node());
    expect(admit(policy, { ...s!, node: null }).failures[0]).toMatch(/not bound to a node/);
  });

  it('does not apply to other users (kubelet, other service accounts)', () => {
    const old = node();
    const cordoned = mutate(old, (o) => (o['spec']['unschedulable'] = true));
    expect(admit(policy, { user: 'system:node:node-a', oldObject: old, object: cordoned }).matched).toBe(false);
    expect(admit(policy, { user: 'system:serviceaccount:kube-system:other', oldObject: old, object: cordoned }).matched).toBe(false);
  });

  const old = node();
  it.each<[string, (o: Obj) => void, string]>([
    ['a foreign label changed', (o) => (o['metadata']['labels']['team.example.com/owner'] = 'me'), 'labels under bpfready.io/'],
    ['a foreign label removed', (o) => delete o['metadata']['labels']['kubernetes.io/hostname'], 'labels under bpfready.io/'],
    [
      'a label outside the prefix added',
      (o) => (o['metadata']['labels']['feature.node.kubernetes.io/ebpf'] = 'true'),
      'labels under bpfready.io/',
    ],
    ['a foreign annotation changed', (o) => (o['metadata']['annotations']['example.com/note'] = 'gone'), 'owned-labels annotation'],
    [
      'an annotation under the prefix other than ours',
      (o) => (o['metadata']['annotations']['bpfready.io/other'] = 'x'),
      'owned-labels annotation',
    ],
    ['a foreign taint removed', (o) => (o['spec']['taints'] = []), 'its own taint'],
    ['a foreign taint added', (o) => o['spec']['taints'].push({ key: 'example.com/evil', effect: 'NoExecute' }), 'its own taint'],
    ['the node cordoned', (o) => (o['spec']['unschedulable'] = true), 'cordon'],
    [
      'the kubelet’s Ready condition changed',
      (o) => (o['status']['conditions'][0]['status'] = 'False'),
      'conditions whose type is under bpfready.io/',
    ],
    ['a foreign condition deleted', (o) => o['status']['conditions'].splice(1, 1), 'conditions whose type is under bpfready.io/'],
    ['capacity changed', (o) => (o['status']['capacity']['cpu'] = '400'), 'status other than its conditions'],
    ['a status field the policy never listed added', (o) => (o['status']['somethingNew'] = { x: 1 }), 'status other than its conditions'],
    ['spec.podCIDR changed', (o) => (o['spec']['podCIDR'] = '10.9.9.0/24'), 'taints in its spec'],
    ['spec.providerID set', (o) => (o['spec']['providerID'] = 'aws:///us-east-1a/i-0'), 'taints in its spec'],
    ['a finalizer added', (o) => (o['metadata']['finalizers'] = ['example.com/hold']), 'finalizers'],
  ])('refuses %s', (_what, f, message) => {
    const v = admit(policy, { oldObject: old, object: mutate(old, f) });
    expect(v.matched).toBe(true);
    expect(v.failures).toHaveLength(1);
    expect(v.failures[0]).toContain(message);
  });

  it('follows a custom label prefix: bpfready.io/ is foreign then', () => {
    const p = policyFor({ config: { kubernetes: { labelPrefix: 'ebpf.example.com' } } });
    const v = admit(p, { oldObject: old, object: mutate(old, (o) => (o['metadata']['labels']['bpfready.io/feature.btf'] = 'true')) });
    expect(v.failures).toEqual(['bpfready may only add, change or remove labels under ebpf.example.com/']);
    const ok = admit(p, { oldObject: old, object: mutate(old, (o) => (o['metadata']['labels']['ebpf.example.com/feature.btf'] = 'true')) });
    expect(ok.failures).toEqual([]);
  });
});

describe.skipIf(skip)('ValidatingAdmissionPolicy for NodeFeatures (kubernetes.nfd)', () => {
  const policy = policyFor({ config: { kubernetes: { nfd: true } } }, 'bpfready-nodefeatures');
  const owner = (name: string) => nodeOwnerReference(name, '6b1a2f0e-0000-4000-8000-000000000001');
  const nf = (nodeName: string, labelNode = nodeName, owners = [owner(nodeName)]): Obj => ({
    apiVersion: 'nfd.k8s-sigs.io/v1alpha1',
    kind: 'NodeFeature',
    metadata: {
      name: `bpfready-${nodeName}`,
      namespace: 'bpfready',
      labels: { 'nfd.node.kubernetes.io/node-name': labelNode },
      ownerReferences: owners,
    },
    spec: { features: {} },
  });

  it('admits the pod’s own node’s object', () => {
    expect(admit(policy, { oldObject: null, object: nf('node-a') }).failures).toEqual([]);
  });

  it.each([
    ['another node’s object', nf('node-b')],
    ['its own name labelled for another node', nf('node-a', 'node-b')],
  ])('refuses %s', (_w, object) => {
    expect(admit(policy, { oldObject: null, object }).failures).toContain(
      'bpfready on node node-a may only write NodeFeature bpfready-node-a for its own node',
    );
  });

  it.each([
    ['no owner', nf('node-a', 'node-a', [])],
    ['another Node as owner', nf('node-a', 'node-a', [owner('node-b')])],
    ['a second Node as owner', nf('node-a', 'node-a', [owner('node-a'), owner('node-b')])],
  ])('refuses its own object with %s', (_w, object) => {
    expect(admit(policy, { oldObject: null, object }).failures).toEqual([
      'bpfready on node node-a must make NodeFeature bpfready-node-a owned by Node node-a alone',
    ]);
  });
});

describe.skipIf(skip)('ValidatingAdmissionPolicy for node reports (kubernetes.reports)', () => {
  const policy = policyFor({}, 'bpfready-reports');
  // The objects the daemon's writer makes (src/publish/reports.ts), from a real saved report.
  const saved = loadReports('debian-6.1.0-57-amd64')[0]!.report;
  const mine = (node: string, owner = node): Obj => {
    const o = nodeReportObject(saved, { name: node, uid: 'u-1' }) as Obj;
    o['metadata']['ownerReferences'] = [{ apiVersion: 'v1', kind: 'Node', name: owner, uid: 'u-1' }];
    return o;
  };
  const view = kernelViewObjects(saved.kernelView!) as Obj[];
  const part = view[0]!;
  const index = view.at(-1)!;
  const OWN = 'bpfready on node node-a may only write the report of its own node, owned by Node node-a alone';

  it('admits every write the writer makes: its own report created and replaced, a view created, a beaten part deleted', () => {
    expect(admit(policy, { operation: 'CREATE', oldObject: null, object: mine('node-a') }).failures).toEqual([]);
    expect(admit(policy, { operation: 'UPDATE', oldObject: mine('node-a'), object: mine('node-a') }).failures).toEqual([]);
    for (const o of view) expect(admit(policy, { operation: 'CREATE', oldObject: null, object: o }).failures).toEqual([]);
    expect(admit(policy, { operation: 'DELETE', oldObject: part, object: null }).failures).toEqual([]);
  });

  it.each([
    ['another node’s report', 'CREATE', null, mine('node-b')],
    ['its own report owned by another Node', 'CREATE', null, mine('node-a', 'node-b')],
    ['another node’s report rewritten as its own', 'UPDATE', mine('node-b'), mine('node-a')],
  ] as const)('refuses %s', (_w, operation, oldObject, object) => {
    expect(admit(policy, { operation, oldObject, object }).failures).toEqual([OWN]);
  });

  it('refuses a token not bound to a node, changing a kernel view, deleting a report or an index, and any other ConfigMap', () => {
    expect(admit(policy, { node: null, operation: 'CREATE', oldObject: null, object: mine('node-a') }).failures).toEqual([
      'bpfready on node  may only write the report of its own node, owned by Node  alone',
    ]);
    expect(admit(policy, { operation: 'UPDATE', oldObject: part, object: part }).failures).toHaveLength(1);
    expect(admit(policy, { operation: 'DELETE', oldObject: mine('node-a'), object: null }).failures).toEqual([OWN]);
    expect(admit(policy, { operation: 'DELETE', oldObject: index, object: null }).failures[0]).toMatch(
      /^bpfready may only write its node reports and kernel views/,
    );
    const config = {
      apiVersion: 'v1',
      kind: 'ConfigMap',
      metadata: { name: 'bpfready', namespace: 'bpfready', labels: { 'app.kubernetes.io/managed-by': 'Helm' } },
      data: { 'config.yaml': '' },
    };
    expect(admit(policy, { operation: 'UPDATE', oldObject: config, object: config }).failures).toEqual([
      'bpfready may only write its node reports and kernel views, and only create kernel views (or delete their parts); not UPDATE of ConfigMap bpfready',
    ]);
  });

  it('does not apply to other users (kubectl, the prune hook)', () => {
    expect(
      admit(policy, { user: 'system:serviceaccount:bpfready:bpfready-prune', operation: 'DELETE', oldObject: mine('node-b'), object: null })
        .matched,
    ).toBe(false);
  });
});

describe.skipIf(skip)('ValidatingAdmissionPolicy for the uninstall hook (prune --all-nodes)', () => {
  const PRUNE_SA = 'system:serviceaccount:bpfready:bpfready-prune';
  const TAINT: TaintSpec = { key: 'bpfready.io/not-ready', effect: 'NoSchedule' };
  const withTaint = { config: { kubernetes: { taint: true } } };
  const policy = policyFor(withTaint, 'bpfready-prune-writes');
  const published = (name = 'node-b', taint: TaintSpec = TAINT): NodeView => publishSteps(node(name), taint, checksBad).at(-1)!.object;

  /** The two writes pruneNode makes, as the objects the API server would store. */
  function pruneSteps(old: NodeView, taintKeys: string[]): { oldObject: NodeView; object: NodeView }[] {
    return applySteps(old, planPrune(old, 'bpfready.io', taintKeys));
  }

  it('admits the real prune writes on any node, whatever node its token is bound to', () => {
    const steps = pruneSteps(published(), [TAINT.key]);
    expect(steps).toHaveLength(2);
    expect(steps[0]!.object.metadata?.labels).not.toHaveProperty('bpfready.io/feature.btf');
    for (const s of steps) {
      expect(admit(policy, { ...s, user: PRUNE_SA, node: 'node-a' })).toEqual({ matched: true, failures: [] });
      expect(admit(policy, { ...s, user: PRUNE_SA, node: null }).failures).toEqual([]);
    }
  });

  it('admits removing a node-readiness-controller taint key when that is the configured one', () => {
    const taint: TaintSpec = { key: 'readiness.k8s.io/ebpf-ready', value: 'pending', effect: 'NoSchedule' };
    const p = policyFor(
      { config: { kubernetes: { taint: { key: taint.key, value: 'pending', effect: 'NoSchedule' } } } },
      'bpfready-prune-writes',
    );
    for (const s of pruneSteps(published('node-b', taint), [taint.key])) expect(admit(p, { ...s, user: PRUNE_SA }).failures).toEqual([]);
    // The default chart (no taint configured) does not let prune take that taint off.
    const denied = pruneSteps(published('node-b', taint), [taint.key]).flatMap(
      (s) => admit(policyFor({}, 'bpfready-prune-writes'), { ...s, user: PRUNE_SA }).failures,
    );
    expect(denied).toEqual(['bpfready prune may only remove its own taint']);
  });

  it('applies to the prune account only; the daemon’s policy does not apply to it', () => {
    const [s] = pruneSteps(published(), [TAINT.key]);
    expect(admit(policy, { ...s!, user: SA }).matched).toBe(false);
    expect(admit(policyFor(withTaint), { ...s!, user: PRUNE_SA }).matched).toBe(false);
  });

  const old = published();
  it('starts from a node with our label, annotation, conditions and taint on it', () => {
    expect(old.metadata?.labels?.['bpfready.io/map-type.hash']).toBe('true');
    expect(old.metadata?.annotations?.['bpfready.io/owned-labels']).toContain('map-type.hash');
    expect(old.status?.conditions?.some((c) => c.type === 'bpfready.io/EBPFReady')).toBe(true);
  });

  it.each<[string, (o: Obj) => void, string]>([
    ['one of our labels added', (o) => (o['metadata']['labels']['bpfready.io/feature.new'] = 'true'), 'remove the labels listed'],
    ['one of our labels changed', (o) => (o['metadata']['labels']['bpfready.io/map-type.hash'] = 'false'), 'remove the labels listed'],
    [
      'a label under the prefix it never owned removed',
      (o) => delete o['metadata']['labels']['bpfready.io/hand-made'],
      'remove the labels listed',
    ],
    ['a foreign label removed', (o) => delete o['metadata']['labels']['kubernetes.io/hostname'], 'remove the labels listed'],
    [
      'the ownership annotation rewritten',
      (o) => (o['metadata']['annotations']['bpfready.io/owned-labels'] = 'hand-made'),
      'owned-labels annotation',
    ],
    ['a foreign annotation removed', (o) => delete o['metadata']['annotations']['example.com/note'], 'owned-labels annotation'],
    [
      'a foreign taint removed',
      (o) => (o['spec']['taints'] = o['spec']['taints'].filter((t: Obj) => t['key'] !== 'example.com/dedicated')),
      'its own taint',
    ],
    ['our taint re-added with another effect', (o) => o['spec']['taints'].push({ key: TAINT.key, effect: 'NoExecute' }), 'its own taint'],
    ['the node cordoned', (o) => (o['spec']['unschedulable'] = true), 'cordon'],
    [
      'the kubelet’s Ready condition removed',
      (o) => (o['status']['conditions'] = o['status']['conditions'].filter((c: Obj) => c['type'] !== 'Ready')),
      'remove conditions',
    ],
    [
      'our condition flipped to True',
      (o) => (o['status']['conditions'].find((c: Obj) => c['type'] === 'bpfready.io/EBPFReady')['status'] = 'True'),
      'remove conditions',
    ],
    [
      'a condition under the prefix added',
      (o) => o['status']['conditions'].push({ type: 'bpfready.io/New', status: 'True' }),
      'remove conditions',
    ],
    ['capacity changed', (o) => (o['status']['capacity']['cpu'] = '400'), 'status other than'],
    ['a finalizer added', (o) => (o['metadata']['finalizers'] = ['example.com/hold']), 'finalizers'],
  ])('refuses %s', (_what, f, message) => {
    const v = admit(policy, { user: PRUNE_SA, oldObject: old, object: mutate(old, f) });
    expect(v.matched).toBe(true);
    expect(v.failures).toHaveLength(1);
    expect(v.failures[0]).toContain(message);
  });
});
