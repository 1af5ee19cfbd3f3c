// Pure stages: facts → labels, checks → conditions, (desired, observed) → patches.
import { describe, expect, it } from 'vitest';
import { UsageError } from '../../src/base/errors.ts';
import { clampMessage, profileConditionType, projectConditions, verdict } from '../../src/publish/conditions.ts';
import { desiredState, validateTaint } from '../../src/publish/index.ts';
import { decodeOwned, labelSafe, prefixProblem, projectLabels, validatePrefix } from '../../src/publish/labels.ts';
import { planPrune, planWrites } from '../../src/publish/plan.ts';
import { checksBad, checksOk, checksUnknown, foreignNode, report } from './fixtures.ts';

describe('labels', () => {
  it('rejects reserved and malformed prefixes', () => {
    for (const bad of [
      'kubernetes.io',
      'feature.node.kubernetes.io',
      'k8s.io',
      'x.k8s.io',
      'Bpfready.io',
      'a..b',
      '-a.io',
      '',
      'a'.repeat(254),
    ]) {
      expect(prefixProblem(bad), bad).toBeDefined();
      expect(() => validatePrefix(bad)).toThrow(UsageError);
    }
    expect(() => validatePrefix('kubernetes.io')).toThrow(/reserved/);
    for (const ok of ['bpfready.io', 'ebpf.example.com', 'a-b.c1']) expect(prefixProblem(ok), ok).toBeUndefined();
  });

  it('is bounded, valid, and silent on availability-unknown results', () => {
    const r = report();
    r.programTypes['made_up_type'] = { status: 'supported' };
    r.helpers['xdp'] = { map_lookup_elem: { status: 'supported' }, xdp_adjust_head: { status: 'supported' } };
    const labels = projectLabels('bpfready.io', r, checksOk.map(verdict));
    expect(Object.keys(labels).some((k) => k.includes('made_up_type'))).toBe(false);
    expect(Object.keys(labels).some((k) => k.includes('map_lookup_elem'))).toBe(false);
    for (const [k, v] of Object.entries(labels)) {
      const name = k.split('/')[1]!;
      expect(name.length).toBeLessThanOrEqual(63);
      expect(name).toMatch(/^[A-Za-z0-9]([-A-Za-z0-9_.]*[A-Za-z0-9])?$/);
      expect(['true', 'false']).toContain(v);
    }
    expect(labels['bpfready.io/feature.btf']).toBe('true');
    expect(labels['bpfready.io/feature.ringbuf']).toBe('true');
    expect(labels).not.toHaveProperty('bpfready.io/feature.bpf-lsm'); // no attach.lsm or security fact
    expect(labels).not.toHaveProperty('bpfready.io/feature.token-delegation'); // no bpffs section
  });

  it('token delegation from the bpffs mounts delegate options', () => {
    const mount = (cmds: string[], token: { status: 'supported' | 'unsupported'; errno?: string }) => ({
      path: '/x',
      delegate: { cmds, maps: [], progs: [], attachs: [] },
      token,
    });
    // EOPNOTSUPP from the host user namespace says nothing about the node's delegation
    const yes = report({
      bpffs: [mount([], { status: 'unsupported', errno: 'ENOENT' }), mount(['any'], { status: 'unsupported', errno: 'EOPNOTSUPP' })],
    });
    expect(projectLabels('p.io', yes, [])['p.io/feature.token-delegation']).toBe('true');
    const no = report({ bpffs: [mount([], { status: 'unsupported', errno: 'EOPNOTSUPP' })] });
    expect(projectLabels('p.io', no, [])['p.io/feature.token-delegation']).toBe('false');
  });

  it('folds profile names into label names; ignores invalid ownership entries', () => {
    expect(labelSafe('Cilium 1.16!')).toBe('cilium-1.16');
    expect(decodeOwned('p.io', 'a, b.c,,bad name,-x')).toEqual(['p.io/a', 'p.io/b.c']);
  });
});

describe('conditions', () => {
  it('summary: False beats Unknown beats True', () => {
    const unk = verdict(checksUnknown[0]!);
    expect(unk).toMatchObject({ status: 'Unknown', reason: 'RequirementsNotPermitted' });
    expect(unk.message).toContain('grant CAP_BPF');
    expect(verdict(checksBad[0]!)).toMatchObject({ status: 'False', reason: 'RequirementsUnsupported' });
    const s = (cs: typeof checksOk) => projectConditions('b.io', cs.map(verdict)).at(-1);
    expect(s([...checksOk, ...checksUnknown])).toMatchObject({ type: 'b.io/EBPFReady', status: 'Unknown' });
    expect(s([...checksBad, ...checksUnknown])).toMatchObject({ status: 'False', reason: 'ProfilesUnsatisfied' });
    expect(s(checksOk)).toMatchObject({ status: 'True' });
    expect(profileConditionType('b.io', 'cilium-1.16')).toBe('b.io/ProfileCilium116');
  });
});

describe('plan', () => {
  const opts = { prefix: 'bpfready.io', nowIso: '2026-11-22T01:00:00Z' };
  it('deletes only condition types it writes (EBPFReady, Profile*), not others under the same prefix', () => {
    const d = desiredState('bpfready.io', report(), checksOk, undefined);
    const n = foreignNode('n');
    n.status!.conditions!.push(
      { type: 'bpfready.io/ProfileGone', status: 'True' },
      { type: 'bpfready.io/GpuHealthy', status: 'True' },
      { type: 'bpfready.io/Profile-not-ours', status: 'True' },
    );
    const deleted = (planWrites(d, n, opts).status!['status'] as { conditions: { type: string; $patch?: string }[] }).conditions
      .filter((c) => c.$patch === 'delete')
      .map((c) => c.type);
    expect(deleted).toEqual(['bpfready.io/ProfileGone']);
    expect(planPrune(n, 'bpfready.io', []).status).toEqual({
      status: { conditions: [{ type: 'bpfready.io/ProfileGone', $patch: 'delete' }] },
    });
  });

  it('is empty once the node shows the desired state', () => {
    const d = desiredState('bpfready.io', report(), checksOk, undefined);
    const n = foreignNode('n');
    const p = planWrites(d, n, opts);
    expect(p.node).toBeDefined();
    expect(p.status).toBeDefined();
    n.metadata.labels = { ...n.metadata.labels, ...d.labels };
    n.metadata.annotations = { ...n.metadata.annotations, ...(p.node!['metadata'] as { annotations: Record<string, string> }).annotations };
    n.status!.conditions = [...n.status!.conditions!, ...(p.status!['status'] as { conditions: [] }).conditions];
    expect(planWrites(d, n, opts)).toEqual({});
    expect(planWrites(d, n, { ...opts, heartbeat: true }).status).toBeDefined();
  });

  it('prune removes only what is recorded as ours', () => {
    const n = foreignNode('n');
    n.metadata.labels!['bpfready.io/program-type.xdp'] = 'true';
    n.metadata.annotations!['bpfready.io/owned-labels'] = 'program-type.xdp,gone';
    n.spec!.taints!.push({ key: 'bpfready.io/not-ready', effect: 'NoSchedule' });
    n.status!.conditions!.push({ type: 'bpfready.io/EBPFReady', status: 'True' });
    const p = planPrune(n, 'bpfready.io', ['bpfready.io/not-ready']);
    expect(p.node).toEqual({
      spec: { taints: [{ key: 'example.com/dedicated', value: 'gpu', effect: 'NoSchedule' }] },
      metadata: {
        labels: { 'bpfready.io/program-type.xdp': null },
        annotations: { 'bpfready.io/owned-labels': null },
        resourceVersion: undefined,
      },
    });
    expect(p.status).toEqual({ status: { conditions: [{ type: 'bpfready.io/EBPFReady', $patch: 'delete' }] } });
  });

  it('taint validation', () => {
    expect(() => validateTaint({ key: 'bpfready.io/not-ready', effect: 'NoSchedule' })).not.toThrow();
    expect(() => validateTaint({ key: 'readiness.k8s.io/bpfready', effect: 'NoSchedule' })).not.toThrow();
    expect(() => validateTaint({ key: 'node.kubernetes.io/x', effect: 'NoSchedule' })).toThrow(UsageError);
    expect(() => validateTaint({ key: 'a.io/x', effect: 'Sometimes' as 'NoSchedule' })).toThrow(/effect/);
  });
});

describe('clampMessage', () => {
  it('cuts long messages without splitting a surrogate pair', () => {
    const long = `${'a'.repeat(32_747)}😀${'b'.repeat(100)}`; // the emoji straddles the cut
    const m = clampMessage(long);
    expect(m.endsWith(' … (truncated)')).toBe(true);
    expect(m.length).toBeLessThanOrEqual(32_768);
    expect(/[\uD800-\uDBFF](?![\uDC00-\uDFFF])/.test(m)).toBe(false);
    expect(clampMessage('short')).toBe('short');
  });
});
