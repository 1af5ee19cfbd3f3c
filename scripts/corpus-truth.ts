// Ground truth for the corpus (test/corpus/README.md), from the running kernel, for every object in a
// directory:
//   1. `bpftool -d prog loadall` of the object as it stands (libbpf; a private bpffs in a private mount
//      namespace, so no pin outlives the command), with libbpf's CO-RE decisions from its debug log;
//   2. each program on its own, loaded by bpfready's loader (maps created and sized as the tool sizes
//      them, CO-RE applied) and attached by the mechanism its section names, then detached;
//   3. the real tool, when it is installed (/usr/sbin/<name>), started in a private mount and network
//      namespace for a few seconds — once with the node's mounts as they are, once with a private
//      tracefs — then interrupted (SIGINT, then SIGKILL).
// Root only. Needs only the objects, bpftool (optional) and this repository, so a qemu guest can run it
// against another kernel:
//
//   node scripts/corpus-truth.ts [--objects test/corpus/libbpf-tools] [--out FILE] [--no-tools] [NAME...]
//
// The output is keyed by kernel release: test/corpus/truth/<release>.json by default.
import { execFileSync, spawn, spawnSync } from 'node:child_process';
import { createHash } from 'node:crypto';
import { existsSync, mkdirSync, mkdtempSync, readdirSync, readFileSync, readlinkSync, rmSync, writeFileSync } from 'node:fs';
import { release, tmpdir, version } from 'node:os';
import { basename, dirname, join, resolve } from 'node:path';
import { argv, exit, stderr } from 'node:process';
import { parseArgs } from 'node:util';
import { pmuRetprobeBit, pmuType, tracepointId } from '../src/attach/env.ts';
import { attachToPerfEvent, perfEventOpen, PERF_TYPE_TRACEPOINT } from '../src/attach/perf.ts';
import { classifySection } from '../src/kernel/elf-sections.ts';
import { parseBpfObject, type BpfObject, type BpfProgramSpec } from '../src/kernel/elf-bpf.ts';
import { linkCreate, rawTracepointOpen, type OwnedFd } from '../src/native/bpf.ts';
import { errnoName } from '../src/native/libc.ts';
import { ATTACH_TYPE_NAMES } from '../src/native/uapi-names.ts';
import { loadObject } from '../src/requirements/load.ts';
import type { ObjectTruth, Outcome, ProgramTruth, ToolRun, TruthFile } from '../test/corpus/corpus.ts';

const ROOT = resolve(dirname(new URL(import.meta.url).pathname), '..');

/**
 * How each tool is run, and what it sets at run time that the object leaves open: the arguments of
 * its documented usage (one list per mode), the targets it gives `dummy_*` sections, and why a tool
 * cannot show what its object does here (its environment, not BPF).
 */
const MULTIARCH = { x64: 'x86_64', arm64: 'aarch64' }[process.arch as 'x64' | 'arm64'] ?? process.arch;
const EXT4 = {
  dummy_file_read: 'ext4_file_read_iter',
  dummy_file_write: 'ext4_file_write_iter',
  dummy_file_open: 'ext4_file_open',
  dummy_file_sync: 'ext4_sync_file',
  dummy_getattr: 'ext4_file_getattr',
};
const TOOLS: Record<string, { modes?: string[][]; targets?: Record<string, string>; uprobes?: true; environment?: string }> = {
  fsdist: { modes: [['-t', 'ext4']], targets: EXT4 },
  fsslower: { modes: [['-t', 'ext4']], targets: EXT4 },
  // funclatency traces a kernel function (kprobe) or, with a library prefix, a user one (uprobe).
  funclatency: {
    modes: [['vfs_read'], [`/lib/${MULTIARCH}-linux-gnu/libc.so.6:getpid`]],
    targets: { dummy_kprobe: 'vfs_read', dummy_kretprobe: 'vfs_read' },
    uprobes: true,
  },
  // Its kprobe-type programs are attached as uprobes on libc's getaddrinfo and friends.
  gethostlatency: { uprobes: true },
  ksnoop: { modes: [['trace', 'vfs_read']], targets: { foo: 'vfs_read' } },
  // SEC("kprobe") without a target: the tool attaches these (by program name) itself.
  biotop: { targets: { blk_account_io_start: 'blk_account_io_start', blk_account_io_done: 'blk_account_io_done' } },
  cpufreq: { environment: 'reads /sys/devices/system/cpu/cpu0/cpufreq, which a VM without a cpufreq driver lacks' },
  llcstat: { environment: 'opens hardware cache-reference and cache-miss perf events, which a VM without a PMU lacks' },
  javagc: { modes: [['-p', '1']], environment: 'attaches to the USDT probes of a running Java VM (-p PID)' },
  // libbpf-tools' tracepoint_exists() looks only under debugfs: without it, statsnoop switches every
  // program off and keeps running, whatever tracefs at /sys/kernel/tracing offers.
  ...(existsSync('/sys/kernel/debug/tracing/events')
    ? {}
    : {
        statsnoop: {
          environment: 'looks for its syscall tracepoints under /sys/kernel/debug/tracing only (debugfs), which this node has not mounted',
        },
      }),
};

// ---------------------------------------------------------------------------------------------------

const outcome = (status: Outcome['status'], errno?: number | string, detail?: string): Outcome => ({
  status,
  ...(errno !== undefined ? { errno: typeof errno === 'number' ? errnoName(errno) : errno } : {}),
  ...(detail ? { detail } : {}),
});
const attachFailed = (errno: number, step: string): Outcome =>
  outcome(errno === 1 || errno === 13 ? 'not-permitted' : 'unsupported', errno, step);

function withProbeFile<T>(fn: (path: string) => T): T {
  const dir = mkdtempSync(join(tmpdir(), 'bpfready-corpus-uprobe-'));
  const path = join(dir, 'target');
  try {
    writeFileSync(path, new Uint8Array(64).fill(0x90)); // never executed: nobody maps this file
    return fn(path);
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}

function perfAttach(fd: number, type: number, config: bigint, target: string | undefined, step: string, offset?: bigint): Outcome {
  const pe = perfEventOpen({ type, config, ...(target !== undefined ? { target } : {}), ...(offset !== undefined ? { offset } : {}) });
  if (!pe.ok) return attachFailed(pe.errno, `perf_event_open(${step})`);
  try {
    const a = attachToPerfEvent(fd, pe.fd.fd);
    return a.ok ? outcome('supported', undefined, `${step} via ${a.method}`) : attachFailed(a.errno!, `${a.method} (${step})`);
  } finally {
    pe.fd.close();
  }
}

function kprobeAttach(fd: number, fn: string, ret: boolean): Outcome {
  const pmu = pmuType('/', 'kprobe');
  if (pmu === undefined)
    return outcome('unsupported', undefined, 'no kprobe PMU (/sys/bus/event_source/devices/kprobe): the kernel has no kprobes');
  const bit = ret ? pmuRetprobeBit('/', 'kprobe') : undefined;
  if (ret && bit === undefined) return outcome('unsupported', undefined, 'the kprobe PMU has no retprobe bit');
  return perfAttach(fd, pmu, ret ? 1n << BigInt(bit!) : 0n, fn, `${ret ? 'kretprobe' : 'kprobe'} ${fn}`);
}

function uprobeAttach(fd: number, ret: boolean): Outcome {
  const pmu = pmuType('/', 'uprobe');
  if (pmu === undefined) return outcome('unsupported', undefined, 'no uprobe PMU');
  const bit = ret ? pmuRetprobeBit('/', 'uprobe') : undefined;
  return withProbeFile((path) =>
    perfAttach(
      fd,
      pmu,
      ret && bit !== undefined ? 1n << BigInt(bit) : 0n,
      path,
      `${ret ? 'uretprobe' : 'uprobe'} on a file of our own`,
      0n,
    ),
  );
}

function linkAttach(r: { ok: true; fd: OwnedFd } | { ok: false; errno: number }, step: string): Outcome {
  if (!r.ok) return attachFailed(r.errno, step);
  r.fd.close();
  return outcome('supported', undefined, step);
}

/** Attach a loaded program the way libbpf auto-attaches its section; undefined: nothing to attach to. */
function attach(p: BpfProgramSpec, fd: number, target: string | undefined, uprobes: boolean): { attach?: Outcome; attachUprobe?: Outcome } {
  const pattern = classifySection(p.section)?.def.pattern ?? '';
  const t = target ?? p.target;
  switch (pattern) {
    case 'kprobe+':
    case 'kretprobe+': {
      const ret = pattern === 'kretprobe+';
      if (!t) return { attach: outcome('error', undefined, 'a kprobe without a target: the tool picks it at run time') };
      // Tools that attach their kprobe sections as uprobes too (the table says which): both ways.
      return uprobes ? { attach: kprobeAttach(fd, t, ret), attachUprobe: uprobeAttach(fd, ret) } : { attach: kprobeAttach(fd, t, ret) };
    }
    case 'uprobe+':
    case 'uprobe.s+':
    case 'usdt+':
    case 'usdt.s+':
      return { attach: uprobeAttach(fd, false) };
    case 'uretprobe+':
    case 'uretprobe.s+':
      return { attach: uprobeAttach(fd, true) };
    case 'tracepoint+':
    case 'tp+':
    case 'tracepoint.s+':
    case 'tp.s+': {
      const slash = t?.indexOf('/') ?? -1;
      if (!t || slash < 0) return { attach: outcome('error', undefined, 'no category/name after tracepoint/') };
      const id = tracepointId(t.slice(0, slash), t.slice(slash + 1));
      if (typeof id === 'string') return { attach: outcome('unsupported', undefined, id) };
      return { attach: perfAttach(fd, PERF_TYPE_TRACEPOINT, BigInt(id.value), undefined, `tracepoint ${t}`) };
    }
    case 'raw_tracepoint+':
    case 'raw_tp+':
    case 'raw_tracepoint.w+':
    case 'raw_tp.w+':
      return { attach: linkAttach(rawTracepointOpen(fd, t), `RAW_TRACEPOINT_OPEN(${t})`) };
    case 'iter+':
    case 'iter.s+':
      return {
        attach: linkAttach(
          linkCreate({ prog_fd: fd, target_fd: 0, attach_type: ATTACH_TYPE_NAMES.indexOf('trace_iter') }),
          'LINK_CREATE(trace_iter)',
        ),
      };
    case 'perf_event':
      // The tool picks the event; the program attaches to any (here the cpu-clock software event).
      return { attach: perfAttach(fd, 1, 0n, undefined, 'software cpu-clock perf event') };
    default:
      if (p.progType === 'tracing' || p.progType === 'lsm')
        return { attach: linkAttach(rawTracepointOpen(fd), `RAW_TRACEPOINT_OPEN (${p.section})`) };
      return {};
  }
}

function programs(obj: BpfObject, name: string): Record<string, ProgramTruth> {
  const table = TOOLS[name] ?? {};
  const out: Record<string, ProgramTruth> = {};
  for (const p of obj.programs) {
    const target = table.targets?.[p.target ?? p.name];
    let attached: ReturnType<typeof attach> = {};
    const r = loadObject(obj, {
      programs: [p.name],
      runtimeSizes: true,
      ...(target ? { targets: { [p.name]: target } } : {}),
      onLoaded: (_q, fd) => {
        try {
          attached = attach(p, fd.fd, target, table.uprobes === true);
        } finally {
          fd.close();
        }
      },
    });
    const load = r.programs[p.name]!;
    out[p.name] = { section: p.section, load: outcome(load.status, load.errno, load.detail), ...attached, ...(target ? { target } : {}) };
  }
  return out;
}

function bpftool(path: string): ObjectTruth['bpftool'] | undefined {
  if (spawnSync('bpftool', ['version'], { stdio: 'ignore' }).status !== 0) return undefined;
  const dir = mkdtempSync(join(tmpdir(), 'bpfready-corpus-bpffs-'));
  try {
    const r = spawnSync(
      'unshare',
      ['-m', '--propagation', 'private', 'sh', '-c', 'mount -t bpf bpf "$1" && exec bpftool -d prog loadall "$2" "$1/p"', 'sh', dir, path],
      { encoding: 'utf8', timeout: 60_000, maxBuffer: 64 << 20 },
    );
    const log = r.stderr.split('\n');
    const core: { fn: string; insn: number; value: string }[] = [];
    for (const line of log) {
      const m =
        /prog '([^']+)': relo #\d+: (?:patched insn #(\d+) \([^)]*\) (?:imm|off) -?\d+ -> (-?\d+)|substituting insn #(\d+) w\/ invalid insn)/.exec(
          line,
        );
      if (m) core.push({ fn: m[1]!, insn: Number(m[2] ?? m[4]), value: m[3] ?? 'poison' });
    }
    // The object's path is this machine's, not part of the answer: its file name stands for it.
    const error = log
      .filter((l) => /failed|error|Error|invalid|unknown/.test(l) && !/relo #|: found target candidate|matching candidate/.test(l))
      .slice(-6)
      .map((l) => l.trim().replaceAll(path, basename(path)));
    return { exit: r.status ?? -1, error, core };
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}

/** BPF program and link fds a process holds (/proc/PID/fdinfo). */
function bpfFds(pid: number): { programs: number; links: number } {
  let programs = 0;
  let links = 0;
  try {
    for (const fd of readdirSync(`/proc/${pid}/fdinfo`)) {
      try {
        const target = readlinkSync(`/proc/${pid}/fd/${fd}`);
        if (target === 'anon_inode:bpf-prog') programs++;
        else if (target === 'anon_inode:bpf_link') links++;
      } catch {
        // The fd closed meanwhile.
      }
    }
  } catch {
    // The process is gone.
  }
  return { programs, links };
}

const sleep = (ms: number): Promise<void> => new Promise((r) => setTimeout(r, ms));

async function runTool(tool: string, args: string[], mounts: 'node' | 'tracefs'): Promise<ToolRun> {
  const cmd =
    mounts === 'node'
      ? ['unshare', '-m', '-n', '--propagation', 'private', tool, ...args]
      : [
          'unshare',
          '-m',
          '-n',
          '--propagation',
          'private',
          'sh',
          '-c',
          'mount -t tracefs nodev /sys/kernel/tracing && exec "$@"',
          'sh',
          tool,
          ...args,
        ];
  const child = spawn(cmd[0]!, cmd.slice(1), { stdio: ['ignore', 'ignore', 'pipe'] });
  running = child;
  let err = '';
  child.stderr!.on('data', (d: Buffer) => {
    if (err.length < 64 << 10) err += d.toString('utf8');
  });
  let done: { code: number | null; signal: NodeJS.Signals | null } | undefined;
  const ended = new Promise<void>((res) =>
    child.on('exit', (code, signal) => {
      done = { code, signal };
      res();
    }),
  );
  // Tools load and attach in well under a second; 4 s is generous on a loaded 2-core machine.
  await Promise.race([ended, sleep(4000)]);
  const fds = done ? { programs: 0, links: 0 } : bpfFds(child.pid!);
  const alive = done === undefined;
  if (alive) {
    child.kill('SIGINT');
    await Promise.race([ended, sleep(3000)]);
    if (!done) {
      child.kill('SIGKILL');
      await ended;
    }
  }
  running = undefined;
  return {
    args,
    mounts,
    ran: alive && fds.programs > 0,
    exit: alive ? null : done!.code,
    ...(alive ? {} : { signal: done!.signal }),
    programs: fds.programs,
    links: fds.links,
    stderr: err
      .split('\n')
      .map((l) => l.trim())
      .filter(Boolean)
      .slice(-4),
  };
}

let running: ReturnType<typeof spawn> | undefined;
// Interrupted, the generator takes the tool it started with it.
for (const sig of ['SIGINT', 'SIGTERM'] as const) {
  process.on(sig, () => {
    running?.kill('SIGKILL');
    exit(130);
  });
}

async function main(): Promise<void> {
  const { values, positionals } = parseArgs({
    args: argv.slice(2),
    options: { objects: { type: 'string' }, out: { type: 'string' }, 'no-tools': { type: 'boolean' }, help: { type: 'boolean' } },
    allowPositionals: true,
  });
  if (values.help) {
    stderr.write('usage: corpus-truth.ts [--objects DIR] [--out FILE] [--no-tools] [NAME...]\n');
    return;
  }
  if (process.getuid?.() !== 0) {
    stderr.write('corpus-truth.ts: needs root (it loads and attaches eBPF programs)\n');
    exit(2);
  }
  const dir = resolve(values.objects ?? join(ROOT, 'test/corpus/libbpf-tools'));
  const out = resolve(values.out ?? join(ROOT, 'test/corpus/truth', `${release()}.json`));
  const names = readdirSync(dir)
    .filter((f) => f.endsWith('.bpf.o'))
    .map((f) => f.slice(0, -'.bpf.o'.length))
    .filter((n) => !positionals.length || positionals.includes(n))
    .sort();
  const tracefs = readFileSync('/proc/self/mountinfo', 'utf8')
    .split('\n')
    .some((l) => / - tracefs /.test(l) && / \/sys\/kernel\/tracing /.test(l));
  let bpftoolVersion: string | undefined;
  try {
    bpftoolVersion = execFileSync('bpftool', ['version'], { encoding: 'utf8' }).split('\n').slice(0, 2).join('; ');
  } catch {
    bpftoolVersion = undefined;
  }
  const truth: TruthFile = {
    kernel: { release: release(), version: version() },
    generatedAt: new Date().toISOString(),
    generator: 'scripts/corpus-truth.ts',
    ...(bpftoolVersion ? { bpftool: bpftoolVersion } : {}),
    node: { tracefs },
    objects: {},
  };
  // Regenerating a subset keeps the other objects' entries.
  if (positionals.length && existsSync(out)) truth.objects = (JSON.parse(readFileSync(out, 'utf8')) as TruthFile).objects;
  for (const name of names) {
    const path = join(dir, `${name}.bpf.o`);
    const bytes = readFileSync(path);
    const obj = parseBpfObject(bytes, path);
    const entry: ObjectTruth = { sha256: createHash('sha256').update(bytes).digest('hex'), programs: programs(obj, name) };
    const bt = bpftool(path);
    if (bt) entry.bpftool = bt;
    const tool = `/usr/sbin/${name}`;
    const table = TOOLS[name];
    if (!values['no-tools'] && existsSync(tool)) {
      const runs: ToolRun[] = [];
      for (const args of table?.modes ?? [[]])
        for (const mounts of ['node', 'tracefs'] as const) runs.push(await runTool(tool, args, mounts));
      entry.tool = { runs, ...(table?.environment ? { environment: table.environment } : {}) };
    }
    truth.objects[name] = entry;
    const progs = Object.values(entry.programs);
    stderr.write(
      `${name}: ${progs.filter((p) => p.load.status === 'supported').length}/${progs.length} load; bpftool ${bt?.exit ?? '-'}; tool ${entry.tool ? entry.tool.runs.map((r) => `${r.mounts}:${r.ran ? 'ran' : r.exit}`).join(' ') : '-'}\n`,
    );
  }
  mkdirSync(dirname(out), { recursive: true });
  // One object per line group, sorted: a changed answer shows as a small diff.
  const sorted = { ...truth, objects: Object.fromEntries(Object.entries(truth.objects).sort(([a], [b]) => (a < b ? -1 : 1))) };
  writeFileSync(out, `${JSON.stringify(sorted, null, 1)}\n`);
  stderr.write(`wrote ${out}\n`);
}

await main();
