import { readMounts, type WatchedFs } from '../kernel/statfs-mounts.ts';
import { hasCap, readEffectiveCapabilities } from '../kernel/procstatus.ts';
import type { FactSection, Json } from '../contract/report.ts';
import { fact } from './types.ts';

const DELEGATE = /^delegate_/;

/** include/uapi/linux/capability.h */
const CAP_SYS_PTRACE = 19;

function ptraceHeld(): boolean {
  try {
    return hasCap(readEffectiveCapabilities(), CAP_SYS_PTRACE);
  } catch {
    return false;
  }
}

export function mountFacts(hostRoot: string): FactSection {
  const view = readMounts(hostRoot);
  const section: FactSection = {};
  const note = view.problems.length ? `; mountinfo problems: ${view.problems.slice(0, 3).join('; ')}` : '';
  const list = (fs: WatchedFs, options: (o: Record<string, string | true>) => Json = () => null): Json =>
    view.byFs[fs].map((m): Json => {
      const o = m.options ? options(m.options) : null;
      return o === null ? { path: m.path } : { path: m.path, options: o };
    });
  const one = (key: string, fs: WatchedFs, absent: string, options?: (o: Record<string, string | true>) => Json) => {
    const denied = view.denied[fs];
    if (view.byFs[fs].length) section[key] = fact('supported', list(fs, options));
    else if (denied.length) {
      const where = denied.map((d) => `${d.path} (${d.errno})`).join(', ');
      const local = denied.map((d) => d.local).filter(Boolean);
      // With CAP_SYS_PTRACE held, the refusal is pid 1's (an LSM, or a pid 1 in another user namespace).
      const why = ptraceHeld()
        ? "refused although CAP_SYS_PTRACE is held: the host's pid 1 refuses ptrace reads of its root"
        : 'refused: reaching host paths through /proc/1/root needs CAP_SYS_PTRACE';
      const alsoLocal = local.length
        ? `; nor could the host root's own view confirm it (${local.join(', ')}: not under a host directory mounted into the pod, docs/deploy.md)`
        : '';
      section[key] = fact(
        'not-permitted',
        [],
        `mountinfo lists ${where} but checking its filesystem magic was ${why}${alsoLocal}: availability unknown${note}`,
        denied[0]!.errno,
      );
    } else section[key] = fact('unsupported', [], `${absent}${note}`);
  };
  one('bpffs', 'bpf', 'no bpffs mounted: objects cannot be pinned and tokens cannot be created', (o) => {
    const d = Object.fromEntries(
      Object.entries(o)
        .filter(([k]) => DELEGATE.test(k))
        .map(([k, v]) => [k, v === true ? true : v]),
    );
    return Object.keys(d).length ? d : null;
  });
  one('tracefs', 'tracefs', 'tracefs not mounted: kprobe/uprobe events via tracefs unavailable (the perf PMUs still work)');
  one('debugfs', 'debugfs', 'debugfs not mounted');
  one('securityfs', 'securityfs', 'securityfs not mounted: active LSMs, lockdown and IMA are unknown');
  one('cgroup2', 'cgroup2', 'no cgroup v2 hierarchy: cgroup BPF programs (which attach to v2 cgroups) have nowhere to attach');
  one('cgroup1', 'cgroup', 'no cgroup v1 hierarchy', (o) =>
    Object.entries(o)
      .filter(([k]) => k !== 'rw' && k !== 'ro')
      .map(([k, v]) => (v === true ? k : `${k}=${v}`)),
  );
  section.mountinfo = fact(
    view.problems.length ? 'error' : 'supported',
    view.source,
    view.problems.length ? view.problems.slice(0, 3).join('; ') : undefined,
  );
  return section;
}
