// union bpf_attr layouts, per command, as byte offsets on 64-bit Linux.
// Offsets were computed by compiling include/uapi/linux/bpf.h with gcc (see
// docs/kernel-notes.md#attr-size); test/unit/attr.test.ts checks them against the C
// compiler on the machine (offsetof() over the installed linux/bpf.h) so a drift shows as a failure.
// All integers are native little-endian (x86_64, aarch64).

export type FieldType = 'u32' | 's32' | 'u64' | 'bytes16';
export type Layout = Readonly<Record<string, readonly [offset: number, type: FieldType]>>;

const W: Record<FieldType, number> = { u32: 4, s32: 4, u64: 8, bytes16: 16 };

export const MAP_CREATE = {
  map_type: [0, 'u32'],
  key_size: [4, 'u32'],
  value_size: [8, 'u32'],
  max_entries: [12, 'u32'],
  map_flags: [16, 'u32'],
  inner_map_fd: [20, 'u32'],
  numa_node: [24, 'u32'],
  map_name: [28, 'bytes16'],
  map_ifindex: [44, 'u32'],
  btf_fd: [48, 'u32'],
  btf_key_type_id: [52, 'u32'],
  btf_value_type_id: [56, 'u32'],
  btf_vmlinux_value_type_id: [60, 'u32'],
  map_extra: [64, 'u64'],
  value_type_btf_obj_fd: [72, 's32'],
  map_token_fd: [76, 's32'],
} as const satisfies Layout;

export const PROG_LOAD = {
  prog_type: [0, 'u32'],
  insn_cnt: [4, 'u32'],
  insns: [8, 'u64'],
  license: [16, 'u64'],
  log_level: [24, 'u32'],
  log_size: [28, 'u32'],
  log_buf: [32, 'u64'],
  kern_version: [40, 'u32'],
  prog_flags: [44, 'u32'],
  prog_name: [48, 'bytes16'],
  prog_ifindex: [64, 'u32'],
  expected_attach_type: [68, 'u32'],
  prog_btf_fd: [72, 'u32'],
  func_info_rec_size: [76, 'u32'],
  func_info: [80, 'u64'],
  func_info_cnt: [88, 'u32'],
  line_info_rec_size: [92, 'u32'],
  line_info: [96, 'u64'],
  line_info_cnt: [104, 'u32'],
  attach_btf_id: [108, 'u32'],
  attach_prog_fd: [112, 'u32'], // union with attach_btf_obj_fd
  core_relo_cnt: [116, 'u32'],
  fd_array: [120, 'u64'],
  core_relos: [128, 'u64'],
  core_relo_rec_size: [136, 'u32'],
  log_true_size: [140, 'u32'],
  prog_token_fd: [144, 's32'],
  fd_array_cnt: [148, 'u32'],
} as const satisfies Layout;

export const BTF_LOAD = {
  btf: [0, 'u64'],
  btf_log_buf: [8, 'u64'],
  btf_size: [16, 'u32'],
  btf_log_size: [20, 'u32'],
  btf_log_level: [24, 'u32'],
  btf_log_true_size: [28, 'u32'],
  btf_flags: [32, 'u32'],
  btf_token_fd: [36, 's32'],
} as const satisfies Layout;

export const TOKEN_CREATE = {
  flags: [0, 'u32'],
  bpffs_fd: [4, 'u32'],
} as const satisfies Layout;

export const LINK_CREATE = {
  prog_fd: [0, 'u32'], // union with map_fd
  target_fd: [4, 'u32'], // union with target_ifindex
  attach_type: [8, 'u32'],
  flags: [12, 'u32'],
  target_btf_id: [16, 'u32'],
  // kprobe_multi
  kprobe_multi_flags: [16, 'u32'],
  kprobe_multi_cnt: [20, 'u32'],
  kprobe_multi_syms: [24, 'u64'],
  kprobe_multi_addrs: [32, 'u64'],
  // uprobe_multi
  uprobe_multi_path: [16, 'u64'],
  uprobe_multi_offsets: [24, 'u64'],
  uprobe_multi_cnt: [48, 'u32'],
  uprobe_multi_flags: [52, 'u32'],
  uprobe_multi_pid: [56, 'u32'],
  // perf_event
  perf_event_bpf_cookie: [16, 'u64'],
  // netfilter
  netfilter_pf: [16, 'u32'],
  netfilter_hooknum: [20, 'u32'],
  netfilter_priority: [24, 's32'],
  netfilter_flags: [28, 'u32'],
} as const satisfies Layout;

export const RAW_TRACEPOINT_OPEN = {
  name: [0, 'u64'],
  prog_fd: [8, 'u32'],
} as const satisfies Layout;

export const PROG_ATTACH = {
  target_fd: [0, 'u32'],
  attach_bpf_fd: [4, 'u32'],
  attach_type: [8, 'u32'],
  attach_flags: [12, 'u32'],
} as const satisfies Layout;

export const PROG_QUERY = {
  target_fd: [0, 'u32'],
  attach_type: [4, 'u32'],
  query_flags: [8, 'u32'],
} as const satisfies Layout;

export const OBJ_GET_INFO_BY_FD = {
  bpf_fd: [0, 'u32'],
  info_len: [4, 'u32'],
  info: [8, 'u64'],
} as const satisfies Layout;

export const PROG_BIND_MAP = {
  prog_fd: [0, 'u32'],
  map_fd: [4, 'u32'],
  flags: [8, 'u32'],
} as const satisfies Layout;

export const PROG_TEST_RUN = {
  prog_fd: [0, 'u32'],
  retval: [4, 'u32'],
  data_size_in: [8, 'u32'],
  data_size_out: [12, 'u32'],
  data_in: [16, 'u64'],
  data_out: [24, 'u64'],
  repeat: [32, 'u32'],
} as const satisfies Layout;

export const ITER_CREATE = {
  link_fd: [0, 'u32'],
  flags: [4, 'u32'],
} as const satisfies Layout;

export const GET_NEXT_ID = {
  start_id: [0, 'u32'],
  next_id: [4, 'u32'],
  open_flags: [8, 'u32'],
} as const satisfies Layout;

/** Size of union bpf_attr in the newest uapi we know; no command of ours writes past it. */
export const BPF_ATTR_SIZE = 168;

export type AttrValues<L extends Layout> = { -readonly [K in keyof L]?: number | bigint | string };

/**
 * A zeroed bpf_attr sized, as libbpf does, to the end of the last field this call sets: a kernel
 * older than a field then never sees it, and a field set to a non-zero value past an old kernel's
 * union is rejected with E2BIG rather than silently ignored.
 */
export function encodeAttr<L extends Layout>(layout: L, values: AttrValues<L>): { buf: Uint8Array; size: number } {
  const buf = new Uint8Array(BPF_ATTR_SIZE);
  const view = new DataView(buf.buffer);
  let size = 0;
  for (const [name, value] of Object.entries(values) as [string, number | bigint | string | undefined][]) {
    if (value === undefined) continue;
    const field = layout[name];
    if (!field) throw new TypeError(`bpf_attr has no field ${name}`);
    const [off, type] = field;
    switch (type) {
      case 'u32':
        view.setUint32(off, Number(value) >>> 0, true);
        break;
      case 's32':
        view.setInt32(off, Number(value) | 0, true);
        break;
      case 'u64':
        view.setBigUint64(off, BigInt.asUintN(64, BigInt(value)), true);
        break;
      case 'bytes16': {
        const bytes = new TextEncoder().encode(String(value));
        if (bytes.length > 15) throw new RangeError(`${name} is longer than 15 bytes: ${String(value)}`);
        buf.set(bytes, off);
        break;
      }
    }
    size = Math.max(size, off + W[type]);
  }
  return { buf, size: Math.max(size, 4) };
}
