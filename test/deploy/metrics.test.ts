// Every metric (and every label) the Grafana dashboard and the PrometheusRule use exists in /metrics
// of a running daemon: `bin/bpfready serve`, started as a process with the config file the chart
// renders, scraped over HTTP once its first probe has finished.
import { spawn, type ChildProcess } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { createInterface } from 'node:readline';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { CHART_DIR, MONITORING_APIS, REPO_ROOT, render } from '../../scripts/chart.ts';
import { helmSkip } from './k8s.ts';

type Obj = Record<string, any>;

/** Metric name → label names seen on its samples ("# TYPE" lines count as existing, even unsampled). */
export function parseExposition(text: string): Map<string, Set<string>> {
  const out = new Map<string, Set<string>>();
  for (const line of text.split('\n')) {
    const type = /^# TYPE (\S+) (\S+)/.exec(line);
    if (type) {
      const [, name = '', kind] = type;
      out.set(name, out.get(name) ?? new Set());
      // A histogram's samples are _bucket, _sum and _count.
      if (kind === 'histogram') for (const s of ['_bucket', '_sum', '_count']) out.set(name + s, out.get(name + s) ?? new Set());
      continue;
    }
    const sample = /^([a-zA-Z_:][a-zA-Z0-9_:]*)(?:\{(.*)\})? /.exec(line);
    if (!sample) continue;
    const labels = out.get(sample[1]!) ?? new Set<string>();
    for (const m of (sample[2] ?? '').matchAll(/([a-zA-Z_][a-zA-Z0-9_]*)="/g)) labels.add(m[1]!);
    out.set(sample[1]!, labels);
  }
  return out;
}

interface Query {
  where: string;
  expr: string;
  /** Labels the surrounding text reads from the result ({{x}} legends, $labels.x annotations). */
  reads: string[];
}

function dashboardQueries(): Query[] {
  const dash = JSON.parse(readFileSync(join(CHART_DIR, 'dashboards/bpfready-dashboard.json'), 'utf8')) as Obj;
  const out: Query[] = [];
  for (const p of dash['panels'] as Obj[]) {
    for (const t of (p['targets'] ?? []) as Obj[]) {
      out.push({
        where: `dashboard panel "${p['title']}"`,
        expr: t['expr'],
        reads: [...String(t['legendFormat'] ?? '').matchAll(/\{\{\s*(\w+)\s*\}\}/g)].map((m) => m[1]!),
      });
    }
  }
  for (const v of dash['templating']['list'] as Obj[])
    if (v['type'] === 'query') out.push({ where: `dashboard variable ${v['name']}`, expr: v['definition'], reads: [] });
  return out;
}

function ruleQueries(): Query[] {
  const r = render({
    values: [{ prometheusRule: { enabled: true, tokenExpectedMounts: '/run/tokens/.*' } }],
    apiVersions: MONITORING_APIS,
  });
  const rule = r.find((d) => d.doc['kind'] === 'PrometheusRule')!.doc as Obj;
  return (rule['spec']['groups'] as Obj[]).flatMap((g) =>
    (g['rules'] as Obj[]).map((x) => ({
      where: `alert ${x['alert']}`,
      expr: x['expr'],
      reads: [...JSON.stringify(x['annotations']).matchAll(/\$labels\.(\w+)/g)].map((m) => m[1]!),
    })),
  );
}

// `node` is added by the ServiceMonitor's relabeling, `le` is a histogram's, `__name__` is Prometheus'.
const SCRAPE_LABELS = new Set(['node', 'le', '__name__']);

const skip = helmSkip();
let daemon: ChildProcess | undefined;
let metrics = new Map<string, Set<string>>();
let dir = '';

beforeAll(async () => {
  if (skip) return;
  dir = mkdtempSync(join(tmpdir(), 'bpfready-metrics-'));
  const cm = render().find((d) => d.doc['kind'] === 'ConfigMap')!.doc as Obj;
  writeFileSync(join(dir, 'config.yaml'), cm['data']['config.yaml']);
  daemon = spawn(
    join(REPO_ROOT, 'bin/bpfready'),
    ['serve', '--config', join(dir, 'config.yaml'), '--listen', '127.0.0.1:0', '--log-level', 'info'],
    {
      stdio: ['ignore', 'pipe', 'inherit'],
    },
  );
  const url = await new Promise<string>((resolve, reject) => {
    daemon!.once('exit', (code) => reject(new Error(`bpfready serve exited with ${code} before serving`)));
    createInterface({ input: daemon!.stdout! }).on('line', (line) => {
      try {
        const rec = JSON.parse(line) as { msg?: string; url?: string };
        if (rec.msg === 'serving' && rec.url) resolve(rec.url);
      } catch {
        // not a log line
      }
    });
  });
  // /readyz turns 200 when the first probe cycle has finished; only then are the report's series there.
  for (;;) {
    const r = await fetch(`${url}/readyz`);
    if (r.status === 200) break;
    await new Promise((res) => setTimeout(res, 200));
  }
  metrics = parseExposition(await (await fetch(`${url}/metrics`)).text());
});

afterAll(async () => {
  if (daemon && daemon.exitCode === null) {
    const exited = new Promise((res) => daemon!.once('exit', res));
    daemon.kill('SIGTERM');
    await exited;
  }
  if (dir) rmSync(dir, { recursive: true, force: true });
});

describe.skipIf(skip)('metrics used by the dashboard and the alerts', () => {
  const queries = skip ? [] : [...dashboardQueries(), ...ruleQueries()];

  it('finds queries to check', () => {
    expect(queries.length).toBeGreaterThan(20);
    expect(queries.some((q) => q.where.startsWith('alert'))).toBe(true);
  });

  it.each(queries.map((q) => [q.where, q] as const))('%s: every bpfready_* metric is exported', (_w, q) => {
    const names = [...q.expr.matchAll(/\bbpfready_[a-z0-9_]+/g)].map((m) => m[0]);
    expect(names.length, q.expr).toBeGreaterThan(0);
    for (const n of names) expect(metrics.has(n), `${n} in ${q.expr}`).toBe(true);
  });

  it.each(queries.map((q) => [q.where, q] as const))('%s: every label it selects, groups by or reads exists', (_w, q) => {
    const names = [...q.expr.matchAll(/\bbpfready_[a-z0-9_]+/g)].map((m) => m[0]);
    const known = new Set([...SCRAPE_LABELS, ...names.flatMap((n) => [...(metrics.get(n) ?? [])])]);
    // A metric with no samples yet (no bpffs mount on this machine) has no labels to compare with.
    if (names.some((n) => (metrics.get(n)?.size ?? 0) === 0)) return;
    const used = [
      ...[...q.expr.matchAll(/\{([^}]*)\}/g)].flatMap((m) => [...m[1]!.matchAll(/([a-zA-Z_]\w*)\s*(?:=~|!~|!=|=)/g)].map((x) => x[1]!)),
      ...[...q.expr.matchAll(/\b(?:by|on|without|ignoring)\s*\(([^)]*)\)/g)].flatMap((m) => m[1]!.split(',').map((s) => s.trim())),
      ...q.reads,
    ].filter((l) => l !== '');
    for (const l of used) expect(known.has(l), `label "${l}" in ${q.where}: ${q.expr}`).toBe(true);
  });

  it('exports the key metrics with their documented labels', () => {
    expect(metrics.get('bpfready_feature_status')).toEqual(new Set(['family', 'feature', 'status']));
    expect(metrics.get('bpfready_profile_satisfied')).toEqual(new Set(['profile']));
    expect(metrics.has('bpfready_probe_duration_seconds_bucket')).toBe(true);
  });
});
