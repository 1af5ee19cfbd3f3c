// Map types: one row per type of the current uapi, with the attributes a kernel that has the type
// accepts (key/value sizes, max_entries, flags). Default: key 4, value 4, one entry, no flags.
// Rows that need more say why. Every create is real; the map is closed at once.
import { BPF_F_MMAPABLE, BPF_F_NO_PREALLOC } from '../native/bpf.ts';
import { PAGE_SIZE } from '../native/libc.ts';

export interface MapRecipe {
  key?: number;
  value?: number;
  maxEntries?: number;
  flags?: number;
  /** *_OF_MAPS: an inner ARRAY map is created first and passed as inner_map_fd. */
  innerMap?: boolean;
  /** Local storage maps need BTF for key and value: load `int` BTF, key id = value id = 1. */
  intBtf?: boolean;
  /** struct_ops: the value is this vmlinux struct (bpf_struct_ops_<name>), sized from BTF. */
  structOps?: string;
}

export const MAP_TYPES: Readonly<Record<string, MapRecipe>> = {
  hash: {},
  array: {},
  prog_array: {},
  perf_event_array: {},
  percpu_hash: {},
  percpu_array: {},
  stack_trace: { value: 8 }, // values are u64 instruction pointers
  cgroup_array: {},
  lru_hash: {},
  lru_percpu_hash: {},
  lpm_trie: { key: 8, value: 8, flags: BPF_F_NO_PREALLOC }, // key = u32 prefixlen + data; must not prealloc
  array_of_maps: { innerMap: true },
  hash_of_maps: { innerMap: true },
  devmap: {},
  sockmap: {},
  cpumap: {},
  xskmap: {},
  sockhash: {},
  // key is struct bpf_cgroup_storage_key (u64 cgroup inode id + u32 attach type, padded to 16);
  // max_entries must be 0: the kernel sizes it per attachment.
  cgroup_storage: { key: 16, value: 8, maxEntries: 0 },
  reuseport_sockarray: {},
  percpu_cgroup_storage: { key: 16, value: 8, maxEntries: 0 },
  queue: { key: 0 }, // no keys
  stack: { key: 0 },
  sk_storage: { intBtf: true, maxEntries: 0, flags: BPF_F_NO_PREALLOC },
  devmap_hash: {},
  // Creating a struct_ops map registers nothing: that happens only when a link is created.
  struct_ops: { structOps: 'tcp_congestion_ops' },
  ringbuf: { key: 0, value: 0, maxEntries: PAGE_SIZE }, // size in bytes: a power of 2, page multiple
  inode_storage: { intBtf: true, maxEntries: 0, flags: BPF_F_NO_PREALLOC },
  task_storage: { intBtf: true, maxEntries: 0, flags: BPF_F_NO_PREALLOC },
  bloom_filter: { key: 0 },
  user_ringbuf: { key: 0, value: 0, maxEntries: PAGE_SIZE },
  cgrp_storage: { intBtf: true, maxEntries: 0, flags: BPF_F_NO_PREALLOC },
  arena: { key: 0, value: 0, maxEntries: 1, flags: BPF_F_MMAPABLE }, // max_entries counts pages
  insn_array: { key: 4, value: 16 }, // value is struct bpf_insn_array_value
  rhash: { flags: BPF_F_NO_PREALLOC },
};
