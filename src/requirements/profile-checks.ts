// The configured profiles checked against a report (src/requirements does the checking), as the
// ProfileCheck view that /status, the metrics and the publisher (src/publish) all read: one
// definition, so a change here is a compile error there rather than a silent mismatch.
import type { ProbeReport } from '../contract/report.ts';
import { check, hostKernelOptions } from './check.ts';
import { withKernelConfig } from './enrich.ts';
import { makeGplProbe, tracepointsPresent } from './kernel-view.ts';
import { requirementId, type Requirement } from './model.ts';
import type { Status } from '../contract/result.ts';

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

export function checkProfiles(
  profiles: Readonly<Record<string, readonly Requirement[]>>,
  report: ProbeReport,
  hostRoot = '/',
): ProfileCheck[] {
  return Object.entries(profiles).map(([profile, reqs]) => {
    // The report's config section lists the BPF-relevant options; a profile may name any other
    // (cilium: CRYPTO_SHA1 …), read from the same kernel config file.
    // The kernel itself for what no report holds (BTF types and CO-RE fields, tracepoints, GPL-only
    // helpers), as `bpfready check` reads it: a profile may name those too.
    const opts = hostKernelOptions(hostRoot, { tracepoints: (names) => tracepointsPresent(hostRoot, names), gplOnly: makeGplProbe() });
    const result = check(reqs, withKernelConfig(report, reqs, hostRoot), opts);
    return {
      profile,
      satisfied: result.ok,
      unmet: result.unmet.map((v) => {
        const u: ProfileCheck['unmet'][number] = {
          requirement: requirementId(v.requirement),
          status: v.status,
          remediation: v.remediation,
        };
        if (v.errno) u.errno = v.errno;
        if (v.detail) u.detail = v.detail;
        return u;
      }),
    };
  });
}
