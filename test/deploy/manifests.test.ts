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

  it('the dashboard is well-formed: unique panel ids, non-overlapping grid, every target with a refId', () => {
    const dash = JSON.parse(readFileSync(join(REPO_ROOT, 'deploy/grafana/bpfready-dashboard.json'), 'utf8')) as {
      uid: string;
      panels: { id: number; type: string; gridPos: { x: number; y: number; w: number; h: number }; targets?: { refId: string; expr: string }[] }[];
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
