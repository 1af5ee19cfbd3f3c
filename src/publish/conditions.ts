// Profile checks → node conditions (pure), and our Condition → the NodeCondition API shape.
// Positive polarity (True = ready), so node-readiness-controller can gate on requiredStatus True with
// its default-deny of an absent condition (docs/kubernetes.md, conditions).
import type { ApiCondition, ProfileCheck, Condition, ProfileVerdict } from './types.ts';

export const SUMMARY_CONDITION = 'EBPFReady';

/** `bpfready.io/ProfileCilium116` from "cilium-1.16": a qualified name, PascalCase after the slash. */
export function profileConditionType(prefix: string, profile: string): string {
  const pascal = profile
    .split(/[^A-Za-z0-9]+/)
    .filter((w) => w !== '')
    .map((w) => w[0]!.toUpperCase() + w.slice(1))
    .join('');
  return `${prefix}/Profile${pascal}`.slice(0, 316);
}

export function summaryConditionType(prefix: string): string {
  return `${prefix}/${SUMMARY_CONDITION}`;
}

/**
 * One condition per profile plus the summary. The summary is False when any profile is False (the
 * kernel lacks something), else Unknown when any is Unknown (we could not tell), else True.
 */
export function projectConditions(prefix: string, checks: readonly ProfileVerdict[]): Condition[] {
  const out: Condition[] = checks.map((c) => ({
    type: profileConditionType(prefix, c.profile),
    status: c.status,
    reason: safeReason(c.reason),
    message: clampMessage(c.message),
  }));
  out.push(summarize(prefix, checks));
  return out;
}

function summarize(prefix: string, checks: readonly ProfileVerdict[]): Condition {
  const type = summaryConditionType(prefix);
  if (checks.length === 0) {
    return {
      type,
      status: 'True',
      reason: 'NoProfilesRequired',
      message: 'bpfready probed the kernel; no profile is required on this node.',
    };
  }
  const failed = checks.filter((c) => c.status === 'False');
  const unknown = checks.filter((c) => c.status === 'Unknown');
  const names = (cs: readonly ProfileVerdict[]): string => cs.map((c) => c.profile).join(', ');
  if (failed.length > 0) {
    return {
      type,
      status: 'False',
      reason: 'ProfilesUnsatisfied',
      message: `Unsatisfied: ${names(failed)}. See the ${prefix}/Profile* conditions for remediation.`,
    };
  }
  if (unknown.length > 0) {
    return {
      type,
      status: 'Unknown',
      reason: 'ProfilesUndetermined',
      message: `Could not determine: ${names(unknown)} (permission denied or probe error). See the ${prefix}/Profile* conditions.`,
    };
  }
  return { type, status: 'True', reason: 'ProfilesSatisfied', message: `Satisfied: ${names(checks)}.` };
}

// metav1.Condition's limits, which node-readiness-controller and most tooling assume for nodes too.
const REASON = /^[A-Za-z]([A-Za-z0-9_,:]*[A-Za-z0-9_])?$/;
const MAX_MESSAGE = 32_768;

/**
 * A checked profile in condition terms. Unsupported anywhere makes it False (the kernel lacks
 * something); otherwise not-permitted or error makes it Unknown (we could not tell) — never False.
 */
export function verdict(c: ProfileCheck): ProfileVerdict {
  if (c.satisfied)
    return { profile: c.profile, status: 'True', reason: 'RequirementsMet', message: `Profile ${c.profile}: every requirement holds.` };
  const unsupported = c.unmet.some((u) => u.status === 'unsupported');
  const notPermitted = c.unmet.some((u) => u.status === 'not-permitted');
  const status = unsupported ? 'False' : 'Unknown';
  const reason = unsupported ? 'RequirementsUnsupported' : notPermitted ? 'RequirementsNotPermitted' : 'ProbeError';
  const lines = c.unmet.map((u) => {
    const why = [u.errno, u.detail].filter(Boolean).join(': ');
    const fix = u.remediation.length > 0 ? ` Fix: ${u.remediation.join('; ')}` : '';
    return `${u.requirement}: ${u.status}${why ? ` (${why})` : ''}.${fix}`;
  });
  return { profile: c.profile, status, reason, message: clampMessage(`Profile ${c.profile}: ${lines.join(' ')}`) };
}

export function clampMessage(m: string): string {
  if (m.length <= MAX_MESSAGE) return m;
  let cut = m.slice(0, MAX_MESSAGE - 20);
  // Never half a surrogate pair: the API server would store U+FFFD, and the condition would never
  // match what we wrote.
  if (/[\uD800-\uDBFF]$/.test(cut)) cut = cut.slice(0, -1);
  return `${cut} … (truncated)`;
}

const safeReason = (r: string): string => (REASON.test(r) && r.length <= 1024 ? r : 'Unspecified');

/**
 * Conditions are ours when their type is one we write: `<prefix>/EBPFReady` or
 * `<prefix>/Profile<Name>`. Any other condition under the prefix is someone else's (another tool may
 * share a company domain) and is never touched.
 */
export function isOwnCondition(prefix: string, type: string): boolean {
  if (!type.startsWith(`${prefix}/`)) return false;
  const name = type.slice(prefix.length + 1);
  return name === SUMMARY_CONDITION || /^Profile[A-Za-z0-9]+$/.test(name);
}

/**
 * The API shape for a write. lastTransitionTime moves only when the status changes (api-conventions:
 * "the last time the condition transitioned from one status to another"), not on reason or message.
 */
export function toApiCondition(c: Condition, observed: ApiCondition | undefined, nowIso: string): ApiCondition {
  const transition = observed && observed.status === c.status && observed.lastTransitionTime ? observed.lastTransitionTime : nowIso;
  return {
    type: c.type,
    status: c.status,
    reason: c.reason,
    message: c.message,
    lastHeartbeatTime: nowIso,
    lastTransitionTime: transition,
  };
}

/** Whether the observed condition already says what we want (times aside). */
export function conditionMatches(c: Condition, observed: ApiCondition | undefined): boolean {
  return (
    observed !== undefined && observed.status === c.status && (observed.reason ?? '') === c.reason && (observed.message ?? '') === c.message
  );
}
