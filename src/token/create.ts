// BPF_TOKEN_CREATE on a bpffs mount, and what its errno means (kernel/bpf/token.c bpf_token_create(),
// 6.9+; order of the checks in docs/kernel-notes.md#token-create). The errno → result mapping is pure.
import { errnoName, O_DIRECTORY, O_RDONLY, openPath } from '../native/libc.ts';
import { OwnedFd, tokenCreate } from '../native/bpf.ts';
import { notPermitted, probeError, supported, unsupported, type ProbeResult } from '../contract/result.ts';
import { EACCES, EBADF, EINVAL, ENOENT, EOPNOTSUPP, EPERM } from '../contract/interpret.ts';

const ENOTDIR = 20;

export interface TokenCreateContext {
  /** Mount point the token was asked from (named in the detail). */
  path: string;
  /**
   * Whether this kernel has BPF_TOKEN_CREATE (see kernelHasTokens()). Unknown: an EINVAL is
   * explained both ways.
   */
  kernelHasTokens?: boolean;
}

/**
 * What a failed BPF_TOKEN_CREATE means. A token is a per-process answer: every status is true only
 * for this process, this mount and these capabilities (docs/tokens.md).
 */
export function tokenCreateResult(errno: number, ctx: TokenCreateContext): ProbeResult {
  const name = errnoName(errno);
  const p = ctx.path;
  switch (errno) {
    case EOPNOTSUPP:
      // Tokens exist to lend privileges into user namespaces; the initial namespace has capabilities.
      return unsupported(
        name,
        `${p}: this process is in the initial user namespace, where tokens are not used (it runs on its own capabilities)`,
      );
    case ENOENT:
      return unsupported(name, `${p}: the bpffs delegates nothing (no delegate_cmds/maps/progs/attachs mount options)`);
    case EINVAL:
      if (ctx.kernelHasTokens === false) return unsupported(name, 'this kernel has no BPF tokens (BPF_TOKEN_CREATE came in Linux 6.9)');
      if (ctx.kernelHasTokens === true)
        return unsupported(name, `${p}: not the root of a bpffs mount (a subdirectory, or another filesystem)`);
      return unsupported(name, `${p}: not the root of a bpffs mount, or a kernel without BPF tokens (< 6.9)`);
    case EPERM:
      return notPermitted(
        name,
        `${p}: no CAP_BPF in the user namespace that owns this bpffs, or the bpffs belongs to another user namespace than this process's`,
      );
    case EACCES:
      return notPermitted(name, `${p}: no permission on the bpffs root directory, or a security module (LSM) denied the token`);
    case EBADF:
      return probeError(name, `${p}: the bpffs fd was not valid when the token was created`);
    default:
      return probeError(name, `${p}: unexpected error from BPF_TOKEN_CREATE`);
  }
}

/** What a failed open() of the mount root means for the token. */
export function openFailureResult(errno: number, path: string): ProbeResult {
  const name = errnoName(errno);
  if (errno === EACCES || errno === EPERM) return notPermitted(name, `${path}: cannot open the bpffs root: permission denied`);
  if (errno === ENOENT || errno === ENOTDIR) return unsupported(name, `${path}: the bpffs mount point is gone`);
  return probeError(name, `${path}: cannot open the bpffs root`);
}

let hasTokens: boolean | undefined;
/**
 * Whether the kernel knows BPF_TOKEN_CREATE: with bpffs_fd = -1 a 6.9+ kernel answers EBADF (fd
 * lookup), an older one EINVAL (unknown command). Not fd 0: that is a valid non-bpffs fd → EINVAL.
 */
export function kernelHasTokens(): boolean {
  if (hasTokens === undefined) {
    const r = tokenCreate(-1);
    if (r.ok) r.fd.close();
    hasTokens = r.ok || r.errno === EBADF;
  }
  return hasTokens;
}

export type TokenCreateOutcome = { ok: true; fd: OwnedFd; result: ProbeResult } | { ok: false; result: ProbeResult };

/**
 * Open the mount root (O_DIRECTORY|O_RDONLY) and create a token from it. The caller owns the fd.
 * `named` is how results name the mount: the node's path where this process reaches it elsewhere
 * (under a host root, src/token/manager.ts).
 */
export function createToken(path: string, named = path): TokenCreateOutcome {
  const dir = openPath(path, O_DIRECTORY | O_RDONLY);
  if (!dir.ok) return { ok: false, result: openFailureResult(dir.errno, named) };
  using dirFd = new OwnedFd(dir.value);
  const r = tokenCreate(dirFd.fd);
  if (r.ok) return { ok: true, fd: r.fd, result: supported() };
  const ctx: TokenCreateContext = { path: named };
  if (r.errno === EINVAL) ctx.kernelHasTokens = kernelHasTokens();
  return { ok: false, result: tokenCreateResult(r.errno, ctx) };
}
