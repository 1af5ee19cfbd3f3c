// Every manifest we ship, validated against the Kubernetes OpenAPI schemas: kubernetes-models
// (validators generated with ajv from the upstream OpenAPI document) for the built-in kinds, and
// @kubernetes-models/prometheus-operator for ServiceMonitor and PrometheusRule. Covers the chart
// under each value set of chart.test.ts and the files in deploy/.
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { parseAllDocuments } from 'yaml';
import { CHART_DIR, REPO_ROOT, renderChart } from '../../scripts/render-chart.ts';

type Model = new (data: unknown) => { validate(): void };
type Obj = Record<string, any>;

// apiVersion → the module whose exports are the model classes, by kind.
const MODULES: Record<string, string> = {
  v1: 'kubernetes-models/v1',
  'apps/v1': 'kubernetes-models/apps/v1',
  'batch/v1': 'kubernetes-models/batch/v1',
  'rbac.authorization.k8s.io/v1': 'kubernetes-models/rbac.authorization.k8s.io/v1',
  'admissionregistration.k8s.io/v1': 'kubernetes-models/admissionregistration.k8s.io/v1',
  'monitoring.coreos.com/v1': '@kubernetes-models/prometheus-operator/monitoring.coreos.com/v1',
};
// Custom resources of other projects with no schema package: parsed and checked for shape only.
const NO_SCHEMA = new Set(['readiness.node.x-k8s.io/v1alpha1/NodeReadinessRule']);

// devDependencies: a missing one is a broken install and fails here, it never skips.
const loaded = new Map<string, Record<string, Model>>();
for (const [apiVersion, spec] of Object.entries(MODULES)) loaded.set(apiVersion, (await import(spec)) as Record<string, Model>);

function modelFor(doc: Obj): Model {
  const mod = loaded.get(doc['apiVersion']);
  const model = mod?.[doc['kind']];
  if (!model) throw new Error(`no schema for ${doc['apiVersion']} ${doc['kind']}: add it to MODULES`);
  return model;
}

function validationError(doc: Obj): string | undefined {
  try {
    new (modelFor(doc))(doc).validate();
    return undefined;
  } catch (e) {
    return (e as Error).message;
  }
}

const VALUE_SETS: Record<string, Record<string, unknown>> = {
  defaults: {},
  everythingOn: {
    serviceMonitor: { enabled: true },
    prometheusRule: { enabled: true, tokenExpectedMounts: '/run/tokens/.*' },
    grafanaDashboard: { enabled: true },
    imagePullSecrets: [{ name: 'regcred' }],
    config: { kubernetes: { nfd: true, taint: { key: 'readiness.k8s.io/ebpf-ready', value: 'pending', effect: 'NoSchedule' } } },
    seccompProfile: { type: 'Localhost', localhostProfile: 'profiles/bpfready.json' },
    prune: { tolerations: [{ operator: 'Exists' }], nodeSelector: { 'kubernetes.io/os': 'linux' } },
  },
};

describe('Kubernetes OpenAPI schemas', () => {
  for (const [name, values] of Object.entries(VALUE_SETS)) {
    const r = renderChart(CHART_DIR, { values });
    for (const { doc, source } of r.documents) {
      it(`chart (${name}): ${doc['kind']} ${(doc['metadata'] as Obj)['name']} from ${source}`, () => {
        expect(validationError(doc)).toBeUndefined();
      });
    }
  }

  for (const file of ['deploy/bpfready.yaml', 'deploy/prune.yaml', 'deploy/monitoring.yaml', 'deploy/namespace.yaml', 'deploy/node-readiness-rule.yaml']) {
    it(`${file}: every document`, () => {
      const docs = parseAllDocuments(readFileSync(join(REPO_ROOT, file), 'utf8'));
      expect(docs.length).toBeGreaterThan(0);
      for (const d of docs) {
        expect(d.errors, file).toEqual([]);
        const doc = d.toJS() as Obj;
        if (NO_SCHEMA.has(`${doc['apiVersion']}/${doc['kind']}`)) {
          expect(doc['metadata']?.['name']).toEqual(expect.any(String));
          continue;
        }
        expect(validationError(doc), `${file}: ${doc['kind']}`).toBeUndefined();
      }
    });
  }

  it('catches a wrong type (the validators are not vacuous)', () => {
    const ds = structuredClone(renderChart(CHART_DIR).documents.find((d) => d.doc['kind'] === 'DaemonSet')!.doc) as Obj;
    ds['spec']['template']['spec']['containers'][0]['ports'][0]['containerPort'] = 'http';
    expect(validationError(ds)).toMatch(/containerPort must be integer/);
    const policy = structuredClone(renderChart(CHART_DIR).documents.find((d) => d.doc['kind'] === 'ValidatingAdmissionPolicy')!.doc) as Obj;
    policy['spec']['validations'] = [{ message: 'no expression' }];
    expect(validationError(policy)).toMatch(/expression/);
  });
});
