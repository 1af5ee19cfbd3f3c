import type { Fact, FactSection, Json } from '../contract/report.ts';
import type { Status } from '../contract/result.ts';
import type { KernelIdentity } from '../kernel/osrelease.ts';

/** The kernel section: plain values, not facts; `problems` lists files that could not be read. */
export type KernelFacts = Omit<KernelIdentity, 'problems'> & { problems?: string[] };

export interface SystemFacts {
  kernel: KernelFacts;
  config: FactSection;
  btf: FactSection;
  kfuncs: FactSection;
  security: FactSection;
  capabilities: FactSection;
  sysctl: FactSection;
  mounts: FactSection;
  namespaces: FactSection;
  cpu: FactSection;
}

export function fact(status: Status, value?: Json, detail?: string, errno?: string): Fact {
  const f: Fact = { status };
  if (errno) f.errno = errno;
  if (detail) f.detail = detail;
  if (value !== undefined) f.value = value;
  return f;
}

/** A file we could not read: EPERM/EACCES is not-permitted (unknown), ENOENT is the fact "absent". */
export function unreadable(code: string, path: string, absent: string): Fact {
  if (code === 'EACCES' || code === 'EPERM') return fact('not-permitted', undefined, `unknown: ${path} not readable`, code);
  if (code === 'ENOENT') return fact('unsupported', undefined, absent, code);
  return fact('error', undefined, `unknown: ${path}: ${code}`, code);
}
