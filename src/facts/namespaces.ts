import { readNamespaces } from '../kernel/namespaces.ts';
import type { FactSection } from '../contract/report.ts';
import { fact } from './types.ts';

/** Whether each namespace is the initial one: most bpf() permissions are checked against init_user_ns. */
export function namespaceFacts(hostRoot: string): FactSection {
  const section: FactSection = {};
  for (const ns of readNamespaces(hostRoot)) {
    const value = { self: ns.self.ok ? ns.self.inode : null, init: ns.isInit ?? null };
    if (ns.isInit !== undefined) {
      section[ns.type] = fact('supported', value, ns.isInit ? `initial ${ns.type} namespace` : `not the initial ${ns.type} namespace`);
      continue;
    }
    const failed = !ns.self.ok ? ns.self : !ns.init.ok ? ns.init : undefined;
    const code = failed && !failed.ok ? failed.code : undefined;
    const where = failed && !failed.ok ? failed.path : '';
    section[ns.type] =
      code === 'EACCES' || code === 'EPERM'
        ? fact('not-permitted', value, `unknown: cannot read ${where} (needs ptrace access to pid 1)`, code)
        : fact('error', value, `unknown: ${where}: ${code ?? 'unreadable'}`, code);
  }
  return section;
}
