// CO-RE candidate matching, existence guards, maps clang 14 lays out with DATASEC offsets 0, run-time
// targets and alternatives, from objects clang compiles here. The "kernel" BTF for the pure tests is
// the BTF of another object clang compiles (types as a kernel would declare them), so the matching
// rules are tested without root; kernel.test.ts and corpus.test.ts hold them to real loads.
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { beforeAll, describe, expect, it } from 'vitest';
import { Btf } from '../../src/kernel/btf.ts';
import { parseBpfObject, type BpfObject } from '../../src/kernel/elf-bpf.ts';
import { ObjectBtf } from '../../src/kernel/elf-btf.ts';
import { resolveCore, coreSpecName, type CoreKind } from '../../src/kernel/elf-core.ts';
import { parseElf } from '../../src/kernel/elf.ts';
import type { ProbeReport } from '../../src/contract/report.ts';
import { checkObject, type CheckOptions } from '../../src/requirements/check.ts';
import { objectRequirements, requirementsFromObject } from '../../src/requirements/from-elf.ts';
import { requirementId, type Requirement } from '../../src/requirements/model.ts';
import { clangAvailable, compile } from './fixtures.ts';

const haveClang = clangAvailable();
if (!haveClang) {
  const msg = 'test/requirements/core-alternatives.test.ts: SKIP: clang is not installed';
  console.warn(msg);
  if (process.env['CI']) throw new Error(`${msg} — but CI=true, and CI installs clang`);
}

const HEAD = `#include <linux/bpf.h>
#include <bpf/bpf_helpers.h>
#include <bpf/bpf_core_read.h>
`;

function build(name: string, src: string): { obj: BpfObject; bytes: Uint8Array } {
  const dir = mkdtempSync(join(tmpdir(), 'bpfready-core-'));
  try {
    writeFileSync(join(dir, `${name}.c`), src);
    const bytes = readFileSync(compile(join(dir, `${name}.c`), dir));
    return { obj: parseBpfObject(bytes, `${name}.o`), bytes };
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}

/** A stand-in kernel: types as a kernel declares them, in the BTF clang writes for this object. */
const KERNEL = `${HEAD}
struct sched_entity { unsigned long load; struct cfs_rq *cfs_rq; };
struct cfs_rq { unsigned int nr_queued; unsigned int h_nr_queued; };
struct task_struct { int pid; unsigned int __state; struct sched_entity se; union { int anon_a; long anon_b; }; unsigned int flags:7, bits:9; };
enum bpf_func_id_k { BPF_FUNC_unspec_k = 0, BPF_FUNC_known = 7 };
struct dup { int x; };
struct all_types { struct task_struct t; struct cfs_rq c; enum bpf_func_id_k e; struct dup d; };
SEC("socket") int keep(struct all_types *a) { return a ? 0 : 1; }
char L[] SEC("license") = "GPL";
`;

// The consumer: CO-RE reads of fields the stand-in kernel has and lacks, guarded and not.
const CONSUMER = `${HEAD}
struct cfs_rq { unsigned int nr_running; } __attribute__((preserve_access_index));
struct cfs_rq___new { unsigned int nr_queued; } __attribute__((preserve_access_index));
struct sched_entity { struct cfs_rq *cfs_rq; } __attribute__((preserve_access_index));
struct task_struct { int pid; struct sched_entity se; long anon_b; unsigned int bits:9; } __attribute__((preserve_access_index));
struct task_struct___old { long state; } __attribute__((preserve_access_index));
struct task_struct___new { unsigned int __state; } __attribute__((preserve_access_index));
enum bpf_func_id_k { BPF_FUNC_known = 1, BPF_FUNC_gone = 2 };

SEC("socket") int guarded(struct __sk_buff *skb) {
  struct task_struct *t = (void *)(long)skb->data;
  if (bpf_core_field_exists(((struct task_struct___new *)t)->__state))
    return BPF_CORE_READ((struct task_struct___new *)t, __state);
  return BPF_CORE_READ((struct task_struct___old *)t, state);
}
SEC("socket") int unguarded(struct __sk_buff *skb) {
  struct task_struct *t = (void *)(long)skb->data;
  return BPF_CORE_READ(t, se.cfs_rq, nr_running);
}
SEC("socket") int flavour(struct __sk_buff *skb) {
  struct cfs_rq___new *c = (void *)(long)skb->data;
  return BPF_CORE_READ(c, nr_queued) + BPF_CORE_READ((struct task_struct *)c, anon_b) + BPF_CORE_READ_BITFIELD_PROBED((struct task_struct *)c, bits);
}
SEC("socket") int enums(struct __sk_buff *skb) {
  if (bpf_core_enum_value_exists(enum bpf_func_id_k, BPF_FUNC_gone)) return bpf_core_enum_value(enum bpf_func_id_k, BPF_FUNC_gone);
  return bpf_core_enum_value(enum bpf_func_id_k, BPF_FUNC_known);
}
char L[] SEC("license") = "GPL";
`;

describe.skipIf(!haveClang)('CO-RE against a kernel BTF', () => {
  let kernel: Btf;
  let consumer: BpfObject;
  beforeAll(() => {
    const k = build('kernel', KERNEL);
    const elf = parseElf(k.bytes, 'kernel.o');
    kernel = new ObjectBtf(elf.sections.find((s) => s.name === '.BTF')!.data, 'kernel .BTF').btf;
    consumer = build('consumer', CONSUMER).obj;
  });
  const relos = (prog: string) => consumer.programs.find((p) => p.name === prog)!.core;
  const resolved = (prog: string) =>
    relos(prog).map((r) => {
      const res = resolveCore(r.kind, r.spec, kernel);
      return [r.kind, coreSpecName(r.spec), res.ok ? Number(res.value) : res.reason];
    });

  it("matches by the name without ___flavour, through anonymous members, and reads bitfields the kernel's way", () => {
    // nr_queued sits at 0 in the kernel's cfs_rq; anon_b in the anonymous union after se (8 + 16);
    // bits (9 bits at bit 263) is read as the 4-byte word at 32, shifted left 48 and right 55.
    expect(resolved('flavour')).toEqual([
      ['field_byte_offset', 'cfs_rq___new.nr_queued', 0],
      ['field_byte_offset', 'task_struct.anon_b', 24],
      ['field_byte_offset', 'task_struct.bits', 32],
      ['field_byte_size', 'task_struct.bits', 4],
      ['field_lshift_u64', 'task_struct.bits', 48],
      ['field_signed', 'task_struct.bits', 0],
      ['field_rshift_u64', 'task_struct.bits', 55],
      ['field_rshift_u64', 'task_struct.bits', 55],
    ]);
  });

  it('a field the kernel lacks does not resolve, and is named', () => {
    // t->se.cfs_rq is one access (se at 8, cfs_rq at 8 in it); nr_running the next.
    expect(resolved('unguarded')).toEqual([
      ['field_byte_offset', 'task_struct.se.cfs_rq', 16],
      ['field_byte_offset', 'cfs_rq.nr_running', 'no-match'],
    ]);
    const r = resolveCore('field_byte_offset', relos('unguarded')[1]!.spec, kernel);
    expect(!r.ok && r.detail).toBe(
      "struct cfs_rq is in the kernel's BTF, but the path nr_running does not resolve (a member is missing, renamed or of another kind)",
    );
  });

  it('existence relocations resolve to 0 or 1, never fail; enum values by name', () => {
    expect(resolved('enums')).toEqual([
      ['enumval_exists', 'bpf_func_id_k::BPF_FUNC_gone', 0],
      ['enumval_value', 'bpf_func_id_k::BPF_FUNC_gone', 'no-match'],
      ['enumval_value', 'bpf_func_id_k::BPF_FUNC_known', 7],
    ]);
  });

  it('an access guarded by an existence check is required only when the check lets the program reach it', () => {
    const reqs = (prog: string): Requirement[] =>
      objectRequirements(consumer)
        .programs.find((p) => p.name === prog)!
        .requirements.filter((r) => r.kind === 'core');
    const guarded = reqs('guarded');
    expect(
      guarded.map((r) => [
        requirementId(r),
        r.kind === 'core' ? r.when?.map((c) => c.map((g) => `${g.kind}(${coreSpecName(g.spec)})=${g.is}`)) : undefined,
      ]),
    ).toEqual([
      ['core:field/task_struct___new.__state', [['field_exists(task_struct___new.__state)=1']]],
      ['core:field/task_struct___old.state', [['field_exists(task_struct___new.__state)=0']]],
    ]);
    const enumReqs = reqs('enums');
    expect(enumReqs.map(requirementId)).toEqual([
      'core:enumval/bpf_func_id_k::BPF_FUNC_gone',
      'core:enumval/bpf_func_id_k::BPF_FUNC_known',
    ]);
    const opts: CheckOptions = { kernel: { coreBtf: () => ({ vmlinux: kernel, modules: [] }) } };
    const derived = objectRequirements(consumer);
    const result = checkObject(derived, [], report(), opts);
    const byProg = Object.fromEntries(result.programs.map((p) => [p.name, [p.status, p.unmet]]));
    expect(byProg).toMatchObject({
      guarded: ['supported', []],
      flavour: ['supported', []],
      enums: ['supported', []],
      unguarded: ['unsupported', ['core:field/cfs_rq.nr_running']],
    });
    const v = result.results.find((x) => x.id === 'core:field/task_struct___old.state')!;
    expect(v).toMatchObject({
      status: 'supported',
      detail: expect.stringContaining('not reached on this kernel: the access runs only when field_exists(task_struct___new.__state) is 0'),
    });
  });

  it('a type without candidates, and candidates that disagree, are refusals', () => {
    const spec = {
      class: 'type' as const,
      rootKind: 'struct',
      root: 'no_such___x',
      steps: [],
      shape: { k: 'struct' as const, name: 'no_such___x' },
    };
    expect(resolveCore('type_size', spec, kernel)).toMatchObject({ ok: false, reason: 'no-candidate' });
    expect(resolveCore('type_exists' as CoreKind, spec, kernel)).toMatchObject({ ok: true, value: 0n });
  });
});

function report(extra: Partial<ProbeReport> = {}): ProbeReport {
  return {
    schemaVersion: 1,
    generatedAt: '',
    durationMs: 0,
    kernel: { release: '6.18.0', version: '', machine: 'x86_64' },
    context: { euid: 0, effective: ['cap_bpf', 'cap_perfmon', 'cap_sys_admin'] },
    programTypes: {
      socket_filter: { status: 'supported' },
      kprobe: { status: 'supported' },
      tracing: { status: 'not-permitted', errno: 'EPERM' },
    },
    mapTypes: { hash: { status: 'supported' }, array: { status: 'supported' } },
    helpers: {
      socket_filter: { bpf_probe_read_kernel: { status: 'supported' } },
      kprobe: { bpf_ktime_get_ns: { status: 'supported' }, bpf_map_lookup_elem: { status: 'supported' } },
      tracing: { bpf_ktime_get_ns: { status: 'not-permitted', errno: 'EPERM' } },
    },
    attachTypes: {
      trace_fentry: { status: 'not-permitted', errno: 'EPERM' },
      'tracing/trace_fentry': { status: 'not-permitted', errno: 'EPERM' },
      trace_fexit: { status: 'not-permitted', errno: 'EPERM' },
    },
    misc: { global_data: { status: 'supported' } },
    attach: { kprobe: { status: 'supported' }, uprobe: { status: 'supported' }, fentry: { status: 'not-permitted', errno: 'EPERM' } },
    btf: { vmlinux: { status: 'supported' } },
    ...extra,
  };
}

const TWO_MAPS = `${HEAD}
struct { __uint(type, BPF_MAP_TYPE_HASH); __uint(max_entries, 16); __type(key, __u32); __type(value, __u64); } first SEC(".maps");
struct { __uint(type, BPF_MAP_TYPE_HASH); __uint(max_entries, 32); __type(key, __u64); __type(value, __u32); } second SEC(".maps");
SEC("xdp") int two(struct xdp_md *ctx) {
  __u32 k = 0; __u64 k2 = 0;
  return bpf_map_lookup_elem(&first, &k) && bpf_map_lookup_elem(&second, &k2);
}
char L[] SEC("license") = "GPL";
`;

describe.skipIf(!haveClang)('maps as libbpf finds them', () => {
  it('two BTF maps: clang writes every DATASEC offset as 0; each map is found by its symbol', () => {
    const { obj, bytes } = build('two_maps', TWO_MAPS);
    const elf = parseElf(bytes, 'two_maps.o');
    const vars = new ObjectBtf(elf.sections.find((s) => s.name === '.BTF')!.data, 'x').datasec('.maps')!;
    // What Debian 12's clang 14 writes (libbpf fixes the offsets up from the symbol table).
    if (vars.every((v) => v.offset === 0)) expect(vars).toHaveLength(2);
    expect(obj.maps.map((m) => [m.name, m.keySize, m.valueSize, m.maxEntries])).toEqual([
      ['first', 4, 8, 16],
      ['second', 8, 4, 32],
    ]);
    expect(obj.programs[0]!.relocs.filter((r) => r.kind === 'map').map((r) => r.target)).toEqual(['first', 'second']);
  });
});

const ALTERNATIVES = `${HEAD}
SEC("fentry/do_unlinkat") int fe(void *ctx) { return 0; }
SEC("fexit/do_unlinkat") int fx(void *ctx) { return 0; }
SEC("kprobe/do_unlinkat") int kp(void *ctx) { return bpf_ktime_get_ns() > 0; }
SEC("kretprobe/do_unlinkat") int krp(void *ctx) { return 0; }
SEC("kprobe/vfs_read") int alone(void *ctx) { return 0; }
SEC("fentry/dummy_file_read") int ph_fentry(void *ctx) { return 0; }
SEC("kprobe/dummy_file_read") int ph_kprobe(void *ctx) { return 0; }
SEC("kprobe/handle_entry") int label(void *ctx) { return 0; }
SEC("freplace/target_func") int ext(void *ctx) { return 0; }
char L[] SEC("license") = "GPL";
`;

describe.skipIf(!haveClang)('alternatives and run-time targets', () => {
  let obj: BpfObject;
  beforeAll(() => {
    obj = build('alternatives', ALTERNATIVES).obj;
  });
  const functions = new Set(['do_unlinkat', 'vfs_read']);
  const opts: CheckOptions = { kernel: { functions: () => functions } };

  it('one function hooked by fentry/fexit and by kprobe/kretprobe is one any-of group; dummy_* targets are chosen at run time', () => {
    const r = objectRequirements(obj);
    expect(r.groups).toEqual([
      {
        id: 'function:do_unlinkat',
        alternatives: [
          ['fe', 'fx'],
          ['kp', 'krp'],
        ],
      },
      { id: 'function:dummy_file_read', alternatives: [['ph_fentry'], ['ph_kprobe']] },
    ]);
    const of = (n: string) => r.programs.find((p) => p.name === n)!.requirements.map(requirementId);
    expect(of('ph_fentry')).not.toContain('btf-type:func/dummy_file_read');
    expect(of('ph_fentry')).toContain('program-type:tracing/trace_fentry');
    // freplace replaces a function of a BPF program given at load time: no kernel BTF type.
    expect(of('ext').filter((id) => id.startsWith('btf-type'))).toEqual([]);
    expect(obj.programs.find((p) => p.name === 'ext')!.runtimeTarget).toBe('freplace');
    expect(r.programs.find((p) => p.name === 'kp')!.requirements).toContainEqual({
      kind: 'kprobe-target',
      name: 'do_unlinkat',
      kernelOnly: true,
    });
    // A name no fentry or kretprobe twin shares, in a program that reads no kernel object: a label.
    expect(r.programs.find((p) => p.name === 'label')!.requirements).toContainEqual({ kind: 'kprobe-target', name: 'handle_entry' });
  });

  it('ready when one alternative is: fentry refused by policy, kprobes attach', () => {
    const res = checkObject(objectRequirements(obj), [], report(), opts);
    expect(res.groups.map((g) => [g.id, g.status])).toEqual([
      ['function:do_unlinkat', 'supported'],
      ['function:dummy_file_read', 'supported'],
    ]);
    expect(res.programs.find((p) => p.name === 'fe')).toMatchObject({ status: 'not-permitted', group: 'function:do_unlinkat' });
    // freplace: the ext program type is not in this report, so the object is not ready for that alone.
    expect(res.unmet.map((v) => v.id)).toEqual(['program-type:ext']);
    // Without the ext program, the object is ready although the fentry alternatives cannot load.
    const noExt = { ...objectRequirements(obj), programs: objectRequirements(obj).programs.filter((p) => p.name !== 'ext') };
    const ok = checkObject(noExt, [], report(), opts);
    expect(ok).toMatchObject({ ok: true, status: 'supported', unmet: [] });
    expect(ok.results.some((v) => v.status !== 'supported')).toBe(true);
  });

  it('neither alternative: the best one speaks (availability unknown beats refused)', () => {
    const rep = report({ attach: { kprobe: { status: 'unsupported', detail: 'no kprobes' }, uprobe: { status: 'supported' } } });
    const res = checkObject(objectRequirements(obj), [], rep, opts);
    expect(res.groups.map((g) => [g.id, g.status])).toEqual([
      ['function:do_unlinkat', 'not-permitted'],
      ['function:dummy_file_read', 'not-permitted'],
    ]);
    // The label kprobe attaches as a uprobe; vfs_read is a kernel function and needs a kprobe.
    expect(res.programs.find((p) => p.name === 'label')!.status).toBe('supported');
    expect(res.programs.find((p) => p.name === 'alone')!.status).toBe('unsupported');
    expect(res.status).toBe('unsupported');
    expect(res.unmet.map((v) => v.id)).toContain('program-type:tracing/trace_fentry');
  });

  it('--program: the named programs are what loads, each of them required', () => {
    const res = checkObject(objectRequirements(obj), [], report(), opts, ['fe', 'alone']);
    expect(res.groups).toEqual([]);
    expect(
      res.programs
        .filter((p) => p.loaded)
        .map((p) => p.name)
        .sort(),
    ).toEqual(['alone', 'fe']);
    expect(res).toMatchObject({ ok: false, status: 'not-permitted' });
    expect(checkObject(objectRequirements(obj), [], report(), opts, ['kp', 'alone']).ok).toBe(true);
  });
});

describe.skipIf(!haveClang)('license', () => {
  const SRC = `${HEAD}
extern void bpf_rcu_read_lock(void) __ksym;
SEC("kprobe/do_unlinkat") int p(void *ctx) { bpf_printk("x"); bpf_rcu_read_lock(); return bpf_ktime_get_ns() > 0; }
`;
  it('a non-GPL object asks of each helper and kfunc that the license allows it; a GPL object does not', () => {
    const prop = build('prop', `${SRC}char L[] SEC("license") = "Proprietary";\n`).obj;
    const gpl = build('gpl', `${SRC}char L[] SEC("license") = "Dual BSD/GPL";\n`).obj;
    expect(
      requirementsFromObject(prop)
        .map(requirementId)
        .filter((id) => id.startsWith('license:')),
    ).toEqual(['license:helper/ktime_get_ns', 'license:helper/trace_printk', 'license:kfunc/bpf_rcu_read_lock']);
    expect(
      requirementsFromObject(gpl)
        .map(requirementId)
        .filter((id) => id.startsWith('license:')),
    ).toEqual([]);
    const gplOnly = (h: string) => ({ status: 'supported' as const, value: h === 'trace_printk' });
    const res = checkObject(objectRequirements(prop), [], report(), { kernel: { gplOnly, functions: () => new Set(['do_unlinkat']) } });
    expect(Object.fromEntries(res.results.filter((v) => v.id.startsWith('license:')).map((v) => [v.id, v.status]))).toEqual({
      'license:helper/ktime_get_ns': 'supported',
      'license:helper/trace_printk': 'unsupported',
      'license:kfunc/bpf_rcu_read_lock': 'unsupported',
    });
  });
});
