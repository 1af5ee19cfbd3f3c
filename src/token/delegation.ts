// bpffs delegation (kernel/bpf/inode.c, 6.9+): what a token created from a bpffs may do, as the mount
// options delegate_cmds, delegate_maps, delegate_progs and delegate_attachs say. Pure decoding.
//
// The kernel parses each option value as ':'-separated items, in order:
//   "any"            (exact, lower case)  mask |= ~0
//   an enum name     (case-insensitive, without BPF_ / BPF_MAP_TYPE_ / BPF_PROG_TYPE_)  mask |= 1 << value
//   a number         kstrtou64(item, 0): decimal, 0x hex, 0 octal. It OVERWRITES the mask built so
//                    far (kstrtou64 writes straight into it): "array:0x4" is 0x4, not array|0x4.
// It prints the mask back (bpf_show_options) as "any" when every bit it knows is set, else the
// lower-case names joined by ':' plus the leftover bits as ":0x..", where the number ADDS to the
// names. So the two forms differ only in what a number means; decodeDelegate() takes which one.
import { ParseError } from '../base/errors.ts';
import type { MountEntry } from '../kernel/mountinfo.ts';
import { ATTACH_TYPE_NAMES, CMD_NAMES, MAP_TYPE_NAMES, PROG_TYPE_NAMES } from '../native/uapi-names.ts';

export type DelegateKind = 'cmds' | 'maps' | 'progs' | 'attachs';
export const DELEGATE_KINDS: readonly DelegateKind[] = ['cmds', 'maps', 'progs', 'attachs'];

/** The decoded value of one delegate_* option. */
export interface DelegateMask {
  /** "any": every value, including ones this kernel or this table does not know yet. */
  any: boolean;
  /** Bits of the values delegated (bit n = enum value n). */
  bits: bigint;
  /** Names the kernel printed that our uapi table does not have (a newer kernel). Delegated, bit unknown. */
  unknownNames: string[];
}

export interface TokenDelegation {
  /** Mount point of the bpffs the token comes from. */
  path: string;
  cmds: DelegateMask;
  maps: DelegateMask;
  progs: DelegateMask;
  attachs: DelegateMask;
}

const TABLES: Record<DelegateKind, readonly (string | undefined)[]> = {
  cmds: CMD_NAMES,
  maps: MAP_TYPE_NAMES,
  progs: PROG_TYPE_NAMES,
  attachs: ATTACH_TYPE_NAMES,
};

// Enumerators that alias another value: the kernel's BTF lookup finds them too, so we must as well.
const ALIASES: Record<DelegateKind, Record<string, number>> = {
  cmds: { prog_run: 10 },
  maps: { cgroup_storage_deprecated: 19, percpu_cgroup_storage_deprecated: 21 },
  progs: {},
  attachs: {},
};

const VALUES: Record<DelegateKind, Map<string, number>> = Object.fromEntries(
  DELEGATE_KINDS.map((kind) => {
    const m = new Map<string, number>();
    TABLES[kind].forEach((name, value) => name && m.set(name, value));
    for (const [name, value] of Object.entries(ALIASES[kind])) m.set(name, value);
    return [kind, m];
  }),
) as Record<DelegateKind, Map<string, number>>;

const U64_MAX = (1n << 64n) - 1n;

/** kstrtou64(s, 0): decimal, 0x/0X hex, leading-0 octal, optional '+'. Undefined if not a number. */
export function parseKernelU64(s: string): bigint | undefined {
  const m = /^\+?(?:0[xX]([0-9a-fA-F]+)|(0[0-7]*)|([1-9][0-9]*))$/.exec(s);
  if (!m) return undefined;
  const v =
    m[1] !== undefined ? BigInt(`0x${m[1]}`) : m[2] !== undefined ? BigInt(`0o${m[2] === '0' ? '0' : m[2].slice(1)}`) : BigInt(m[3]!);
  return v <= U64_MAX ? v : undefined;
}

/** Enum value of a delegation item name (case-insensitive, no prefix), or undefined. */
export function delegateValue(kind: DelegateKind, name: string): number | undefined {
  return VALUES[kind].get(name.toLowerCase());
}

/**
 * 'mountinfo': what the kernel prints (/proc/self/mountinfo super options), a number is leftover bits
 * added to the names before it. 'mount-option': what an administrator passes to mount(8) or
 * fsconfig(), a number replaces the mask built so far, as the kernel's parser does.
 */
export type DelegateForm = 'mountinfo' | 'mount-option';

/**
 * Decode one delegate_* option value. `undefined` (option not set) is the empty mask. An item that is
 * empty, or is neither "any", a name nor a number, is what the kernel itself rejects with EINVAL:
 * ParseError naming `input`.
 */
export function decodeDelegate(
  kind: DelegateKind,
  value: string | undefined,
  input = `delegate_${kind}`,
  form: DelegateForm = 'mountinfo',
): DelegateMask {
  if (value === undefined || value === '') return { any: false, bits: 0n, unknownNames: [] };
  let any = false;
  let bits = 0n;
  const unknownNames: string[] = [];
  for (const item of value.split(':')) {
    if (item === 'any') {
      any = true;
      bits = U64_MAX;
      continue;
    }
    const v = delegateValue(kind, item);
    if (v !== undefined) {
      bits |= 1n << BigInt(v);
      continue;
    }
    const n = parseKernelU64(item);
    if (n !== undefined) {
      if (form === 'mountinfo') {
        bits |= n;
      } else {
        // The parser's quirk: kstrtou64() writes into the mask, replacing names and "any" before it.
        bits = n;
        unknownNames.length = 0;
      }
      any = bits === U64_MAX;
      continue;
    }
    // A well-formed name our table lacks: a kernel newer than our uapi names printed it.
    if (/^[A-Za-z_][A-Za-z0-9_]*$/.test(item)) {
      unknownNames.push(item.toLowerCase());
      continue;
    }
    throw new ParseError(input, `${JSON.stringify(item)} is not "any", a ${kind.slice(0, -1)} name or a number`);
  }
  return { any, bits, unknownNames };
}

/** Whether enum value `value` is delegated. */
export function allows(mask: DelegateMask, value: number): boolean {
  return mask.any || (value >= 0 && value < 64 && ((mask.bits >> BigInt(value)) & 1n) === 1n);
}

/**
 * The public form (docs/tokens.md): ["any"] for any — the kernel means "all, including types added
 * later", which an expanded list could not say — else the names in enum order, then names we do not
 * know, then leftover bits as one "0x.." item, as the kernel prints them.
 */
export function delegateNames(kind: DelegateKind, mask: DelegateMask): string[] {
  if (mask.any) return ['any'];
  const names: string[] = [];
  let rest = mask.bits;
  const table = TABLES[kind];
  for (let v = 0; v < 64 && rest; v++) {
    const bit = 1n << BigInt(v);
    const name = table[v];
    if (rest & bit && name) {
      names.push(name);
      rest &= ~bit;
    }
  }
  names.push(...mask.unknownNames);
  if (rest) names.push(`0x${rest.toString(16)}`);
  return names;
}

/** Delegation of a bpffs mount, from its super options (ParseError names the mount and option). */
export function delegationOf(mount: Pick<MountEntry, 'mountPoint' | 'superOptions'>): TokenDelegation {
  const out = { path: mount.mountPoint } as TokenDelegation;
  for (const kind of DELEGATE_KINDS) {
    const raw = mount.superOptions[`delegate_${kind}`];
    out[kind] = decodeDelegate(kind, raw === true ? '' : raw, `${mount.mountPoint}: delegate_${kind}`);
  }
  return out;
}

export function delegatesAnything(d: TokenDelegation): boolean {
  return DELEGATE_KINDS.some((k) => d[k].any || d[k].bits !== 0n || d[k].unknownNames.length > 0);
}

/** The `delegate` object of a `bpffs` entry in the JSON report. */
export function delegateJson(d: TokenDelegation): Record<DelegateKind, string[]> {
  return {
    cmds: delegateNames('cmds', d.cmds),
    maps: delegateNames('maps', d.maps),
    progs: delegateNames('progs', d.progs),
    attachs: delegateNames('attachs', d.attachs),
  };
}
