// /proc/<pid>/status and /proc/<pid>/task/<tid>/status (fs/proc/array.c): "Key:\tvalue" lines. We
// need the five capability sets (CapInh/CapPrm/CapEff/CapBnd/CapAmb, 16 hex digits each) and a few
// identity fields. Capabilities are per *thread*: a Node process has several threads and a library
// may drop capabilities in one of them only, so callers can read every task.
import { readFileSync, readlinkSync } from 'node:fs';
import { ParseError } from '../base/errors.ts';
import { listHostDir, readHostText } from './hostroot.ts';

/** include/uapi/linux/capability.h, by bit number. */
export const CAPABILITY_NAMES: readonly string[] = [
  'cap_chown',
  'cap_dac_override',
  'cap_dac_read_search',
  'cap_fowner',
  'cap_fsetid',
  'cap_kill',
  'cap_setgid',
  'cap_setuid',
  'cap_setpcap',
  'cap_linux_immutable',
  'cap_net_bind_service',
  'cap_net_broadcast',
  'cap_net_admin',
  'cap_net_raw',
  'cap_ipc_lock',
  'cap_ipc_owner',
  'cap_sys_module',
  'cap_sys_rawio',
  'cap_sys_chroot',
  'cap_sys_ptrace',
  'cap_sys_pacct',
  'cap_sys_admin',
  'cap_sys_boot',
  'cap_sys_nice',
  'cap_sys_resource',
  'cap_sys_time',
  'cap_sys_tty_config',
  'cap_mknod',
  'cap_lease',
  'cap_audit_write',
  'cap_audit_control',
  'cap_setfcap',
  'cap_mac_override',
  'cap_mac_admin',
  'cap_syslog',
  'cap_wake_alarm',
  'cap_block_suspend',
  'cap_audit_read',
  'cap_perfmon',
  'cap_bpf',
  'cap_checkpoint_restore',
];

export const CAP = {
  NET_ADMIN: 12,
  SYS_ADMIN: 21,
  SYS_BOOT: 22,
  SYS_RESOURCE: 24,
  PERFMON: 38,
  BPF: 39,
} as const;

/** Names of the bits set in `mask`; bits newer than our table read as cap_<n>. */
export function capabilityNames(mask: bigint): string[] {
  const out: string[] = [];
  for (let bit = 0; bit < 64; bit++) if ((mask >> BigInt(bit)) & 1n) out.push(CAPABILITY_NAMES[bit] ?? `cap_${bit}`);
  return out;
}

export const hasCap = (mask: bigint, bit: number): boolean => ((mask >> BigInt(bit)) & 1n) === 1n;

export interface CapabilitySets {
  inheritable: bigint;
  permitted: bigint;
  effective: bigint;
  bounding: bigint;
  ambient: bigint;
}

export interface ProcStatus {
  fields: Record<string, string>;
  caps: CapabilitySets;
}

const CAP_FIELDS = { CapInh: 'inheritable', CapPrm: 'permitted', CapEff: 'effective', CapBnd: 'bounding', CapAmb: 'ambient' } as const;
const HEX64 = /^[0-9a-fA-F]{1,16}$/;

/** Parse a status file; CapInh..CapBnd are required (CapAmb is 4.3+, absent means 0). */
export function parseProcStatus(text: string, input = '/proc/self/status'): ProcStatus {
  const fields: Record<string, string> = Object.create(null) as Record<string, string>;
  const lines = text.split('\n');
  for (let i = 0; i < lines.length; i++) {
    const line = lines[i]!;
    if (line === '') continue;
    const colon = line.indexOf(':');
    if (colon <= 0) throw new ParseError(`${input} line ${i + 1}`, `not a "Key: value" line: ${JSON.stringify(line.slice(0, 80))}`);
    fields[line.slice(0, colon)] = line.slice(colon + 1).trim();
  }
  const caps: CapabilitySets = { inheritable: 0n, permitted: 0n, effective: 0n, bounding: 0n, ambient: 0n };
  for (const [key, set] of Object.entries(CAP_FIELDS)) {
    const v = fields[key];
    if (v === undefined) {
      if (key === 'CapAmb') continue;
      throw new ParseError(input, `missing ${key}`);
    }
    if (!HEX64.test(v)) throw new ParseError(input, `${key} is not a 64-bit hex mask: ${JSON.stringify(v.slice(0, 40))}`);
    caps[set] = BigInt(`0x${v}`);
  }
  return { fields, caps };
}

/**
 * Our own status, never the host root's: the thread group's (/proc/self/status) or the calling
 * thread's (/proc/thread-self/status). Credentials are per thread and bpf() checks the caller's, so
 * what a probe on this thread may do is the thread's.
 */
export function readOwnStatus(of: 'process' | 'thread' = 'process'): ProcStatus {
  const path = of === 'thread' ? '/proc/thread-self/status' : '/proc/self/status';
  return parseProcStatus(readFileSync(path, 'utf8'), path);
}

/** The calling thread group's effective capabilities (CapEff of /proc/self/status). */
export function readEffectiveCapabilities(): bigint {
  return readOwnStatus().caps.effective;
}

export interface TaskCaps {
  tid: number;
  caps: CapabilitySets;
}

/**
 * Our own process's threads. These are read from /proc/self, never the host root: the capabilities
 * are those of the process doing the probing, wherever it runs.
 */
export function readThreadCapabilities(): TaskCaps[] {
  const dir = listHostDir('/', '/proc/self/task');
  if (!dir.ok) return [];
  const out: TaskCaps[] = [];
  for (const tid of dir.value) {
    const r = readHostText('/', `/proc/self/task/${tid}/status`);
    // A thread may exit between readdir and open.
    if (!r.ok) continue;
    out.push({ tid: Number(tid), caps: parseProcStatus(r.value, r.path).caps });
  }
  return out.sort((a, b) => a.tid - b.tid);
}

/**
 * Whether this process is in the initial user namespace (its fixed inode, PROC_USER_INIT_INO). bpf()
 * checks capabilities there (without a token), so capabilities held in a child user namespace (a
 * rootless container) count for nothing. undefined when it cannot be told.
 */
export function inInitUserNamespace(): boolean | undefined {
  try {
    return readlinkSync('/proc/self/ns/user') === 'user:[4026531837]';
  } catch {
    return undefined;
  }
}
