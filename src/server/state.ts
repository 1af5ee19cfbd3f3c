// What the daemon knows right now: the latest report, the profile checks made against it, and how
// the probe loop is doing. Written by the probe loop only; read by the routes and the metrics.
import type { Status } from '../contract/result.ts';
import type { ProbeReport } from '../contract/report.ts';

export interface UnmetRequirement {
  /** The requirement as a person would name it (e.g. "program type lsm", "CONFIG_BPF_LSM"). */
  requirement: string;
  status: Status;
  errno?: string;
  detail?: string;
  /** What an operator can do about it, one action per entry. */
  remediation: string[];
}

/** One profile checked against the latest report; the view the status page and metrics use. */
export interface ProfileCheck {
  profile: string;
  satisfied: boolean;
  unmet: UnmetRequirement[];
}

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
