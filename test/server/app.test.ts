// Route tests through fastify's inject(): no port is opened. The state is a hand-written report
// (test/server/fake-report.ts); the real engine is exercised by test/e2e.
import { pino } from 'pino';
import { Registry } from 'prom-client';
import { afterEach, describe, expect, it } from 'vitest';
import { buildApp, type App, type StatusDocument } from '../../src/server/app.ts';
import { createMetrics } from '../../src/server/metrics.ts';
import { initialState, type DaemonState } from '../../src/server/state.ts';
import { fakeChecks, fakeReport } from './fake-report.ts';

function setup(): { app: App; state: DaemonState; metrics: ReturnType<typeof createMetrics> } {
  const state = initialState();
  const registry = new Registry();
  const metrics = createMetrics(registry, () => state, { version: '9.9.9', nodejsVersion: '26.0.0' });
  const app = buildApp({
    state: () => state,
    registry,
    logger: pino({ level: 'silent' }),
    meta: { version: '9.9.9', hostname: 'testhost' },
  });
  return { app, state, metrics };
}

function probed(state: DaemonState): void {
  state.report = fakeReport();
  state.checks = fakeChecks();
  state.ready = true;
  state.cycles = 1;
  state.lastSuccessAt = new Date(1_700_000_000_000);
}

let app: App | undefined;
afterEach(async () => {
  await app?.close();
  app = undefined;
});

describe('health routes', () => {
  it('/healthz answers before the first probe; /readyz only after it', async () => {
    const s = setup();
    app = s.app;
    expect((await app.inject('/healthz')).statusCode).toBe(200);
    const before = await app.inject('/readyz');
    expect(before.statusCode).toBe(503);
    expect(before.body).toContain('first probe not finished');
    probed(s.state);
    const after = await app.inject('/readyz');
    expect(after.statusCode).toBe(200);
    expect(after.body).toBe('ready\n');
  });

  it('/healthz fails while a probe cycle has been running for minutes (stuck), so the kubelet restarts the pod', async () => {
    const s = setup();
    app = s.app;
    s.state.cycleStartedAt = new Date(Date.now() - 10_000);
    expect((await app.inject('/healthz')).statusCode).toBe(200);
    s.state.cycleStartedAt = new Date(Date.now() - 6 * 60_000);
    const stuck = await app.inject('/healthz');
    expect(stuck.statusCode).toBe(503);
    expect(stuck.body).toMatch(/^probe cycle running for 36\d s: stuck/);
    s.state.cycleStartedAt = null;
    expect((await app.inject('/healthz')).statusCode).toBe(200);
  });

  it('/readyz names the failure when the first probe failed', async () => {
    const s = setup();
    app = s.app;
    s.state.lastError = { at: new Date(), message: 'bpf() returned ENOSYS' };
    const res = await app.inject('/readyz');
    expect(res.statusCode).toBe(503);
    expect(res.body).toContain('ENOSYS');
  });

  it('/ redirects to /status; unknown paths are 404', async () => {
    const s = setup();
    app = s.app;
    const res = await app.inject('/');
    expect(res.statusCode).toBe(302);
    expect(res.headers.location).toBe('/status');
    expect((await app.inject('/nope')).statusCode).toBe(404);
  });
});

describe('/status.json', () => {
  it('is the report plus the checks and the loop health', async () => {
    const s = setup();
    app = s.app;
    const empty = (await app.inject('/status.json')).json<StatusDocument>();
    expect(empty).toMatchObject({ ready: false, report: null, checks: [], cycles: 0, lastSuccessAt: null });
    probed(s.state);
    const doc = (await app.inject('/status.json')).json<StatusDocument>();
    expect(doc.ready).toBe(true);
    expect(doc.report).toEqual(fakeReport());
    expect(doc.checks).toEqual(fakeChecks());
    expect(doc.lastSuccessAt).toBe(new Date(1_700_000_000_000).toISOString());
  });
});

describe('/status', () => {
  it('says it is waiting before the first probe', async () => {
    const s = setup();
    app = s.app;
    const res = await app.inject('/status');
    expect(res.statusCode).toBe(200);
    expect(res.headers['content-type']).toContain('text/html');
    expect(res.body).toContain('first probe has not finished');
  });

  it('renders every program type, unmet requirement and remediation, escaped, with no external assets', async () => {
    const s = setup();
    app = s.app;
    probed(s.state);
    const html = (await app.inject('/status')).body;
    for (const t of Object.keys(fakeReport().programTypes).filter((t) => !t.includes('<'))) expect(html).toContain(`>${t}<`);
    expect(html).toContain('x&#60;script&#62;');
    expect(html).not.toContain('<script');
    expect(html).not.toContain('<b>escaped?</b>');
    expect(html).toContain('boot a kernel with CONFIG_BPF_LSM=y');
    expect(html).toContain('/run/tokenfs');
    expect(html).toContain('6.18.0-test');
    expect(html).not.toMatch(/(src|href)="(https?:)?\/\//);
  });
});

describe('/metrics', () => {
  async function scrape(a: App): Promise<string> {
    const res = await a.inject('/metrics');
    expect(res.statusCode).toBe(200);
    expect(res.headers['content-type']).toContain('text/plain');
    return res.body;
  }

  it('exports one-hot feature status, helper counts, tokens, profiles and probe metrics', async () => {
    const s = setup();
    app = s.app;
    probed(s.state);
    s.metrics.observeProbe('startup', 0.8, true);
    s.metrics.observeProbe('interval', 0.002, false);
    const m = await scrape(app);
    expect(m).toContain('bpfready_feature_status{family="program_type",feature="lsm",status="unsupported"} 1');
    expect(m).toContain('bpfready_feature_status{family="program_type",feature="lsm",status="supported"} 0');
    expect(m).toContain('bpfready_feature_status{family="map_type",feature="ringbuf",status="supported"} 1');
    expect(m).toContain('bpfready_feature_status{family="misc",feature="bounded_loops",status="supported"} 1');
    expect(m).toContain('bpfready_helpers{program_type="kprobe",status="supported"} 1');
    expect(m).toContain('bpfready_helpers{program_type="kprobe",status="unsupported"} 1');
    expect(m).toContain('bpfready_bpffs_token_status{mount="/run/tokenfs",status="supported"} 1');
    expect(m).toContain('bpfready_bpffs_token_status{mount="/sys/fs/bpf",status="unsupported"} 1');
    expect(m).toContain('bpfready_profile_satisfied{profile="minimal"} 1');
    expect(m).toContain('bpfready_profile_satisfied{profile="tetragon"} 0');
    expect(m).toContain('bpfready_profile_unmet_requirements{profile="tetragon",status="not-permitted"} 1');
    expect(m).toContain('bpfready_probes_total{trigger="startup"} 1');
    expect(m).toContain('bpfready_probes_total{trigger="sighup"} 0');
    expect(m).toContain('bpfready_probe_errors_total 1');
    expect(m).toContain('bpfready_probe_duration_seconds_count{trigger="interval"} 1');
    expect(m).toContain('bpfready_last_successful_probe_timestamp_seconds 1700000000');
    expect(m).toContain('bpfready_build_info{version="9.9.9",nodejs_version="26.0.0"} 1');
    expect(m).toContain('bpfready_kernel_info{release="6.18.0-test",machine="x86_64"} 1');
    expect(m).toContain('bpfready_ready 1');
    expect(m).toMatch(/^process_resident_memory_bytes \d+/m);
    // Every feature is one-hot: exactly one of its four series is 1.
    const ones = new Map<string, number>();
    for (const [, fam, feat, v] of m.matchAll(/^bpfready_feature_status\{family="([^"]+)",feature="([^"]+)",status="[^"]+"\} (\d)$/gm)) {
      const k = `${fam}/${feat}`;
      ones.set(k, (ones.get(k) ?? 0) + Number(v));
    }
    expect(ones.size).toBe(10);
    expect([...ones.values()].every((n) => n === 1)).toBe(true);
  });

  it('drops features that disappear from the report', async () => {
    const s = setup();
    app = s.app;
    probed(s.state);
    expect(await scrape(app)).toContain('feature="arena"');
    const r = fakeReport();
    delete r.mapTypes['arena'];
    s.state.report = r;
    expect(await scrape(app)).not.toContain('feature="arena"');
  });

  it('uses only the injected registry', async () => {
    const { register } = await import('prom-client');
    const s = setup();
    app = s.app;
    expect(await register.getMetricsAsJSON()).toEqual([]);
  });
});
