// Why a call made with a token got EPERM. The kernel does not say: when the token does not allow the
// command, map type, program type or expected attach type, it silently drops the token and applies
// the normal capability checks of the initial user namespace (bpf_token_allow_*(), 6.9+), which a
// process in a user namespace fails. So we compare the request with the token's delegation.
import { ATTACH_TYPE_NAMES, CMD_NAMES, MAP_TYPE_NAMES, PROG_TYPE_NAMES } from '../native/uapi-names.ts';
import { allows, delegateNames, type DelegateKind, type TokenDelegation } from './delegation.ts';

export interface TokenOp {
  cmd: 'map_create' | 'prog_load' | 'btf_load' | string;
  mapType?: number;
  progType?: number;
  /**
   * expected_attach_type; a program loaded without one has 0, which is cgroup_inet_ingress. null:
   * not known to the caller, the attach type is not checked.
   */
  attachType?: number | null;
}

const nameOf = (table: readonly (string | undefined)[], v: number): string => table[v] ?? `#${v}`;

function missing(kind: DelegateKind, what: string, d: TokenDelegation): string {
  const has = delegateNames(kind, d[kind]);
  return `${what} is not in delegate_${kind} of ${d.path} (has: ${has.length ? has.join(', ') : 'nothing'})`;
}

/** bpf_prog_load_fixup_attach_type(): the attach type the kernel sets when a load gives none. */
const ATTACH_FIXUP: Readonly<Record<string, string>> = {
  cgroup_sock: 'cgroup_inet_sock_create',
  sk_reuseport: 'sk_reuseport_select',
};

/**
 * The delegation a token-backed `op` lacks, in the kernel's order of checks (command, then map type,
 * or program type and attach type), all of them joined with "; ". Undefined when the delegation
 * allows the request: the EPERM then comes from elsewhere (no CAP_BPF or CAP_NET_ADMIN/CAP_PERFMON
 * in the token's user namespace, an LSM, the sysctl gate for a process without a token).
 */
export function explainTokenEperm(op: TokenOp, delegation: TokenDelegation): string | undefined {
  const cmd = CMD_NAMES.indexOf(op.cmd);
  const out: string[] = [];
  if (cmd < 0) return `${op.cmd} is not a bpf() command we know`;
  if (!allows(delegation.cmds, cmd)) out.push(missing('cmds', `command ${op.cmd}`, delegation));
  if (op.cmd === 'map_create' && op.mapType !== undefined && !allows(delegation.maps, op.mapType)) {
    out.push(missing('maps', `map type ${nameOf(MAP_TYPE_NAMES, op.mapType)}`, delegation));
  }
  if (op.cmd === 'prog_load') {
    if (op.progType !== undefined && !allows(delegation.progs, op.progType)) {
      out.push(missing('progs', `program type ${nameOf(PROG_TYPE_NAMES, op.progType)}`, delegation));
    }
    // bpf_prog_load_fixup_attach_type() runs before the token check: a cgroup_sock or sk_reuseport
    // program loaded without an attach type is checked as cgroup_inet_sock_create or
    // sk_reuseport_select.
    const given = op.attachType === undefined ? 0 : op.attachType;
    const fixed = given === 0 && op.progType !== undefined ? ATTACH_FIXUP[nameOf(PROG_TYPE_NAMES, op.progType)] : undefined;
    const attach = fixed !== undefined ? ATTACH_TYPE_NAMES.indexOf(fixed) : given;
    if (attach !== null && !allows(delegation.attachs, attach)) {
      const name = nameOf(ATTACH_TYPE_NAMES, attach);
      const why =
        fixed !== undefined
          ? ` (what the kernel makes of a ${nameOf(PROG_TYPE_NAMES, op.progType!)} load without an attach type)`
          : attach === 0
            ? ' (expected attach type 0: what a program without an attach type uses)'
            : '';
      out.push(missing('attachs', `attach type ${name}${why}`, delegation));
    }
  }
  return out.length ? out.join('; ') : undefined;
}
