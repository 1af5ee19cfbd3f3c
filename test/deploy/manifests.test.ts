// deploy/ is generated from the chart's defaults (node scripts/render-chart.ts --write); this test
// fails when someone edits one without the other. It also checks the example NodeReadinessRule
// (owned by the Kubernetes side) still names the condition the daemon publishes.
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { parseAllDocuments } from 'yaml';
import { summaryConditionType } from '../../src/publish/conditions.ts';
import { deployFiles, REPO_ROOT } from '../../scripts/render-chart.ts';

describe('deploy/', () => {
  for (const [path, want] of deployFiles()) {
    it(`${path} is what the chart renders (run node scripts/render-chart.ts --write)`, () => {
      expect(readFileSync(join(REPO_ROOT, path), 'utf8')).toBe(want);
    });
  }

  it('the Grafana dashboard in deploy/grafana is the one the chart ships', () => {
    const a = readFileSync(join(REPO_ROOT, 'deploy/grafana/bpfready-dashboard.json'), 'utf8');
    const b = readFileSync(join(REPO_ROOT, 'helm/bpfready/dashboards/bpfready-dashboard.json'), 'utf8');
    expect(a).toBe(b);
    expect(() => JSON.parse(a)).not.toThrow();
  });

  it('the NodeReadinessRule example gates on the summary condition bpfready publishes', () => {
    const docs = parseAllDocuments(readFileSync(join(REPO_ROOT, 'deploy/node-readiness-rule.yaml'), 'utf8'));
    expect(docs.every((d) => d.errors.length === 0)).toBe(true);
    const rule = docs[0]!.toJS() as { kind: string; spec: { conditions: { type: string; requiredStatus: string }[] } };
    expect(rule.kind).toBe('NodeReadinessRule');
    expect(rule.spec.conditions).toContainEqual({ type: summaryConditionType('bpfready.io'), requiredStatus: 'True' });
  });
});
