// Who is asking, and how a refusal is explained: shared by the engine and the helper worker.
import type { Btf } from '../kernel/btf.ts';
import { explainEperm } from './capabilities.ts';
import type { ProbeResult } from './result.ts';
import type { RawOutcome } from './interpret.ts';
import { PROG_TYPE_NAMES } from '../native/uapi-names.ts';

export const progTypeId = (name: string): number => PROG_TYPE_NAMES.indexOf(name);
export const outcome = (r: { ok: boolean; errno?: number; log?: string }): RawOutcome => r;

/** `{ tokenFd }` for the bpf wrappers when probing through a token, else nothing. */
export function viaToken(env: { tokenFd?: number }): { tokenFd?: number } {
  return env.tokenFd !== undefined ? { tokenFd: env.tokenFd } : {};
}

export interface TokenOp {
  cmd: 'map_create' | 'prog_load' | 'btf_load';
  mapType?: number;
  progType?: number;
  attachType?: number;
}

/** What the engine asks of vmlinux BTF (src/kernel/btf.ts answers; src/collect/index.ts remembers). */
export type EngineBtf = Pick<Btf, 'findId' | 'structMembers' | 'typeRef' | 'enumValues'> & {
  /** Set when the BTF file exists but could not be parsed: every answer is then "not found". */
  readonly parseError?: string | undefined;
};

/** Everything a probe needs to know about who is asking and what the kernel's BTF holds. */
export interface ProbeEnv {
  /** Effective capabilities of the probing thread. */
  caps: bigint;
  /** kernel.unprivileged_bpf_disabled, when known: explains EPERM for capability-free types. */
  unprivDisabled?: number;
  /** LINUX_VERSION_CODE of the running kernel, for KPROBE loads on kernels before 5.0. */
  kernVersion: number;
  btf?: EngineBtf;
  /** Why there is no BTF, when there is none. */
  btfMissing?: string;
  /** The errno name of reading /sys/kernel/btf/vmlinux (ENOENT: absent; EACCES: not readable). */
  btfErrno?: string;
  /** Probe through this BPF token (map_token_fd / prog_token_fd / btf_token_fd + BPF_F_TOKEN_FD). */
  tokenFd?: number;
  /**
   * Kernel lockdown ("none", "integrity", "confidentiality") from securityfs; undefined when it
   * cannot be read. Lockdown hides helpers from the verifier, so it is part of who is asking.
   */
  lockdown?: string;
  /** The effective set as /proc shows it (differs from `caps` only in a child user namespace). */
  heldCaps?: bigint;
  /** Our thread's seccomp mode (/proc Seccomp:): part of the privilege context. */
  seccomp?: string;
  /** Set when we run in a child user namespace: `caps` is then empty for bpf() (no token). */
  childUserNs?: boolean;
  /**
   * false when this process runs in a child user namespace, token or not: the kernel's capable()
   * checks (CAP_SYS_ADMIN for bpf_probe_write_user) then find nothing even under a token.
   */
  initUserNs?: boolean;
  /** Also make the probes that leave marks on the node (probes/marks.ts SIDE_EFFECT_HELPERS): `--full`. */
  full?: boolean;
  /** The kernel accepts log_level BPF_LOG_STATS (4) on its own (5.2+): helper probes use it. */
  statsLog?: boolean;
  /** Names the missing delegation when a call under the token fails with EPERM (src/token). */
  explainTokenEperm?: (op: TokenOp) => string | undefined;
}

/** A not-permitted result gets the reason: the token's missing delegation, or the missing caps. */
export function explainDenied(
  r: ProbeResult,
  env: ProbeEnv,
  op: TokenOp,
  kind: 'program type' | 'map type',
  name: string,
  required: number[],
): ProbeResult {
  // A refusal the kernel did not answer with EPERM/EACCES (a verifier refusal read as
  // not-permitted for the caller, src/probes/privilege.ts) already says why.
  if (r.status !== 'not-permitted' || (r.errno !== 'EPERM' && r.errno !== 'EACCES')) return r;
  const viaToken = env.tokenFd !== undefined ? env.explainTokenEperm?.(op) : undefined;
  const base = viaToken ?? explainEperm(kind, name, required, env.caps, env.unprivDisabled);
  const detail =
    env.childUserNs && !viaToken
      ? `${base} (we run in a child user namespace, whose capabilities bpf() does not count without a BPF token)`
      : base;
  return { ...r, detail: r.detail && !r.detail.startsWith('permission denied for') ? `${detail} (kernel: ${r.detail})` : detail };
}
