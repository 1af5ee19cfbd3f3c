// The bpf and perf event fds this process holds, by what /proc/self/fd says they are: programs,
// maps, links, BTF, iterators (anon_inode:bpf-*, anon_inode:btf, anon_inode:bpf_iter) and perf
// events (anon_inode:[perf_event]). Sorted "fd → target" lines, so two lists compare as text.
import { readdirSync, readlinkSync } from 'node:fs';

const BPF_OR_PERF = /^anon_inode:(bpf|btf|\[perf_event\])/;

export function bpfFds(): string[] {
  const out: string[] = [];
  for (const fd of readdirSync('/proc/self/fd')) {
    let target: string;
    try {
      target = readlinkSync(`/proc/self/fd/${fd}`);
    } catch {
      continue; // the fd readdir itself used, closed by now
    }
    if (BPF_OR_PERF.test(target)) out.push(`${fd} → ${target}`);
  }
  return out.sort();
}
