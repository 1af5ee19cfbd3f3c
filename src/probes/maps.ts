// Map types: one row per type of the current uapi, with the attributes a kernel that has the type
// accepts (key/value sizes, max_entries, flags). Default: key 4, value 4, one entry, no flags.
// Rows that need more say why. Every create is real; the map is closed at once.
import { BPF_F_MMAPABLE, BPF_F_NO_PREALLOC } from '../native/bpf.ts';
import { PAGE_SIZE } from '../native/libc.ts';
import type { KernelSince } from './programs.ts';

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

/** The first mainline kernel with each map type (programs.ts KernelSince), held to Debian's 6.1 by a test. */
export const MAP_TYPE_SINCE: Readonly<Record<string, KernelSince>> = {
  hash: { since: '3.19' },
  array: { since: '3.19' },
  prog_array: { since: '4.2' },
  perf_event_array: { since: '4.3' },
  percpu_hash: { since: '4.6' },
  percpu_array: { since: '4.6' },
  stack_trace: { since: '4.6' },
  cgroup_array: { since: '4.8' },
  lru_hash: { since: '4.10' },
  lru_percpu_hash: { since: '4.10' },
  lpm_trie: { since: '4.11' },
  array_of_maps: { since: '4.12' },
  hash_of_maps: { since: '4.12' },
  devmap: { since: '4.14' },
  sockmap: { since: '4.14' },
  cpumap: { since: '4.15' },
  xskmap: { since: '4.18' },
  sockhash: { since: '4.18' },
  cgroup_storage: { since: '4.19' },
  reuseport_sockarray: { since: '4.19' },
  percpu_cgroup_storage: { since: '4.20' },
  queue: { since: '4.20' },
  stack: { since: '4.20' },
  sk_storage: { since: '5.2' },
  devmap_hash: { since: '5.4' },
  struct_ops: { since: '5.6' },
  ringbuf: { since: '5.8' },
  inode_storage: { since: '5.10' },
  task_storage: { since: '5.11' },
  bloom_filter: { since: '5.16' },
  user_ringbuf: { since: '6.1' },
  cgrp_storage: { since: '6.2' },
  arena: { since: '6.9' },
  insn_array: { since: null },
  rhash: { since: null },
};
