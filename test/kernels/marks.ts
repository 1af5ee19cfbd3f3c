// The marks a probe could leave on a node (issue 20): what the kernel log and the trace state say,
// taken before and after a probe and compared. One shell command takes the snapshot, so it runs the
// same in a qemu guest (busybox, test/kernels/run.ts) and on this machine (test/kernel/probe.test.ts).
// Pure apart from the command text.

/** tracefs files whose content a probe must not change; `trace` is reduced to its entry counter. */
export const TRACE_FILES = [
  'set_event', // every enabled trace event
  'events/bpf_trace/bpf_trace_printk/enable', // switched on by a load that may call bpf_trace_printk
  'buffer_size_kb', // "7 (expanded: 1408)" until tracing first needs its full buffer
  'tracing_on',
  'current_tracer',
  'kprobe_events',
  'uprobe_events',
  'dynamic_events',
] as const;

const SECTION = '@@mark ';

/**
 * A POSIX sh command that prints the snapshot: the kernel log, then each tracefs file (reading
 * `trace` only for its header: `trace_pipe` would consume what it reads), then the kprobes the kernel
 * holds (debugfs; PMU kprobes and uprobes are not in kprobe_events). A file that does not exist
 * prints nothing under its heading.
 */
export function snapshotCommand(tracefs = '/sys/kernel/tracing', debugfs = '/sys/kernel/debug'): string {
  const files = TRACE_FILES.map((f) => `echo '${SECTION}${f}'; cat '${tracefs}/${f}' 2>/dev/null`);
  return [
    `echo '${SECTION}dmesg'; dmesg`,
    ...files,
    `echo '${SECTION}trace'; grep 'entries-in-buffer' '${tracefs}/trace' 2>/dev/null`,
    `echo '${SECTION}kprobes/list'; cat '${debugfs}/kprobes/list' 2>/dev/null`,
    'true',
  ].join('; ');
}

export type Snapshot = Record<string, string[]>;

export function parseSnapshot(text: string): Snapshot {
  const out: Snapshot = {};
  let section: string | undefined;
  for (const raw of text.split('\n')) {
    const line = raw.replace(/\r$/, '');
    if (line.startsWith(SECTION)) out[(section = line.slice(SECTION.length))] = [];
    else if (section !== undefined && line.trim()) out[section]!.push(line);
  }
  return out;
}

export interface MarkOptions {
  /**
   * Only kernel log lines that name this task (the "comm[pid]" the kernel prints) count, of those
   * that name one: on a shared machine other processes log too. Without it every task's do.
   */
  pid?: number;
}

const NAMES_A_TASK = /\[(\d+)\]/;
// A kernel log line that names no task counts only if it speaks of what a probe touches: the rest
// is the kernel's own housekeeping ("random: crng init done" in the guests, a link coming up).
const SPEAKS_OF_PROBES = /bpf|BPF|trace|kprobe|uprobe|xdp|XDP|verifier|JIT/;

/** What `after` has that `before` did not: new kernel log lines and changed trace state, one line each. */
export function newMarks(before: Snapshot, after: Snapshot, opts: MarkOptions = {}): string[] {
  const marks: string[] = [];
  const seen = new Set(before.dmesg ?? []);
  for (const line of after.dmesg ?? []) {
    if (seen.has(line)) continue;
    const task = NAMES_A_TASK.exec(line.replace(/^\[\s*[\d.]+\]\s*/, ''));
    if (task ? opts.pid !== undefined && Number(task[1]) !== opts.pid : !SPEAKS_OF_PROBES.test(line)) continue;
    marks.push(`kernel log: ${line}`);
  }
  for (const [section, lines] of Object.entries(after)) {
    if (section === 'dmesg') continue;
    const was = (before[section] ?? []).join('\n');
    const now = lines.join('\n');
    if (was !== now) marks.push(`${section}: ${JSON.stringify(was)} -> ${JSON.stringify(now)}`);
  }
  return marks;
}
