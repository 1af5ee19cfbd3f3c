// Kernel modules that carry BTF: /sys/kernel/btf/<module> (CONFIG_DEBUG_INFO_BTF_MODULES, 5.11+),
// split BTF on top of vmlinux. Their kfuncs and attach targets exist only while they are loaded.
import { listHostDir } from './hostroot.ts';

export function listBtfModules(hostRoot: string): { ok: true; modules: string[] } | { ok: false; code: string; path: string } {
  const r = listHostDir(hostRoot, '/sys/kernel/btf');
  return r.ok ? { ok: true, modules: r.value.filter((n) => n !== 'vmlinux') } : r;
}
