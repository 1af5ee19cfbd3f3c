// LSM state from securityfs (<hostRoot>/sys/kernel/security): the active LSM list (`lsm`, 4.15+),
// the lockdown mode (`lockdown`, 5.4+, only while the lockdown LSM is active) and IMA (`ima/`).
// Whether securityfs is there is decided by its superblock magic, not by the directory: sysfs
// always has an empty /sys/kernel/security mount point.
import { ParseError } from '../base/errors.ts';
import { errnoName, statfsMagic } from '../native/libc.ts';
import { hostPath, listHostDir, readHostText } from './hostroot.ts';

export const SECURITYFS_MAGIC = 0x73636673;
export const SECURITYFS_PATH = '/sys/kernel/security';

const LSM_NAME = /^[a-z0-9_]+$/;

/** The comma-separated `lsm` file ("lockdown,capability,landlock,yama,bpf"). */
export function parseLsmList(text: string, input = 'lsm'): string[] {
  const t = text.trim();
  if (t === '') return [];
  const names = t.split(',');
  for (const n of names) if (!LSM_NAME.test(n)) throw new ParseError(input, `not an LSM name: ${JSON.stringify(n.slice(0, 40))}`);
  return names;
}

export type LockdownMode = 'none' | 'integrity' | 'confidentiality';
const LOCKDOWN_MODES: readonly string[] = ['none', 'integrity', 'confidentiality'];

/** The `lockdown` file: the levels on offer with the current one bracketed, "none [integrity] confidentiality". */
export function parseLockdown(text: string, input = 'lockdown'): { mode: LockdownMode; available: LockdownMode[] } {
  const words = text.trim().split(/\s+/).filter(Boolean);
  let mode: LockdownMode | undefined;
  const available: LockdownMode[] = [];
  for (const w of words) {
    const bracketed = w.startsWith('[') && w.endsWith(']');
    const name = bracketed ? w.slice(1, -1) : w;
    if (!LOCKDOWN_MODES.includes(name)) throw new ParseError(input, `unknown lockdown level ${JSON.stringify(name.slice(0, 40))}`);
    available.push(name as LockdownMode);
    if (bracketed) {
      if (mode) throw new ParseError(input, 'more than one bracketed (current) level');
      mode = name as LockdownMode;
    }
  }
  if (!mode) throw new ParseError(input, 'no bracketed (current) level');
  return { mode, available };
}

/**
 * The current lockdown mode from <hostRoot>/sys/kernel/security/lockdown; undefined when it cannot be
 * told (securityfs not mounted, no lockdown LSM, unreadable or malformed): src/attach/env.ts adds a
 * private securityfs mount for the attach facts.
 */
export function readLockdownMode(hostRoot: string): LockdownMode | undefined {
  const r = readHostText(hostRoot, `${SECURITYFS_PATH}/lockdown`);
  if (!r.ok) return undefined;
  try {
    return parseLockdown(r.value, r.path).mode;
  } catch {
    return undefined;
  }
}

/**
 * What each lockdown level takes away from BPF (include/linux/security.h enum lockdown_reason:
 * reasons below LOCKDOWN_INTEGRITY_MAX apply from `integrity`, the rest only at `confidentiality`).
 */
export const LOCKDOWN_BLOCKS: Record<LockdownMode, string[]> = {
  none: [],
  integrity: ['bpf_probe_write_user (LOCKDOWN_BPF_WRITE_USER)'],
  confidentiality: [
    'bpf_probe_write_user (LOCKDOWN_BPF_WRITE_USER)',
    'bpf_probe_read_kernel, bpf_probe_read_kernel_str and the legacy bpf_probe_read(_str) (LOCKDOWN_BPF_READ_KERNEL)',
    'kprobes (LOCKDOWN_KPROBES)',
    'unsafe perf use (LOCKDOWN_PERF)',
    'tracefs (LOCKDOWN_TRACEFS)',
  ],
};

export type SecurityfsState = { mounted: true; path: string } | { mounted: false; path: string; reason: string };

export function securityfsState(hostRoot: string): SecurityfsState {
  const path = hostPath(hostRoot, SECURITYFS_PATH);
  const r = statfsMagic(path);
  if (!r.ok) {
    const code = errnoName(r.errno);
    // No mount point at all (a host root without /sys/kernel/security) also means "not mounted".
    return { mounted: false, path, reason: code === 'ENOENT' ? 'securityfs not mounted' : `statfs ${path}: ${code}` };
  }
  if (r.value !== SECURITYFS_MAGIC) return { mounted: false, path, reason: 'securityfs not mounted' };
  return { mounted: true, path };
}

export interface ImaState {
  /** The ima/ directory exists in securityfs (IMA is built in and initialised). */
  present: boolean;
  /** ima/policy can be read (CONFIG_IMA_READ_POLICY and permission), with its rule count. */
  policyRules?: number;
  policyProblem?: string;
  /** ima/runtime_measurements_count: measurements taken since boot (1 = only the boot aggregate). */
  measurements?: number;
  measurementsProblem?: string;
}

export function readIma(hostRoot: string): ImaState {
  const dir = listHostDir(hostRoot, `${SECURITYFS_PATH}/ima`);
  if (!dir.ok) return { present: false };
  const state: ImaState = { present: true };
  const policy = readHostText(hostRoot, `${SECURITYFS_PATH}/ima/policy`);
  if (policy.ok) state.policyRules = policy.value.split('\n').filter((l) => l.trim() !== '').length;
  else state.policyProblem = `${policy.path}: ${policy.code}`;
  const count = readHostText(hostRoot, `${SECURITYFS_PATH}/ima/runtime_measurements_count`);
  if (count.ok && /^\d+$/.test(count.value.trim())) state.measurements = Number(count.value.trim());
  else state.measurementsProblem = count.ok ? `${count.path}: not a number` : `${count.path}: ${count.code}`;
  return state;
}
