// `check --emit KIND`: the YAML a user pastes to send a workload only to nodes that can run it
// (docs/tutorial-workload.md). All four start from one profile: its requirements go into the chart's
// values, the daemon then publishes the label <prefix>/profile.<name> and the condition
// <prefix>/Profile<Name> for it, and the other three select on those. Pure.
import { stringify } from 'yaml';
import { profileConditionType } from './conditions.ts';
import { labelSafe } from './labels.ts';
import { featureDomain } from './nodefeature.ts';
import type { ObjectRequirements } from '../requirements/from-elf.ts';
import { normalize, requirementId, type Requirement } from '../requirements/model.ts';
import { parseRequirement } from '../requirements/profiles.ts';

/** The kinds `check --emit` takes (src/commands/check.ts lists the same, without importing this). */
export type EmitKind = 'profile' | 'node-affinity' | 'node-feature-rule' | 'node-readiness-rule';

export interface EmitInput {
  requirements: Requirement[];
  object?: ObjectRequirements;
  programs: string[];
  name?: string;
  /** The chart's config.kubernetes.labelPrefix. */
  prefix?: string;
  sources: { elf?: string; profiles: string[]; require: string[] };
}

export interface ProfileEntry {
  name: string;
  requirements: string[];
  /** What the profile cannot say, each with why: it is then stricter or looser than the object. */
  left: string[];
  chosen: string[];
}

/** A profile name from the object's file name: "ksnoop.bpf.o" → "ksnoop". */
export function profileName(input: EmitInput): string {
  const base =
    input.name ??
    input.sources.elf
      ?.split('/')
      .at(-1)
      ?.replace(/(\.bpf)?\.o$/, '') ??
    input.sources.profiles.join('-') ??
    'workload';
  const n = base
    .toLowerCase()
    .replace(/[^a-z0-9-]+/g, '-')
    .replace(/^-+|-+$/g, '')
    .slice(0, 63)
    .replace(/-+$/, '');
  return n || 'workload';
}

/**
 * The object's requirements as one flat list, which is all a profile is. Alternatives (fentry or
 * kprobe) cannot be listed side by side: the first of each group is taken, which may leave out
 * nodes only another one fits, never takes in a node where it fails (--program picks others).
 * CO-RE accesses guarded by bpf_core_*_exists() are left out: the object reads one variant or
 * another, and a profile listing both would hold nowhere.
 */
export function profileEntry(input: EmitInput): ProfileEntry {
  const left: string[] = [];
  const chosen: string[] = [];
  const reqs: Requirement[] = [...input.requirements];
  const o = input.object;
  if (o) {
    reqs.push(...o.object);
    const loaded = new Set(input.programs.length ? input.programs : o.programs.map((p) => p.name));
    const grouped = new Map<string, string[]>();
    if (!input.programs.length) {
      for (const g of o.groups) {
        const first = g.alternatives[0] ?? [];
        for (const a of g.alternatives) for (const n of a) grouped.set(n, first);
        chosen.push(
          `${g.id}: ${first.join('+')} (the others: ${
            g.alternatives
              .slice(1)
              .map((a) => a.join('+'))
              .join('; ') || 'none'
          })`,
        );
      }
    }
    for (const p of o.programs) {
      if (!loaded.has(p.name)) continue;
      const first = grouped.get(p.name);
      if (first && !first.includes(p.name)) continue;
      reqs.push(...p.requirements);
    }
  }
  const ids: string[] = [];
  for (const r of normalize(reqs)) {
    const id = requirementId(r);
    if (r.kind === 'core' && r.when) {
      left.push(`${id}: guarded by bpf_core_*_exists() in the object`);
      continue;
    }
    if (r.kind === 'license' || r.kind === 'section') {
      left.push(`${id}: a property of the object, not of a node`);
      continue;
    }
    try {
      const back = parseRequirement(id, 'emit', id);
      if (requirementId(back) !== id) throw new Error('changes when read back');
      ids.push(id);
    } catch {
      left.push(`${id}: not expressible as a profile requirement`);
    }
  }
  return { name: profileName(input), requirements: ids, left, chosen };
}

const comment = (lines: string[]): string => lines.map((l) => `# ${l}`).join('\n');

function header(input: EmitInput, e: ProfileEntry, what: string): string[] {
  const src = input.sources.elf ? `bpfready check --elf ${input.sources.elf}` : 'bpfready check';
  return [
    `${what} for profile "${e.name}" (${src} --emit …; docs/tutorial-workload.md)`,
    ...e.chosen.map((c) => `alternatives taken: ${c}`),
    ...e.left.map((l) => `not in the profile: ${l}`),
  ];
}

export function emitYaml(kind: EmitKind, input: EmitInput): string {
  const e = profileEntry(input);
  const prefix = input.prefix ?? 'bpfready.io';
  const label = `${prefix}/profile.${labelSafe(e.name)}`;
  const condition = profileConditionType(prefix, e.name);
  switch (kind) {
    case 'profile':
      return `${comment([...header(input, e, 'Chart values'), 'merge into your values (helm upgrade -f); with config.checkProfiles set, add the name there too', `the daemon then publishes the label ${label}=true|false and the condition ${condition}`])}\n${stringify({ config: { profiles: { [e.name]: e.requirements } } })}`;
    case 'node-affinity':
      return `${comment([...header(input, e, 'Pod spec'), `only nodes where the daemon found every requirement: ${label}=true`])}\n${stringify(
        {
          affinity: {
            nodeAffinity: {
              requiredDuringSchedulingIgnoredDuringExecution: {
                nodeSelectorTerms: [{ matchExpressions: [{ key: label, operator: 'In', values: ['true'] }] }],
              },
            },
          },
        },
      )}`;
    case 'node-feature-rule': {
      const domain = featureDomain(prefix);
      return `${comment([...header(input, e, 'node-feature-discovery NodeFeatureRule'), `with config.kubernetes.nodeFeature on, nfd-master labels the nodes whose ${domain}.profile feature says ${e.name}=true`])}\n${stringify(
        {
          apiVersion: 'nfd.k8s-sigs.io/v1alpha1',
          kind: 'NodeFeatureRule',
          metadata: { name: `bpfready-${e.name}`.slice(0, 253) },
          spec: {
            rules: [
              {
                name: `bpfready profile ${e.name}`,
                labels: { [`feature.node.kubernetes.io/bpfready-profile.${labelSafe(e.name)}`]: 'true' },
                matchFeatures: [{ feature: `${domain}.profile`, matchExpressions: { [labelSafe(e.name)]: { op: 'IsTrue' } } }],
              },
            ],
          },
        },
      )}`;
    }
    case 'node-readiness-rule':
      return `${comment([...header(input, e, 'node-readiness-controller NodeReadinessRule'), `taints nodes until the daemon reports ${condition}=True; tolerate the taint in bpfready's own DaemonSet (values: tolerations)`])}\n${stringify(
        {
          apiVersion: 'readiness.node.x-k8s.io/v1alpha1',
          kind: 'NodeReadinessRule',
          metadata: { name: `bpfready-${e.name}`.slice(0, 253) },
          spec: {
            conditions: [{ type: condition, requiredStatus: 'True' }],
            enforcementMode: 'continuous',
            // Required by the CRD; empty selects every node. Narrow it to the nodes the workload may use.
            nodeSelector: {},
            taint: {
              key: `readiness.k8s.io/bpfready-${labelSafe(e.name)}`.slice(0, 'readiness.k8s.io/'.length + 63).replace(/[^a-z0-9]+$/, ''),
              effect: 'NoSchedule',
            },
          },
        },
      )}`;
  }
}
