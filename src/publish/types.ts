// Plain data shared by the publish stages. Kubernetes API types appear only in client.ts and the
// writer; everything before them works on these.

import type { ProbeReport } from '../contract/report.ts';
import type { ProfileCheck } from '../requirements/profile-checks.ts';

// The publisher's input is the profile checks as src/requirements/profile-checks.ts makes them,
// passed through unchanged.
export type { ProfileCheck, UnmetRequirement } from '../requirements/profile-checks.ts';

/**
 * What the daemon hands each probe cycle's report to (src/daemon/wiring.ts); `serve` runs without
 * one. The Kubernetes publisher (src/publish/index.ts) is the one implementation.
 */
export interface Publisher {
  publish(report: ProbeReport, checks: readonly ProfileCheck[]): void;
  close(): Promise<void>;
}

/** A profile's verdict in condition terms (conditions.ts `verdict()` derives it from a ProfileCheck). */
export interface ProfileVerdict {
  profile: string;
  /** True: every requirement holds. False: one is unsupported. Unknown: not-permitted or a probe error. */
  status: 'True' | 'False' | 'Unknown';
  /** CamelCase, one word (api-conventions.md). */
  reason: string;
  /** Human-readable, with the remediation of every unmet requirement. */
  message: string;
}

/** Our own condition type; converted to the NodeCondition API shape only when written. */
export interface Condition {
  type: string;
  status: 'True' | 'False' | 'Unknown';
  reason: string;
  message: string;
}

export type TaintEffect = 'NoSchedule' | 'PreferNoSchedule' | 'NoExecute';

export interface TaintSpec {
  key: string;
  value?: string;
  effect: TaintEffect;
}

/** Everything bpfready wants on its Node, and nothing it does not own. */
export interface DesiredState {
  labels: Record<string, string>;
  conditions: Condition[];
  /** Present: our taint must be on the node. Absent: it must not be. */
  taint?: TaintSpec;
}

/** The parts of a v1 Node the publisher reads. Matches the JSON of the API, not a client class. */
export interface NodeView {
  metadata?: {
    name?: string;
    resourceVersion?: string;
    labels?: Record<string, string>;
    annotations?: Record<string, string>;
  };
  spec?: { taints?: ApiTaint[] };
  status?: { conditions?: ApiCondition[] };
}

export interface ApiTaint {
  key: string;
  value?: string;
  effect: string;
  timeAdded?: string;
}

export interface ApiCondition {
  type: string;
  status: string;
  reason?: string;
  message?: string;
  lastHeartbeatTime?: string;
  lastTransitionTime?: string;
}

export interface Clock {
  now(): number;
  setTimeout(fn: () => void, ms: number): unknown;
  clearTimeout(handle: unknown): void;
}

export const systemClock: Clock = {
  now: () => Date.now(),
  setTimeout: (fn, ms) => setTimeout(fn, ms),
  clearTimeout: (h) => clearTimeout(h as NodeJS.Timeout),
};
