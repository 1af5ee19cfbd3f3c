import { ParseError } from '../base/errors.ts';
import { hostPath } from '../kernel/hostroot.ts';
import { Btf, btfFileKey } from '../kernel/btf.ts';
import { listBtfModules } from '../kernel/modules.ts';
import type { FactSection, Json } from '../contract/report.ts';
import { fact, unreadable } from './types.ts';

export interface BtfFacts {
  btf: FactSection;
  kfuncs: FactSection;
  /** Whether vmlinux BTF was parsed (this time: not on a memo hit). */
  parsed: boolean;
}

const KFUNC_TAG = 'bpf_kfunc';

function errorText(e: unknown): { code: string | undefined; message: string } {
  return { code: (e as NodeJS.ErrnoException).code, message: (e as Error).message };
}

// The sections depend only on the BTF files: recomputed when one of them changes, so a daemon
// cycle does not parse 5 MB of vmlinux BTF to list the same kfuncs again.
let memo: { key: string; btf: FactSection; kfuncs: FactSection } | undefined;

function filesKey(hostRoot: string): string | undefined {
  try {
    const mods = listBtfModules(hostRoot);
    const names = mods.ok ? mods.modules : [];
    return [
      btfFileKey(hostPath(hostRoot, '/sys/kernel/btf/vmlinux')),
      ...names.map((n) => btfFileKey(hostPath(hostRoot, `/sys/kernel/btf/${n}`))),
    ].join('\n');
  } catch {
    return undefined;
  }
}

export function btfFacts(hostRoot: string, config: Map<string, string> | undefined): BtfFacts {
  const key = filesKey(hostRoot);
  if (key && memo?.key === key) return { btf: memo.btf, kfuncs: memo.kfuncs, parsed: false };
  const r = computeBtfFacts(hostRoot, config);
  if (key && r.parsed) memo = { key, btf: r.btf, kfuncs: r.kfuncs };
  return r;
}

// The BTF is parsed here for these sections alone and freed as soon as they are made (Btf.free():
// ~7 MiB for vmlinux and the loaded modules' split BTF), not left for a later garbage collection
// (docs/probes.md, "Memory").
function computeBtfFacts(hostRoot: string, config: Map<string, string> | undefined): BtfFacts {
  const btf: FactSection = {};
  const kfuncs: FactSection = {};
  const path = hostPath(hostRoot, '/sys/kernel/btf/vmlinux');
  let vmlinux: Btf | undefined;
  try {
    vmlinux = Btf.open(path);
    btf.vmlinux = fact('supported', { path, types: vmlinux.typeCount });
  } catch (e) {
    const { code, message } = errorText(e);
    const why = config?.get('DEBUG_INFO_BTF') === 'y' ? 'CONFIG_DEBUG_INFO_BTF=y but' : 'CONFIG_DEBUG_INFO_BTF not set:';
    // A malformed file is an error with the parser's words; fs errors (ENOENT, EACCES) say absent/unreadable.
    btf.vmlinux =
      e instanceof ParseError || !code ? fact('error', undefined, `unknown: ${message}`) : unreadable(code, path, `${why} no ${path}`);
  }

  try {
    const mods = listBtfModules(hostRoot);
    const modules: Record<string, Json> = {};
    const broken: string[] = [];
    if (vmlinux && mods.ok) {
      for (const name of mods.modules) {
        let m: Btf | undefined;
        try {
          const file = hostPath(hostRoot, `/sys/kernel/btf/${name}`);
          m = Btf.open(file, { base: vmlinux });
          modules[name] = m.typeCount - m.firstId + 1;
          for (const k of m.declTagged(KFUNC_TAG, { ownOnly: true })) kfuncs[k.name] ??= fact('supported', { btfId: k.id, module: name });
        } catch (e) {
          broken.push(`${name}: ${errorText(e).message}`);
        } finally {
          m?.free();
        }
      }
    }
    if (!vmlinux) btf.modules = fact('error', undefined, 'unknown: module BTF is split BTF and needs vmlinux BTF');
    else if (!mods.ok) btf.modules = fact('error', undefined, `unknown: ${mods.path}: ${mods.code}`);
    else if (Object.keys(modules).length === 0 && broken.length === 0) {
      const why =
        config?.get('MODULES') !== 'y'
          ? 'kernel built without modules (CONFIG_MODULES not set)'
          : config?.get('DEBUG_INFO_BTF_MODULES') !== 'y'
            ? 'CONFIG_DEBUG_INFO_BTF_MODULES not set'
            : 'no loaded module carries BTF';
      btf.modules = fact('unsupported', {}, why);
    } else
      btf.modules = fact(broken.length ? 'error' : 'supported', modules, broken.length ? `unparsable: ${broken.join('; ')}` : undefined);

    if (vmlinux) {
      // vmlinux kfuncs first, so a module cannot shadow a vmlinux kfunc of the same name.
      const own: FactSection = {};
      for (const k of vmlinux.declTagged(KFUNC_TAG)) own[k.name] ??= fact('supported', { btfId: k.id, module: 'vmlinux' });
      for (const [n, f] of Object.entries(kfuncs)) own[n] ??= f;
      const count = Object.keys(own).length;
      btf.kfuncs = count
        ? fact('supported', count, `from DECL_TAG "${KFUNC_TAG}"`)
        : // pahole < 1.26 emits no kfunc decl tags: kfuncs may still exist, only a probe load can tell.
          fact('error', 0, `unknown: no DECL_TAG "${KFUNC_TAG}" in vmlinux BTF (built with pahole < 1.26?)`);
      return { btf, kfuncs: Object.fromEntries(Object.entries(own).sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0))), parsed: true };
    }
    btf.kfuncs = fact('error', undefined, 'unknown: kfuncs are discovered from vmlinux BTF, which is missing');
    return { btf, kfuncs, parsed: false };
  } finally {
    vmlinux?.free();
  }
}
