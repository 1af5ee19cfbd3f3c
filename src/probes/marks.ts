// Helpers whose successful lookup leaves a mark on the node (issue 20, docs/probes.md): probed only
// when the operator asks (`bpfready probe --full`, `fullProbe: true`), as bpftool's `full` does.
// A file of its own, with no import: the CLI's early helper batch (src/collect/shim-early.ts) reads
// it before koffi loads.
const PRINTK = 'the kernel enables the bpf_trace/bpf_trace_printk trace event for every program that may call it';
export const SIDE_EFFECT_HELPERS: Readonly<Record<string, string>> = {
  trace_printk: PRINTK,
  trace_vprintk: PRINTK,
  probe_write_user:
    'the kernel logs "... is installing a program with bpf_probe_write_user helper that may corrupt user memory!" for every program that may call it',
};
