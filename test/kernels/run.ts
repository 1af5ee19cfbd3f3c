// `npm run test:kernels`: boot each Debian 6.1 flavour under qemu, run `bpfready probe --json` and
// `bpftool feature probe` inside, and check what the kernel said (docs/kernels.md).
//
//   node test/kernels/run.ts [--flavours cloud-amd64,amd64,rt-amd64] [--jobs 2] [--update] [--timeout 300]
//                            [--step NAME=COMMAND ...]
//
// --step runs one more command in each guest (in /bpfready, after the others), for diagnosis; its
// output lands in test/kernels/.cache/runs/<release>/NAME.stdout and .stderr.
// --update rewrites test/kernels/fixtures/<release>.json from this run; without it a status that
// differs from the committed fixture is a failure. The last line is "N passed, N failed" (checks).
import { existsSync, mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { parseArgs } from 'node:util';
import {
  checkKernel,
  checkUnprivileged,
  encodeSubset,
  facts,
  formatFixture,
  type BpftoolFeatures,
  type Check,
  type KernelRun,
} from './expect.ts';
import { parseSnapshot, snapshotCommand } from './marks.ts';
import { buildInitramfs, type GuestStep } from './guest.ts';
import { fetchKernel, FLAVOURS, type KernelImage } from './kernels.ts';
import { boot, type BootResult } from './qemu.ts';
import type { RawHelpers } from './record-raw.ts';

const here = dirname(fileURLToPath(import.meta.url));
const project = resolve(here, '../..');
const cache = join(here, '.cache');
const fixtures = join(here, 'fixtures');

const USER_ID = 1000;

// The least-privilege sets of issue 15, each a superset of the one before: `probe --tables-only`
// under exactly these capabilities (native-shim, docs/native-shim.md), as root otherwise.
const SUBSETS: readonly [name: string, keep: string][] = [
  ['caps-bpf', 'cap_bpf'],
  ['caps-net-admin', 'cap_bpf,cap_net_admin'],
  ['caps-perfmon', 'cap_bpf,cap_net_admin,cap_perfmon'],
  ['caps-sys-admin', 'cap_bpf,cap_net_admin,cap_perfmon,cap_sys_admin'],
];

// The kernel log and trace state (marks.ts), read around the default probe and again after
// bpftool's "full" probe, which leaves marks: the control that the comparison can see them.
const SNAPSHOT = snapshotCommand();

const STEPS: GuestStep[] = [
  { name: 'uname', command: 'uname -r' },
  { name: 'marks-before', command: SNAPSHOT },
  { name: 'probe', command: './bin/bpfready probe --json' },
  { name: 'marks-after', command: SNAPSHOT },
  // "full": bpftool then probes bpf_trace_printk and bpf_probe_write_user too, leaving their marks.
  { name: 'bpftool', command: 'bpftool feature probe full -j' },
  { name: 'marks-bpftool', command: SNAPSHOT },
  { name: 'raw', command: 'node_modules/node/bin/node --disable-warning=ExperimentalWarning test/kernels/record-raw.ts' },
  ...SUBSETS.map(
    ([name, keep]): GuestStep => ({
      name,
      command: `native-shim/build/bpfready-shim caps --keep ${keep} -- ./bin/bpfready probe --json --tables-only`,
    }),
  ),
  // The same probe as a user without capabilities: under Debian's default
  // kernel.unprivileged_bpf_disabled=2, then with 0, where socket filters load without any.
  { name: 'user', command: `/usr/bin/setpriv --reuid ${USER_ID} --regid ${USER_ID} --clear-groups ./bin/bpfready probe --json` },
  {
    name: 'user-unpriv-bpf',
    command: `sysctl -w kernel.unprivileged_bpf_disabled=0 >/dev/null && /usr/bin/setpriv --reuid ${USER_ID} --regid ${USER_ID} --clear-groups ./bin/bpfready probe --json`,
  },
];

interface Outcome {
  kernel: KernelImage;
  boot?: BootResult;
  checks: Check[];
  /** Set when the guest run could not be checked at all. */
  fatal?: string;
}

function stepJson(b: BootResult, name: string): unknown {
  const s = b.steps[name];
  if (!s) throw new Error(`step "${name}" left no output: the guest did not get that far`);
  if (s.rc !== 0) {
    // Stack frames say where, the lines before them say what: keep the what.
    const what = s.stderr.split('\n').filter((l) => l.trim() && !/^\s+at /.test(l));
    throw new Error(`step "${name}" exited ${s.rc}: ${what.slice(-8).join('\n')}`);
  }
  try {
    return JSON.parse(s.stdout);
  } catch (err) {
    throw new Error(`step "${name}" printed no JSON (${(err as Error).message}): ${s.stdout.slice(0, 200)}`);
  }
}

/** Statuses that moved since the committed fixture: a regression unless --update accepts them. */
function compareToFixture(run: KernelRun, file: string): Check {
  const old = JSON.parse(readFileSync(file, 'utf8')) as KernelRun;
  const flatten = (r: KernelRun) =>
    new Map(
      Object.keys(r.probe)
        .filter((s) => s !== 'config')
        .flatMap((s) => facts(r.probe[s], s)),
    );
  const before = flatten(old);
  const after = flatten(run);
  const problems: string[] = [];
  let added = 0;
  let removed = 0;
  for (const [path, r] of after) {
    const was = before.get(path);
    if (!was) added++;
    else if (was.status !== r.status)
      problems.push(`${path}: ${was.status} in the fixture, now ${r.status} ${r.errno ?? ''} ${r.detail ?? ''}`.trim());
  }
  for (const path of before.keys()) if (!after.has(path)) removed++;
  const info = [`${after.size} results compared with ${file.slice(project.length + 1)}`];
  if (added || removed) info.push(`${added} new and ${removed} vanished key(s) (accept with --update)`);
  if (problems.length) problems.push('if the new statuses are right, accept them with: npm run test:kernels -- --update');
  return { name: 'same statuses as the committed fixture', ok: problems.length === 0, lines: [...problems, ...info] };
}

async function runKernel(kernel: KernelImage, initramfs: string, timeoutMs: number, update: boolean): Promise<Outcome> {
  const dir = join(cache, 'runs', kernel.release);
  mkdirSync(dir, { recursive: true });
  const consoleLog = join(dir, 'console.log');
  const b = await boot({ vmlinuz: kernel.vmlinuz, initramfs, consoleLog, dataLog: join(dir, 'data.log'), memoryMiB: 2048, timeoutMs });
  for (const [name, s] of Object.entries(b.steps)) {
    writeFileSync(join(dir, `${name}.stdout`), s.stdout);
    writeFileSync(join(dir, `${name}.stderr`), s.stderr);
  }
  const fail = (why: string): Outcome => {
    const tail = existsSync(consoleLog)
      ? readFileSync(consoleLog, 'utf8').replace(/\r/g, '').trim().split('\n').slice(-15).join('\n')
      : '(no console output)';
    return {
      kernel,
      boot: b,
      checks: [],
      fatal: `${why}${b.timedOut ? ` (timed out after ${timeoutMs / 1000} s)` : ''}\nguest console:\n${tail}`,
    };
  };
  let run: KernelRun;
  let probe: Record<string, unknown>;
  try {
    const release = b.steps.uname?.stdout.trim();
    if (release !== kernel.release) return fail(`the guest reports release ${JSON.stringify(release)}, booted ${kernel.release}`);
    probe = stepJson(b, 'probe') as Record<string, unknown>;
    const bpftool = stepJson(b, 'bpftool') as BpftoolFeatures;
    const raw = stepJson(b, 'raw') as RawHelpers;
    const snap = (name: string) => {
      const s = b.steps[name];
      if (!s || s.rc !== 0) throw new Error(`step "${name}" ${s ? `exited ${s.rc}: ${s.stderr.trim().slice(-300)}` : 'left no output'}`);
      return parseSnapshot(s.stdout);
    };
    const marks = { before: snap('marks-before'), after: snap('marks-after'), bpftool: snap('marks-bpftool') };
    // The fixture keeps only the kernel log lines the later snapshots add: the boot's are in `before`.
    const boot = new Set(marks.before.dmesg ?? []);
    for (const s of [marks.after, marks.bpftool]) s.dmesg = (s.dmesg ?? []).filter((l) => !boot.has(l));
    const subsets = Object.fromEntries(
      SUBSETS.map(([name, keep]) => [name, encodeSubset(keep, probe, stepJson(b, name) as Record<string, unknown>)]),
    );
    run = { release, flavour: kernel.flavour, pkg: kernel.pkg, version: kernel.version, probe, bpftool, raw, marks, subsets };
  } catch (err) {
    return fail((err as Error).message);
  }
  const checks = checkKernel(run);
  for (const [step, label] of [
    ['user', 'unprivileged probe (unprivileged_bpf_disabled=2)'],
    ['user-unpriv-bpf', 'unprivileged probe (unprivileged_bpf_disabled=0)'],
  ] as const) {
    try {
      checks.push(checkUnprivileged(label, probe, stepJson(b, step) as Record<string, unknown>, USER_ID));
    } catch (err) {
      checks.push({ name: `${label}: never contradicts root`, ok: false, lines: [(err as Error).message] });
    }
  }
  const fixture = join(fixtures, `${kernel.release}.json`);
  if (existsSync(fixture) && !update) checks.push(compareToFixture(run, fixture));
  else writeFileSync(fixture, formatFixture(run));
  return { kernel, boot: b, checks };
}

function print(o: Outcome): void {
  const b = o.boot;
  const times = b
    ? Object.entries(b.steps)
        .map(([n, s]) => `${n} ${s.seconds} s`)
        .join(', ')
    : '';
  console.log(
    `\n== kernel ${o.kernel.release} (${o.kernel.pkg} ${o.kernel.version})${b ? `: qemu ${(b.wallMs / 1000).toFixed(1)} s; in guest ${times}` : ''}`,
  );
  if (o.fatal) console.log(`  FAIL guest run\n${o.fatal.replace(/^/gm, '       ')}`);
  for (const c of o.checks) {
    console.log(`  ${c.ok ? 'ok  ' : 'FAIL'} ${c.name}`);
    // A passing check shows what it looked at; a failing one shows (nearly) everything that differed.
    const max = c.ok ? 6 : 40;
    for (const l of c.lines.slice(0, max)) console.log(`       ${l}`);
    if (c.lines.length > max) console.log(`       … ${c.lines.length - max} more`);
  }
}

async function pool<T, R>(items: T[], jobs: number, fn: (item: T) => Promise<R>): Promise<R[]> {
  const out: R[] = new Array(items.length);
  let next = 0;
  const worker = async () => {
    while (next < items.length) {
      const i = next++;
      out[i] = await fn(items[i]!);
    }
  };
  await Promise.all(Array.from({ length: Math.min(jobs, items.length) }, worker));
  return out;
}

async function main(): Promise<number> {
  let values;
  try {
    ({ values } = parseArgs({
      options: {
        flavours: { type: 'string', default: FLAVOURS.join(',') },
        jobs: { type: 'string', default: '2' },
        update: { type: 'boolean', default: false },
        timeout: { type: 'string', default: '300' },
        step: { type: 'string', multiple: true, default: [] },
      },
    }));
  } catch (err) {
    console.error(`test:kernels: ${(err as Error).message}`);
    return 2;
  }
  const extra = values.step.map((s) => ({ name: s.slice(0, s.indexOf('=')), command: s.slice(s.indexOf('=') + 1) }));
  const flavours = values.flavours.split(',').filter(Boolean);
  const unknown = flavours.filter((f) => !(FLAVOURS as readonly string[]).includes(f));
  const jobs = Number(values.jobs);
  const timeoutMs = Number(values.timeout) * 1000;
  const badStep = extra.find((s) => !/^[a-z][a-z0-9_-]*$/.test(s.name) || STEPS.some((x) => x.name === s.name) || !s.command);
  if (unknown.length || !(jobs >= 1) || !(timeoutMs > 0) || badStep) {
    console.error(
      `test:kernels: bad arguments: flavours must be among ${FLAVOURS.join(', ')}; --jobs and --timeout positive numbers; ` +
        `--step NAME=COMMAND with a new lowercase NAME${badStep ? ` (got ${JSON.stringify(`${badStep.name}=${badStep.command}`)})` : ''}`,
    );
    return 2;
  }
  const start = Date.now();
  mkdirSync(fixtures, { recursive: true });
  const kernels: KernelImage[] = [];
  let failed = 0;
  for (const f of flavours) {
    try {
      kernels.push(fetchKernel(cache, f));
    } catch (err) {
      console.log(`  FAIL fetching the ${f} kernel: ${(err as Error).message}`);
      failed++;
    }
  }
  const initramfs = join(cache, 'initramfs.cpio');
  try {
    buildInitramfs(project, initramfs, [...STEPS, ...extra], Object.fromEntries(kernels.map((k) => [k.release, k.config])));
  } catch (err) {
    console.log(`  FAIL building the initramfs: ${(err as Error).message}`);
    console.log(`0 passed, ${failed + 1} failed`);
    return 1;
  }
  console.log(
    `test:kernels: ${kernels.map((k) => k.release).join(', ')}; initramfs ready after ${((Date.now() - start) / 1000).toFixed(1)} s`,
  );
  const outcomes = await pool(kernels, jobs, (k) =>
    runKernel(k, initramfs, timeoutMs, values.update).catch(
      (err: unknown): Outcome => ({ kernel: k, checks: [], fatal: (err as Error).message }),
    ),
  );
  let passed = 0;
  for (const o of outcomes) {
    print(o);
    if (o.fatal) failed++;
    for (const c of o.checks) c.ok ? passed++ : failed++;
  }
  console.log(`\ntest:kernels: ${((Date.now() - start) / 1000).toFixed(1)} s for ${kernels.length} kernel(s)`);
  console.log(`${passed} passed, ${failed} failed`);
  return failed ? 1 : 0;
}

process.exitCode = await main();
