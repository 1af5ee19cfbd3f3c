// What the daemon knows right now: the latest report, the profile checks made against it, and how
// the probe loop is doing. Written by the probe loop only; read by the routes and the metrics.
import type { ProbeReport } from '../contract/report.ts';
import type { ProfileCheck } from '../requirements/profile-checks.ts';

export type ProbeTrigger = 'startup' | 'interval' | 'mounts' | 'sighup';
export const PROBE_TRIGGERS: readonly ProbeTrigger[] = ['startup', 'interval', 'mounts', 'sighup'];

export interface DaemonState {
  report: ProbeReport | null;
  checks: ProfileCheck[];
  /** Completed probe cycles, successful or not. */
  cycles: number;
  lastSuccessAt: Date | null;
  lastError: { at: Date; message: string } | null;
  /** True once the first full probe has completed; false again while shutting down. */
  ready: boolean;
  /** When the probe cycle in progress started; null between cycles. */
  cycleStartedAt: Date | null;
}

export function initialState(): DaemonState {
  return { report: null, checks: [], cycles: 0, lastSuccessAt: null, lastError: null, ready: false, cycleStartedAt: null };
}
