// The marks comparison (test/kernels/marks.ts) on snapshots in the kernel's own formats: what counts
// as a new mark, and what on a shared machine belongs to someone else.
import { describe, expect, it } from 'vitest';
import { newMarks, parseSnapshot, snapshotCommand } from '../kernels/marks.ts';

const snap = (dmesg: string[], enable: string, buffer = '7 (expanded: 1408)') =>
  parseSnapshot(
    [
      '@@mark dmesg',
      ...dmesg,
      '@@mark events/bpf_trace/bpf_trace_printk/enable',
      enable,
      '@@mark buffer_size_kb',
      buffer,
      '@@mark kprobe_events',
      '',
    ].join('\n'),
  );

describe('newMarks', () => {
  const boot = ['[    0.000000] Linux version 6.1.0-56-cloud-amd64', '[    1.200000] Run /init as init process'];
  it('finds nothing when nothing changed', () => {
    expect(newMarks(snap(boot, '0'), snap(boot, '0'))).toEqual([]);
  });
  it('finds the trace_printk event switched on and the ring buffer expanded', () => {
    const marks = newMarks(snap(boot, '0'), snap(boot, '1', '1408'));
    expect(marks).toEqual(['events/bpf_trace/bpf_trace_printk/enable: "0" -> "1"', 'buffer_size_kb: "7 (expanded: 1408)" -> "1408"']);
  });
  it('finds a new kernel log line, and on a shared machine keeps only ours or unattributed BPF ones', () => {
    const warn = (pid: number) =>
      `[   12.345678] node[${pid}] is installing a program with bpf_probe_write_user helper that may corrupt user memory!`;
    const after = snap(
      [
        ...boot,
        warn(4242),
        warn(999),
        '[   12.4] br0: port 1(veth0) entered blocking state',
        '[   12.5] could not enable bpf_trace_printk events',
      ],
      '0',
    );
    // Without a pid every task's line counts; the bridge's housekeeping never does.
    expect(newMarks(snap(boot, '0'), after)).toHaveLength(3);
    expect(newMarks(snap(boot, '0'), after, { pid: 4242 })).toEqual([
      `kernel log: ${warn(4242)}`,
      'kernel log: [   12.5] could not enable bpf_trace_printk events',
    ]);
  });
  it('parses what the snapshot command prints, section by section', () => {
    expect(snapshotCommand('/t', '/d')).toContain("cat '/t/set_event'");
    expect(snapshotCommand('/t', '/d')).toContain("cat '/d/kprobes/list'");
    expect(parseSnapshot('@@mark a\nx\n\n@@mark b\n')).toEqual({ a: ['x'], b: [] });
  });
});
