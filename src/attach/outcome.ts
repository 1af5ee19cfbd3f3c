// The one place where the kernel's answer to an attach attempt becomes a fact. Attach probes differ
// from load probes: the program already loaded, so the kernel knows the program type, and the
// errno describes the hook (the PMU, the trampoline, the device, the link type).
import type { Fact } from '../contract/report.ts';
import { errnoName } from '../native/libc.ts';
import { notPermitted, probeError, unsupported } from '../contract/result.ts';
import { E2BIG, EACCES, EINVAL, ENODEV, ENOENT, ENOTSUPP, EOPNOTSUPP, EPERM } from '../contract/interpret.ts';

export { E2BIG, EACCES, EBADF, EINVAL, ENODEV, ENOENT, ENOTSUPP, EOPNOTSUPP, EPERM } from '../contract/interpret.ts';

export interface AttachFailure {
  /** What was attempted, in the kernel's words: "LINK_CREATE(BPF_TCX_INGRESS) on lo". */
  step: string;
  /** Capabilities the step needs, named in the not-permitted detail. */
  needs: readonly string[];
  /** Why the hook is missing when the kernel says so (a config option), if we know it. */
  missing?: string;
  /** Extra explanation for EPERM/EACCES (e.g. the trampoline policy diagnosis). */
  denied?: string;
}

/**
 * Interpret a failed attach step.
 * - EPERM/EACCES: a capability, LSM or lockdown check said no before the kernel looked at the hook;
 *   availability is unknown (docs/kernel-notes.md#eperm-first), never "unsupported".
 * - ENOTSUPP/EOPNOTSUPP: the kernel knows the request but this build cannot do it: no BPF trampoline
 *   (docs/kernel-notes.md#trampoline), kprobe_multi without CONFIG_FPROBE, uprobe on a trap instruction.
 * - EINVAL/E2BIG: a well-formed request for an attach type or attr field this kernel does not know.
 * - ENOENT/ENODEV on a target we know exists: the hook's subsystem is compiled out (no kprobe PMU,
 *   no netkit); callers that use ENODEV as a positive signal handle it before calling this.
 * - anything else (ENOMEM, EBUSY, EFAULT...): the probe itself could not decide.
 */
export function attachFailure(errno: number, f: AttachFailure): Fact {
  const name = errnoName(errno);
  if (errno === EPERM || errno === EACCES) {
    // A diagnosis, when the caller has one, replaces the generic capability hint: it may show the
    // capabilities were all there.
    const why = f.denied ?? (f.needs.length ? `needs ${f.needs.join(' + ')}` : 'permission denied');
    return notPermitted(name, `${f.step}: ${why} (availability unknown)`);
  }
  const why = f.missing ? `: ${f.missing}` : '';
  if (errno === ENOTSUPP || errno === EOPNOTSUPP || errno === EINVAL || errno === E2BIG) {
    return unsupported(name, `${f.step} refused${why}`);
  }
  if (errno === ENOENT || errno === ENODEV) {
    return unsupported(name, `${f.step}: hook not found${why}`);
  }
  return probeError(name, `${f.step} failed${why}`);
}
