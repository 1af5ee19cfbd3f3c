// The one place where kernel answers become results. Every probe hands its raw outcome (errno and,
// for loads, the verifier log) to one of these functions; nothing else maps errnos to statuses.
// The reasoning behind each rule: docs/kernel-notes.md#eperm-first and #classification.
import { errnoName } from '../native/libc.ts';
import { notPermitted, probeError, supported, unsupported, type ProbeResult } from './result.ts';

export const EPERM = 1;
export const ENOENT = 2;
export const E2BIG = 7;
export const EBADF = 9;
export const EAGAIN = 11;
export const ENOMEM = 12;
export const EACCES = 13;
export const EINVAL = 22;
export const ENODEV = 19;
export const ENOSYS = 38;
export const ENOSPC = 28;
export const EOPNOTSUPP = 95;
export const EBADFD = 77;
import { ENOTSUPP } from '../native/uapi.ts';

export { ENOTSUPP };

export interface RawOutcome {
  ok: boolean;
  errno?: number;
  log?: string;
}

/** The last meaningful verifier line: what the kernel said right before it gave up. */
export function logExcerpt(log: string | undefined, max = 200): string | undefined {
  if (!log) return undefined;
  const lines = log
    .split('\n')
    .map((l) => l.trim())
    // The statistics trailer is printed on every load and says nothing about the failure.
    .filter((l) => l && !/^(processed |verification time |stack depth )/.test(l));
  const last = lines.at(-1);
  if (!last) return undefined;
  return last.length > max ? `${last.slice(0, max)}…` : last;
}

/**
 * Errors that say "not allowed" rather than "not known". EPERM comes from capability checks that
 * precede the program-type lookup on every kernel (docs/kernel-notes.md#eperm-first), so it never proves absence. EACCES
 * is the LSM/path-permission and token answer; before the verifier ran it means the same.
 */
function isPermissionErrno(errno: number): boolean {
  return errno === EPERM || errno === EACCES;
}

/** Transient: the kernel could not decide now (memory pressure, signals). Never cached. */
function isTransient(errno: number): boolean {
  return errno === ENOMEM || errno === EAGAIN || errno === 4 /* EINTR */;
}

/**
 * A load or create whose request is known-good for a kernel that has the feature.
 * EINVAL/E2BIG: the kernel does not know the type, flag or attr field (CHECK_ATTR and the type
 * lookup both answer EINVAL; a non-zero field past an old kernel's union answers E2BIG).
 * ENOTSUPP: the kernel knows the request but this build cannot do it (no JIT, no trampoline).
 */
export function interpretCreate(o: RawOutcome, what: string): ProbeResult {
  if (o.ok) return supported();
  const errno = o.errno ?? 0;
  const name = errnoName(errno);
  const excerpt = logExcerpt(o.log);
  if (isPermissionErrno(errno)) {
    return notPermitted(name, excerpt ? `permission denied: ${excerpt}` : `permission denied for ${what}; availability unknown`);
  }
  if (errno === ENOSYS) return unsupported(name, 'no bpf() system call (CONFIG_BPF_SYSCALL=n or blocked by seccomp)');
  if (errno === EINVAL || errno === E2BIG) return unsupported(name, excerpt ?? `kernel rejected ${what}`);
  if (errno === ENOTSUPP || errno === EOPNOTSUPP) return unsupported(name, excerpt ?? `${what} is not supported by this kernel build`);
  if (isTransient(errno)) return probeError(name, `transient failure probing ${what}; will retry`);
  return probeError(name, excerpt ?? `unexpected error probing ${what}`);
}

/**
 * A probe that passes deliberately bad fds or ifindexes so the kernel reports how far it got: the
 * expected errno (usually EBADF or ENODEV) proves the command/attach type is known, without
 * creating anything.
 */
export function interpretFdTrick(o: RawOutcome, expected: readonly number[], what: string): ProbeResult {
  if (o.ok) return supported();
  const errno = o.errno ?? 0;
  if (expected.includes(errno)) return supported();
  return interpretCreate(o, what);
}

// Verifier wording for a helper it does not offer (kernel/bpf/verifier.c check_helper_call()):
//   "invalid func <name>#<id>"                      id out of range for this kernel
//   "unknown func <name>#<id>"                      known id, no proto for this program type (<= 6.9)
//   "program of this type cannot use helper <name>#<id>"  the same, 6.10+ wording
// Linux 4.9 printed "unknown func <id>" without the '#'.
// The id is what follows the last '#' (names contain digits: bpf_l3_csum_replace#10), or the bare
// number of the 4.9 wording.
// check_helper_call() after the lookup: fn->allowed() (bpf_d_path's attach-target list) and
// might_sleep helpers in a non-sleepable program (5.10+ wording, then 6.x's).
const HELPER_CONDITIONAL =
  /helper call is not allowed in probe|helper call might sleep in a non-sleepable prog|sleepable helper \S+ within a non-sleepable prog/;
const HELPER_ABSENT = /(invalid func|unknown func|program of this type cannot use helper) (?:\S*#)?(\d+)\b/;

/**
 * Which absent-helper message the verifier gave for this very id: `unknown-id` ("invalid func": past
 * the kernel's last helper, whoever asks) or `not-offered` (no prototype for this program and caller:
 * also what a helper hidden by policy gets, src/probes/privilege.ts); undefined for anything else.
 */
export function helperAbsence(o: RawOutcome, helperId: number): 'unknown-id' | 'not-offered' | undefined {
  if (o.ok) return undefined;
  const m = HELPER_ABSENT.exec(o.log ?? '');
  if (!m || Number(m[2]) !== helperId) return undefined;
  return m[1] === 'invalid func' ? 'unknown-id' : 'not-offered';
}

/**
 * A `call <id>` program of a type that itself loads. Success and any verifier complaint about the
 * call's arguments (EACCES) or what follows mean the helper's prototype was found: supported.
 * Only the three absent-helper messages for this very id mean unsupported.
 */
export function interpretHelper(o: RawOutcome, helperId: number): ProbeResult {
  if (o.ok) return supported();
  const errno = o.errno ?? 0;
  const log = o.log ?? '';
  if (errno === EPERM) return notPermitted('EPERM', 'permission denied before the verifier ran; availability unknown');
  const m = HELPER_ABSENT.exec(log);
  if (m && Number(m[2]) === helperId) {
    return unsupported(errnoName(errno), m[0]);
  }
  // The verifier got past the helper lookup: argument errors and the like prove the prototype exists.
  if (errno === EACCES || errno === EINVAL) {
    // Found, but refused for this very program: only sleepable programs, or only some attach
    // targets, may call it. The type has it; the detail says on what condition.
    const conditional = HELPER_CONDITIONAL.exec(log);
    if (conditional) return supported(`offered to this program type, but not to the probe's program: ${conditional[0]}`);
    if (log.includes(`#${helperId}`) || /^\d+: \(85\) call /m.test(log)) return supported();
    // No verifier message at all (an empty log, or only the BPF_LOG_STATS trailer): EACCES is then
    // a permission answer (LSM, token), and an EINVAL says nothing about the helper.
    if (!logExcerpt(log)) {
      return errno === EACCES
        ? notPermitted('EACCES', 'permission denied; availability unknown')
        : probeError('EINVAL', log ? 'rejected without a verifier message' : 'rejected before the verifier ran');
    }
    return supported();
  }
  if (errno === ENOTSUPP) return unsupported('ENOTSUPP', logExcerpt(log) ?? 'not supported by this kernel build');
  return interpretCreate(o, `helper #${helperId}`);
}
