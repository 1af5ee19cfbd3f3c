// Prometheus metrics (docs/metrics.md lists every one; keep it in step). One Registry, created in
// main.ts and passed in, never prom-client's global one. Point-in-time values are computed from the
// daemon state at scrape time (collect()), so a scrape always agrees with /status.json.
//
// Label values are bounded: `feature` comes from the kernel's uapi enums through our probe tables,
// `status` from the four results of the contract, `mount` from the bpffs mounts on the node, and
// `profile` from the configured profiles. Helpers are exported as counts per program type and status
// (tens of series), not one series per (program type, helper) pair (thousands).
import { Counter, Gauge, Histogram, collectDefaultMetrics, type Registry } from 'prom-client';
import { STATUSES, type ResultMap, type Status } from '../contract/result.ts';
import type { ProbeReport } from '../contract/report.ts';
import { PROBE_TRIGGERS, type DaemonState, type ProbeTrigger } from './state.ts';

/** Report sections exported as feature families: section key → `family` label value. */
export const FEATURE_FAMILIES: Readonly<Record<string, string>> = {
  programTypes: 'program_type',
  mapTypes: 'map_type',
  attachTypes: 'attach_type',
  misc: 'misc',
};

export interface BuildInfo {
  version: string;
  nodejsVersion: string;
}

export interface DaemonMetrics {
  /** Record one finished probe cycle; `ok` false when the probe threw. */
  observeProbe(trigger: ProbeTrigger, seconds: number, ok: boolean): void;
}

export function createMetrics(registry: Registry, state: () => DaemonState, build: BuildInfo): DaemonMetrics {
  collectDefaultMetrics({ register: registry });
  const registers = [registry];

  new Gauge({
    name: 'bpfready_build_info',
    help: 'Always 1; the labels say which bpfready and Node.js are running.',
    labelNames: ['version', 'nodejs_version'] as const,
    registers,
  }).set({ version: build.version, nodejs_version: build.nodejsVersion }, 1);

  new Gauge({
    name: 'bpfready_kernel_info',
    help: 'Always 1; the labels name the running kernel as of the last successful probe.',
    labelNames: ['release', 'machine'] as const,
    registers,
    collect() {
      this.reset();
      const k = state().report?.kernel;
      if (k) this.set({ release: k.release, machine: k.machine }, 1);
    },
  });

  new Gauge({
    name: 'bpfready_ready',
    help: '1 once the first full probe has completed (what /readyz reports), else 0.',
    registers,
    collect() {
      this.set(state().ready ? 1 : 0);
    },
  });

  new Gauge({
    name: 'bpfready_feature_status',
    help: 'One-hot probe result per feature: 1 on the series whose status label is the current result, 0 on the other three.',
    labelNames: ['family', 'feature', 'status'] as const,
    registers,
    collect() {
      this.reset();
      const report = state().report;
      if (!report) return;
      for (const [section, family] of Object.entries(FEATURE_FAMILIES)) {
        for (const [feature, r] of resultEntries(report[section])) {
          for (const s of STATUSES) this.set({ family, feature, status: s }, r === s ? 1 : 0);
        }
      }
    },
  });

  new Gauge({
    name: 'bpfready_helpers',
    help: 'Number of BPF helpers per program type with each probe result.',
    labelNames: ['program_type', 'status'] as const,
    registers,
    collect() {
      this.reset();
      const helpers = state().report?.helpers;
      if (!helpers) return;
      for (const [progType, map] of Object.entries(helpers)) {
        const counts = countStatuses(map);
        for (const s of STATUSES) this.set({ program_type: progType, status: s }, counts[s]);
      }
    },
  });

  new Gauge({
    name: 'bpfready_bpffs_token_status',
    help: 'One-hot BPF token result per bpffs mount: status="supported" is 1 when a token can be created from that mount.',
    labelNames: ['mount', 'status'] as const,
    registers,
    collect() {
      this.reset();
      const report = state().report;
      if (!report) return;
      for (const m of bpffsMounts(report)) {
        for (const s of STATUSES) this.set({ mount: m.path, status: s }, m.status === s ? 1 : 0);
      }
    },
  });

  new Gauge({
    name: 'bpfready_profile_satisfied',
    help: '1 when every requirement of the profile is supported on this node, else 0.',
    labelNames: ['profile'] as const,
    registers,
    collect() {
      this.reset();
      for (const c of state().checks) this.set({ profile: c.profile }, c.satisfied ? 1 : 0);
    },
  });

  new Gauge({
    name: 'bpfready_profile_unmet_requirements',
    help: 'Number of unmet requirements of the profile, by why they are unmet (the probe result).',
    labelNames: ['profile', 'status'] as const,
    registers,
    collect() {
      this.reset();
      for (const c of state().checks) {
        const counts = Object.fromEntries(STATUSES.map((s) => [s, 0])) as Record<Status, number>;
        for (const u of c.unmet) counts[u.status]++;
        for (const s of STATUSES) if (s !== 'supported') this.set({ profile: c.profile, status: s }, counts[s]);
      }
    },
  });

  new Gauge({
    name: 'bpfready_last_successful_probe_timestamp_seconds',
    help: 'Unix time at which the last probe cycle completed without error.',
    registers,
    collect() {
      const t = state().lastSuccessAt;
      if (t) this.set(t.getTime() / 1000);
    },
  });

  const duration = new Histogram({
    name: 'bpfready_probe_duration_seconds',
    help: 'Wall time of one probe cycle (probe plus profile checks), by what triggered it.',
    labelNames: ['trigger'] as const,
    // The first probe loads thousands of programs (about a second); cached re-probes take milliseconds.
    buckets: [0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10],
    registers,
  });
  const cycles = new Counter({
    name: 'bpfready_probes_total',
    help: 'Probe cycles run, by what triggered them.',
    labelNames: ['trigger'] as const,
    registers,
  });
  const errors = new Counter({
    name: 'bpfready_probe_errors_total',
    help: 'Probe cycles that failed as a whole (the previous report stays published).',
    registers,
  });
  // Zero-initialise so rate() and absent() work before the first event.
  for (const t of PROBE_TRIGGERS) cycles.inc({ trigger: t }, 0);
  errors.inc(0);

  return {
    observeProbe(trigger, seconds, ok) {
      duration.observe({ trigger }, seconds);
      cycles.inc({ trigger });
      if (!ok) errors.inc();
    },
  };
}

function resultEntries(section: unknown): [string, Status][] {
  if (typeof section !== 'object' || section === null) return [];
  const out: [string, Status][] = [];
  for (const [k, v] of Object.entries(section as ResultMap)) {
    if (typeof v === 'object' && v !== null && STATUSES.includes(v.status)) out.push([k, v.status]);
  }
  return out;
}

function countStatuses(map: ResultMap): Record<Status, number> {
  const counts = Object.fromEntries(STATUSES.map((s) => [s, 0])) as Record<Status, number>;
  for (const [, s] of resultEntries(map)) counts[s]++;
  return counts;
}

/** The bpffs mounts of the report and their token result, tolerant of the section being absent. */
export function bpffsMounts(report: ProbeReport): { path: string; status: Status }[] {
  const section = report['bpffs'];
  const list = Array.isArray(section) ? section : [];
  const out: { path: string; status: Status }[] = [];
  for (const m of list as unknown[]) {
    if (typeof m !== 'object' || m === null) continue;
    const { path, token } = m as { path?: unknown; token?: { status?: unknown } };
    const status = token?.status;
    if (typeof path === 'string' && STATUSES.includes(status as Status)) out.push({ path, status: status as Status });
  }
  return out;
}
