import { readMounts, type WatchedFs } from '../kernel/mounts.ts';
import type { FactSection, Json } from '../report.ts';
import { fact } from './types.ts';

const DELEGATE = /^delegate_/;

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
      section[key] = fact('not-permitted', [], `mountinfo lists ${where} but checking its filesystem magic was refused (reaching host paths through /proc/1/root needs CAP_SYS_PTRACE): availability unknown${note}`, denied[0]!.errno);
    } else section[key] = fact('unsupported', [], `${absent}${note}`);
  };
  one('bpffs', 'bpf', 'no bpffs mounted: objects cannot be pinned and tokens cannot be created', (o) => {
    const d = Object.fromEntries(Object.entries(o).filter(([k]) => DELEGATE.test(k)).map(([k, v]) => [k, v === true ? true : v]));
    return Object.keys(d).length ? d : null;
  });
  one('tracefs', 'tracefs', 'tracefs not mounted: kprobe/uprobe events via tracefs unavailable (the perf PMUs still work)');
  one('debugfs', 'debugfs', 'debugfs not mounted');
  one('securityfs', 'securityfs', 'securityfs not mounted: active LSMs, lockdown and IMA are unknown');
  one('cgroup2', 'cgroup2', 'no cgroup v2 hierarchy: cgroup BPF programs (which attach to v2 cgroups) have nowhere to attach');
  one('cgroup1', 'cgroup', 'no cgroup v1 hierarchy', (o) =>
    Object.entries(o).filter(([k]) => k !== 'rw' && k !== 'ro').map(([k, v]) => (v === true ? k : `${k}=${v}`)));
  section.mountinfo = fact(view.problems.length ? 'error' : 'supported', view.source, view.problems.length ? view.problems.slice(0, 3).join('; ') : undefined);
  return section;
}
