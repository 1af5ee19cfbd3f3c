// deploy/, the chart README's values table and the config part of values.schema.json are generated
// from the chart by real Helm and from src/config.schema.json (node scripts/chart.ts --write); this
// test fails when someone edits one without the other. Every document in deploy/ is checked against
// the Kubernetes schemas, unknown fields refused, read as YAML 1.1. It also checks the example
// NodeReadinessRule (owned by the Kubernetes side) still names the condition the daemon publishes.
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { parseAllDocuments } from 'yaml';
import { generatedFiles, parseManifests, REPO_ROOT } from '../../scripts/chart.ts';
import { summaryConditionType } from '../../src/publish/conditions.ts';
import { helmSkip, nameProblems, schemaProblems } from './k8s.ts';

const skip = helmSkip();
const generated = skip ? new Map<string, string>() : await generatedFiles();

describe.skipIf(skip)('generated files', () => {
  const files = generated;

  it('are deploy/, the chart README and its values schema', () => {
    expect([...files.keys()].sort()).toEqual([
      'deploy/bpfready.yaml',
      'deploy/grafana/bpfready-dashboard.json',
      'deploy/monitoring.yaml',
      'deploy/prune.yaml',
      'helm/bpfready/README.md',
      'helm/bpfready/templates/config-checks.yaml',
      'helm/bpfready/values.schema.json',
    ]);
  });

  for (const [path, want] of files) {
    it(`${path} is current (run node scripts/chart.ts --write)`, () => {
      expect(readFileSync(join(REPO_ROOT, path), 'utf8')).toBe(want);
    });
  }

  it("the chart's config schema is src/config.schema.json, the daemon's", () => {
    const values = JSON.parse(readFileSync(join(REPO_ROOT, 'helm/bpfready/values.schema.json'), 'utf8'));
    const daemon = JSON.parse(readFileSync(join(REPO_ROOT, 'src/config.schema.json'), 'utf8'));
    expect(values.definitions.config.properties).toEqual(
      JSON.parse(JSON.stringify(daemon.properties).replaceAll('"#/', '"#/definitions/config/')),
    );
    expect(values.properties.config.allOf[0]).toEqual({ $ref: '#/definitions/config' });
  });
});

describe('deploy/', () => {
  for (const file of ['deploy/bpfready.yaml', 'deploy/prune.yaml', 'deploy/monitoring.yaml', 'deploy/namespace.yaml']) {
    it(`${file}: every document is one the API server would take`, () => {
      const docs = parseManifests(readFileSync(join(REPO_ROOT, file), 'utf8'));
      expect(docs.length).toBeGreaterThan(0);
      expect(
        docs.flatMap(({ doc }) =>
          [...schemaProblems(doc), ...nameProblems(doc)].map((p) => `${doc['kind']} ${doc['metadata']?.['name']}: ${p}`),
        ),
      ).toEqual([]);
    });
  }

  it('deploy/bpfready.yaml applies the admission policies before anything else, and holds no hook', () => {
    const kinds = parseManifests(readFileSync(join(REPO_ROOT, 'deploy/bpfready.yaml'), 'utf8')).map((d) => d.doc['kind']);
    // Every policy and its binding (node writes, node reports) come before the first other object.
    const first = kinds.findIndex((k) => !k.startsWith('ValidatingAdmissionPolicy'));
    expect(kinds.slice(0, first).sort()).toEqual([
      'ValidatingAdmissionPolicy',
      'ValidatingAdmissionPolicy',
      'ValidatingAdmissionPolicyBinding',
      'ValidatingAdmissionPolicyBinding',
    ]);
    expect(kinds.slice(first).filter((k) => k.startsWith('ValidatingAdmissionPolicy'))).toEqual([]);
    expect(kinds.filter((k) => k === 'DaemonSet')).toHaveLength(1);
    expect(kinds).not.toContain('Job');
    expect(kinds).not.toContain('Pod');
  });

  it('the Grafana dashboard in deploy/grafana is the one the chart ships', () => {
    const a = readFileSync(join(REPO_ROOT, 'deploy/grafana/bpfready-dashboard.json'), 'utf8');
    expect(a).toBe(readFileSync(join(REPO_ROOT, 'helm/bpfready/dashboards/bpfready-dashboard.json'), 'utf8'));
    expect(() => JSON.parse(a)).not.toThrow();
  });

  it('the dashboard is well-formed: unique panel ids, non-overlapping grid, every target with a refId', () => {
    const dash = JSON.parse(readFileSync(join(REPO_ROOT, 'deploy/grafana/bpfready-dashboard.json'), 'utf8')) as {
      uid: string;
      panels: {
        id: number;
        type: string;
        gridPos: { x: number; y: number; w: number; h: number };
        targets?: { refId: string; expr: string }[];
      }[];
    };
    expect(dash.uid).toBe('bpfready');
    expect(new Set(dash.panels.map((p) => p.id)).size).toBe(dash.panels.length);
    const cells = new Set<string>();
    for (const p of dash.panels) {
      expect(p.gridPos.x + p.gridPos.w, `panel ${p.id} fits 24 columns`).toBeLessThanOrEqual(24);
      for (let x = p.gridPos.x; x < p.gridPos.x + p.gridPos.w; x++) {
        for (let y = p.gridPos.y; y < p.gridPos.y + p.gridPos.h; y++) {
          expect(cells.has(`${x},${y}`), `panel ${p.id} overlaps at ${x},${y}`).toBe(false);
          cells.add(`${x},${y}`);
        }
      }
      if (p.type === 'row') continue;
      expect(p.targets?.length, `panel ${p.id}`).toBeGreaterThan(0);
      for (const t of p.targets ?? []) expect(t.refId).toMatch(/^[A-Z]$/);
    }
  });

  it('the NodeReadinessRule example gates on the summary condition bpfready publishes', () => {
    const docs = parseAllDocuments(readFileSync(join(REPO_ROOT, 'deploy/node-readiness-rule.yaml'), 'utf8'));
    expect(docs.every((d) => d.errors.length === 0)).toBe(true);
    const rule = docs[0]!.toJS() as { kind: string; spec: { conditions: { type: string; requiredStatus: string }[] } };
    expect(rule.kind).toBe('NodeReadinessRule');
    expect(rule.spec.conditions).toContainEqual({ type: summaryConditionType('bpfready.io'), requiredStatus: 'True' });
  });
});

describe('the offline API-server checks are not vacuous', () => {
  const ds = parseManifests(readFileSync(join(REPO_ROOT, 'deploy/bpfready.yaml'), 'utf8')).find((d) => d.doc['kind'] === 'DaemonSet')!.doc;

  it('catch a wrong type, an unknown field, a label YAML 1.1 reads as a boolean, and a name too long', () => {
    const bad = structuredClone(ds);
    bad['spec']['template']['spec']['containers'][0]['ports'][0]['containerPort'] = 'http';
    expect(schemaProblems(bad).join('\n')).toMatch(/containerPort must be integer/);
    const unknown = structuredClone(ds);
    unknown['spec']['template']['spec']['containers'][0]['imagePullPolicyy'] = 'Always';
    unknown['spec']['template']['spec']['tolerations'][0]['effects'] = 'NoSchedule';
    expect(schemaProblems(unknown).sort()).toEqual([
      'unknown field spec.template.spec.containers[0].imagePullPolicyy',
      'unknown field spec.template.spec.tolerations[0].effects',
    ]);
    const yaml11 = parseManifests('apiVersion: v1\nkind: Namespace\nmetadata:\n  name: ns\n  labels: {a: on, b: 1:20, c: 2001-01-01}\n')[0]!
      .doc;
    expect(nameProblems(yaml11)).toEqual([
      'Namespace ns .metadata.labels: label a: value true is not a string',
      'Namespace ns .metadata.labels: label b: value 80 is not a string',
      expect.stringMatching(/label c: value "2001-01-01T00:00:00.000Z" is not a string/),
    ]);
    const long = structuredClone(ds);
    long['metadata']['labels']['app.kubernetes.io/name'] = 'n'.repeat(64);
    expect(nameProblems(long)).toEqual([
      `DaemonSet bpfready .metadata.labels: label app.kubernetes.io/name: value "${'n'.repeat(64)}" must be at most 63 alphanumerics, '-', '_' or '.'`,
    ]);
  });
});
