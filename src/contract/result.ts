// The result contract. Every fact bpfready reports, in every section of `bpfready probe --json`, is
// one of these. It is a public interface (docs/json.md): add fields, never change their meaning.
//
//   supported      the kernel did it: the object loaded/was created, or the kernel answered in a way
//                  that only a kernel with the feature can (documented per probe).
//   unsupported    the kernel lacks it: EINVAL, E2BIG or ENOTSUPP on a request known to be valid for
//                  a kernel that has the feature, or the verifier's "unknown/invalid func" for helpers.
//   not-permitted  EPERM or EACCES before the kernel decided: permission denied, availability
//                  UNKNOWN. Never to be read as supported or as unsupported.
//   error          the probe itself could not run or gave an answer we cannot interpret.

export type Status = 'supported' | 'unsupported' | 'not-permitted' | 'error';

export const STATUSES: readonly Status[] = ['supported', 'unsupported', 'not-permitted', 'error'];

export interface ProbeResult {
  status: Status;
  /** The errno name the kernel returned (EINVAL, EPERM, ...), for every status but supported. */
  errno?: string;
  /** Why: a verifier log excerpt, the missing config, the capability or delegation that is missing. */
  detail?: string;
  /**
   * Set when the engine deliberately did not probe it (status `error`, detail "not probed: …"); the
   * reason: `side-effect`, the probe would leave a mark on the node (docs/json.md).
   */
  notProbed?: 'side-effect';
}

export const supported = (detail?: string): ProbeResult => (detail ? { status: 'supported', detail } : { status: 'supported' });

export function unsupported(errno: string | undefined, detail?: string): ProbeResult {
  return withOptional({ status: 'unsupported' }, errno, detail);
}

export function notPermitted(errno: string, detail?: string): ProbeResult {
  return withOptional({ status: 'not-permitted' }, errno, detail);
}

/** A probe we did not make, and why (availability unknown: never cached, never a verdict). */
export function notProbed(reason: 'side-effect', why: string): ProbeResult {
  return { status: 'error', detail: `not probed: ${why}`, notProbed: reason };
}

export function probeError(errno: string | undefined, detail?: string): ProbeResult {
  return withOptional({ status: 'error' }, errno, detail);
}

function withOptional(r: ProbeResult, errno: string | undefined, detail: string | undefined): ProbeResult {
  if (errno) r.errno = errno;
  if (detail) r.detail = detail;
  return r;
}

/** Conclusive results describe the kernel and may be cached; the others depend on who asks. */
export function isConclusive(r: ProbeResult): boolean {
  return r.status === 'supported' || r.status === 'unsupported';
}

export type ResultMap = Record<string, ProbeResult>;
