// Ground truth on the running kernel: for every fixture object, the verdict check() gives from the
// probe report must be what actually happens when the object is loaded (bpfready's loader, and
// bpftool/libbpf where Debian's libbpf 1.1 understands the object). Expectations come from the
// machine (its kernel config, the loads themselves), never from a per-host list.
import { execFileSync, spawnSync } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { release, tmpdir } from 'node:os';
import { join } from 'node:path';
import { beforeAll, describe, expect, it } from 'vitest';
import { loadVmlinuxBtf } from '../../src/kernel/btf.ts';
import { parseBpfObject, type BpfObject } from '../../src/kernel/elf-bpf.ts';
import { readKernelConfig } from '../../src/kernel/kconfig.ts';
import { liveFdCount } from '../../src/native/bpf.ts';
import type { ProbeResult, Status } from '../../src/contract/result.ts';
import type { ProbeReport } from '../../src/contract/report.ts';
import { check, checkObject, hostKernelOptions } from '../../src/requirements/check.ts';
import { worst } from '../../src/requirements/report-facts.ts';
import { objectRequirements, requirementsFromObject } from '../../src/requirements/from-elf.ts';
import { makeGplProbe, tracepointsPresent } from '../../src/requirements/kernel-view.ts';
import { loadObject } from '../../src/requirements/load.ts';
import type { Requirement, Verdict } from '../../src/requirements/model.ts';
import { rootOnly } from '../helpers/root.ts';
import { clangAvailable, compile, fixtures } from '../requirements/fixtures.ts';

const skip = rootOnly('test/kernel/requirements.test.ts (loads eBPF objects)') || !clangAvailable();
if (!clangAvailable()) console.warn('test/kernel/requirements.test.ts: SKIP: clang is not installed');

let report: ProbeReport;
const objects = new Map<string, BpfObject>();

beforeAll(async () => {
  if (skip) return;
  const { probe } = await import('../../src/collect/index.ts');
  report = await probe();
  if (!report.attach) {
    const { probeAttach } = await import('../../src/attach/index.ts');
    report.attach = await probeAttach();
  }
  // probe() composes the attach and kfuncs sections; should a build leave them out, fill them the way
  // their collectors do (attach probes; kfuncs = vmlinux BTF functions with the bpf_kfunc decl tag).
  if (!report.kfuncs)
    report.kfuncs = Object.fromEntries(
      loadVmlinuxBtf()
        .declTagged('bpf_kfunc')
        .map((k) => [k.name, { status: 'supported' }]),
    );
  for (const [name, path] of fixtures()) objects.set(name, parseBpfObject(readFileSync(path), path));
}, 120_000);

// Requirements about loading (what the loader exercises); attach features are checked separately.
const LOAD_FEATURES = new Set(['bpf-syscall', 'sleepable', 'global-data', 'xdp-frags']);
function isLoadRequirement(r: Requirement): boolean {
  return (
    r.kind === 'program-type' ||
    r.kind === 'map-type' ||
    r.kind === 'helper' ||
    r.kind === 'kfunc' ||
    r.kind === 'btf-type' ||
    r.kind === 'core' ||
    r.kind === 'license' ||
    (r.kind === 'feature' && LOAD_FEATURES.has(r.name))
  );
}
const opts = () => hostKernelOptions('/', { tracepoints: (n) => tracepointsPresent('/', n), gplOnly: makeGplProbe() });
const statusOf = (results: ProbeResult[]): Status => worst(results).status;

describe.skipIf(skip)('verdict = actual load, per object', () => {
  it.each(['net_xdp', 'net_tc', 'socket_legacy', 'cgroup', 'trace', 'btf_trace', 'lsm'])('%s', (name) => {
    const obj = objects.get(name)!;
    const fds = liveFdCount();
    const truth = loadObject(obj);
    expect(liveFdCount()).toBe(fds);
    const derived = objectRequirements(obj);
    // Per program: the worst status of its own load requirements and of its maps' types is what its load did.
    for (const p of obj.programs) {
      const own = derived.programs.find((x) => x.name === p.name)!.requirements.filter(isLoadRequirement);
      const maps: Requirement[] = p.maps.map((m) => ({ kind: 'map-type', mapType: obj.maps.find((x) => x.name === m)!.type }));
      const predicted = statusOf(check([...own, ...maps], report, opts()).results);
      expect({ program: p.name, status: predicted }).toEqual({ program: p.name, status: truth.programs[p.name]!.status });
    }
    const byId = new Map<string, Verdict>(check(derived.object, report, opts()).results.map((v) => [v.id, v]));
    for (const m of obj.maps)
      expect({ map: m.name, status: byId.get(`map-type:${m.type}`)!.status }).toEqual({ map: m.name, status: truth.maps[m.name]!.status });
  });

  it('EPERM on a tracing/LSM load is not-permitted (availability unknown), never unsupported', () => {
    for (const name of ['btf_trace', 'lsm']) {
      const obj = objects.get(name)!;
      const truth = loadObject(obj);
      const verdicts = check(requirementsFromObject(obj), report).results;
      for (const p of obj.programs.filter((x) => truth.programs[x.name]!.errno === 'EPERM')) {
        const v = verdicts.find((x) => x.id === `program-type:${p.progType}/${p.attachType}`)!;
        expect(v.status).toBe('not-permitted');
        expect(v.remediation.join(' ')).toMatch(/lockdown|cap_/);
      }
    }
  });

  it('kprobe programs load; attaching them needs CONFIG_KPROBES, and the verdict says so when it is unset', () => {
    const obj = objects.get('trace')!;
    expect(loadObject(obj).programs.kp_unlinkat!.status).toBe('supported');
    // do_unlinkat is a function of the kernel: the kprobe target's verdict is the kprobe attach's.
    const v = check(requirementsFromObject(obj), report, opts()).results.find((x) => x.id === 'kprobe-target:do_unlinkat')!;
    const cfg = readKernelConfig('/', release());
    const kprobes = cfg.ok ? cfg.config.values.get('CONFIG_KPROBES') : undefined;
    if (cfg.ok && kprobes === undefined) {
      expect(v.status).toBe('unsupported');
      expect(v.remediation.join(' ')).toContain('CONFIG_KPROBES=y');
    } else if (kprobes === 'y') {
      expect(v.status).toBe('supported');
    }
  });
});

// libbpf (through bpftool) as a second, independent loader. Debian's libbpf 1.1 predates tcx and
// rejects legacy `maps` sections (libbpf 1.0), so those objects are not compared.
function bpftoolLoad(path: string): 'supported' | 'not-permitted' | 'unknown-to-libbpf' | string {
  // A bpffs of its own in a private mount namespace, whatever the machine has mounted (this VM has
  // none at /sys/fs/bpf); no pin outlives the command.
  const dir = mkdtempSync(join(tmpdir(), 'bpfready-bpftool-'));
  try {
    execFileSync(
      'unshare',
      ['-m', '--propagation', 'private', 'sh', '-c', 'mount -t bpf bpf "$1" && exec bpftool prog loadall "$2" "$1/p"', 'sh', dir, path],
      { stdio: 'pipe' },
    );
    return 'supported';
  } catch (e) {
    const err = String((e as { stderr?: Buffer }).stderr ?? '');
    if (/failed to guess program type|legacy map definitions/.test(err)) return 'unknown-to-libbpf';
    if (/Operation not permitted/.test(err)) return 'not-permitted';
    return err.split('\n').find((l) => l.startsWith('libbpf:')) ?? err;
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}
const haveBpftool = spawnSync('bpftool', ['version'], { stdio: 'ignore' }).status === 0;
if (!skip && !haveBpftool) {
  const msg = 'test/kernel/requirements.test.ts: SKIP bpftool cross-check: no bpftool (scripts/test-setup.sh installs it)';
  console.warn(msg);
  if (process.env['CI']) throw new Error(`${msg} — CI=true needs it`);
}

describe.skipIf(skip || !haveBpftool)('verdict = bpftool prog loadall', () => {
  it.each(['net_xdp', 'cgroup', 'trace', 'btf_trace', 'lsm'])('%s', (name) => {
    const obj = objects.get(name)!;
    const got = bpftoolLoad(fixtures().get(name)!);
    const verdict = statusOf(check(requirementsFromObject(obj).filter(isLoadRequirement), report).results);
    expect(got).toBe(verdict);
  });
});

// The verifier as the judge of CO-RE and licenses: objects whose verdicts hinge on them, loaded here.
describe.skipIf(skip)('CO-RE and license verdicts = what the verifier does', () => {
  const HEAD = '#include <linux/bpf.h>\n#include <bpf/bpf_helpers.h>\n#include <bpf/bpf_core_read.h>\n';
  const build = (name: string, src: string): BpfObject => {
    const dir = mkdtempSync(join(tmpdir(), 'bpfready-verifier-'));
    try {
      writeFileSync(join(dir, `${name}.c`), HEAD + src);
      return parseBpfObject(readFileSync(compile(join(dir, `${name}.c`), dir)), `${name}.o`);
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  };
  const verdicts = (obj: BpfObject) => checkObject(objectRequirements(obj), [], report, opts());

  it('a field this kernel lacks: unmet, and the load is refused; guarded by bpf_core_field_exists: met, and it loads', () => {
    const obj = build(
      'core_gone',
      `
struct task_struct { int pid; int bpfready_gone; } __attribute__((preserve_access_index));
struct task_struct___g { int bpfready_gone; } __attribute__((preserve_access_index));
SEC("kprobe/do_unlinkat") int unguarded(void *ctx) {
  struct task_struct *t = (void *)bpf_get_current_task();
  return BPF_CORE_READ(t, bpfready_gone);
}
SEC("kprobe/do_unlinkat") int guarded(void *ctx) {
  struct task_struct___g *t = (void *)bpf_get_current_task();
  if (bpf_core_field_exists(t->bpfready_gone)) return BPF_CORE_READ(t, bpfready_gone);
  return BPF_CORE_READ((struct task_struct *)t, pid);
}
char L[] SEC("license") = "GPL";
`,
    );
    const truth = loadObject(obj);
    expect(truth.programs.unguarded).toMatchObject({
      status: 'unsupported',
      detail: expect.stringContaining('invalid func unknown#195896080'),
    });
    expect(truth.programs.guarded!.status).toBe('supported');
    const v = verdicts(obj);
    const prog = (n: string) => v.programs.find((p) => p.name === n)!;
    // Loading is what is compared here; attaching a kprobe is another question on this kernel.
    expect(prog('unguarded').unmet).toContain('core:field/task_struct.bpfready_gone');
    expect(prog('guarded').unmet.filter((id) => id.startsWith('core:'))).toEqual([]);
    expect(v.results.find((x) => x.id === 'core:field/task_struct___g.bpfready_gone')!.detail).toContain('not reached on this kernel');
  });

  it('a non-GPL object: bpf_trace_printk is GPL-only and the load is refused; bpf_ktime_get_ns is not; a kfunc call is refused', () => {
    const helpers = build(
      'license_helpers',
      `
SEC("kprobe/do_unlinkat") int printk(void *ctx) { bpf_printk("x"); return 0; }
SEC("kprobe/do_unlinkat") int ktime(void *ctx) { return bpf_ktime_get_ns() > 0; }
char L[] SEC("license") = "Proprietary";
`,
    );
    const truth = loadObject(helpers);
    expect(truth.programs.printk).toMatchObject({ status: 'unsupported', detail: expect.stringContaining('GPL') });
    expect(truth.programs.ktime!.status).toBe('supported');
    const probe = makeGplProbe();
    expect(probe('trace_printk', 'kprobe')).toMatchObject({ status: 'supported', value: true });
    expect(probe('ktime_get_ns', 'kprobe')).toMatchObject({ status: 'supported', value: false });
    const v = verdicts(helpers).results;
    expect(v.find((x) => x.id === 'license:helper/trace_printk')!.status).toBe('unsupported');
    expect(v.find((x) => x.id === 'license:helper/ktime_get_ns')!.status).toBe('supported');
    const kfunc = build(
      'license_kfunc',
      `
extern void bpf_rcu_read_lock(void) __ksym;
extern void bpf_rcu_read_unlock(void) __ksym;
SEC("tp_btf/sched_switch") int rcu(void *ctx) { bpf_rcu_read_lock(); bpf_rcu_read_unlock(); return 0; }
char L[] SEC("license") = "Proprietary";
`,
    );
    expect(loadObject(kfunc).programs.rcu).toMatchObject({ status: 'unsupported', detail: expect.stringContaining('GPL') });
    expect(verdicts(kfunc).programs[0]!.unmet).toContain('license:kfunc/bpf_rcu_read_lock');
  });

  it("an iter/task program calling bpf_seq_printf loads; check never calls it unsupported, and it is ready where the report has the iterator's row", () => {
    const obj = build(
      'iter_seq',
      `
struct seq_file;
struct bpf_iter_meta { struct seq_file *seq; } __attribute__((preserve_access_index));
struct bpf_iter__task { struct bpf_iter_meta *meta; void *task; } __attribute__((preserve_access_index));
SEC("iter/task") int dump(struct bpf_iter__task *ctx) {
  static const char fmt[] = "task\\n";
  bpf_seq_printf(ctx->meta->seq, fmt, sizeof(fmt), 0, 0);
  return 0;
}
char L[] SEC("license") = "GPL";
`,
    );
    expect(loadObject(obj).programs.dump!.status).toBe('supported');
    const id = 'helper:tracing/trace_iter/seq_printf';
    const v = checkObject(objectRequirements(obj), [], report, opts()).results.find((x) => x.id === id)!;
    expect(v.status).not.toBe('unsupported');
    const rows = {
      ...report.helpers,
      'tracing/trace_iter': { ...report.helpers['tracing'], bpf_seq_printf: { status: 'supported' as const } },
    };
    expect(checkObject(objectRequirements(obj), [], { ...report, helpers: rows }, opts()).results.find((x) => x.id === id)!.status).toBe(
      'supported',
    );
  });

  it('tracepoints are read from tracefs, mounted privately when the node has none mounted', () => {
    const got = tracepointsPresent('/', ['sched/sched_switch', 'bpfready/no_such_event']);
    expect(got).toEqual(new Set(['sched/sched_switch']));
  });
});
