// ELF reading and requirement derivation from real clang output (both byte orders), and the ways a
// malformed or unknown object is refused.
import { readFileSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { beforeAll, describe, expect, it } from 'vitest';
import { ParseError } from '../../src/base/errors.ts';
import { parseBpfObject, type BpfObject } from '../../src/kernel/elf-bpf.ts';
import { classifySection } from '../../src/kernel/elf-sections.ts';
import { objectRequirements, requirementsFromObject } from '../../src/requirements/from-elf.ts';
import { requirementId } from '../../src/requirements/model.ts';
import { clangAvailable, compile, FIXTURE_DIR, fixtures } from './fixtures.ts';
import { skipUnless } from '../helpers/skip.ts';

const haveClang = !skipUnless(
  clangAvailable(),
  'test/requirements/elf.test.ts object tests',
  'clang is not installed (Debian package clang)',
);

const objects = new Map<string, BpfObject>();
const bytes = new Map<string, Uint8Array>();
beforeAll(() => {
  if (!haveClang) return;
  for (const [name, path] of fixtures()) {
    bytes.set(name, readFileSync(path));
    objects.set(name, parseBpfObject(bytes.get(name)!, path));
  }
});

const ids = (name: string): string[] => requirementsFromObject(objects.get(name)!).map(requirementId);
const progs = (name: string) =>
  objects.get(name)!.programs.map((p) => ({
    name: p.name,
    type: p.progType,
    attach: p.attachType,
    sleepable: p.sleepable,
    frags: p.xdpFrags,
    btf: p.attachBtf?.name,
  }));

describe.skipIf(!haveClang)('requirements derived from compiled objects', () => {
  it('xdp: plain and frags, BTF hash map, global data', () => {
    expect(progs('net_xdp')).toEqual([
      { name: 'xdp_count', type: 'xdp', attach: 'xdp', sleepable: false, frags: false, btf: undefined },
      { name: 'xdp_frags_pass', type: 'xdp', attach: 'xdp', sleepable: false, frags: true, btf: undefined },
    ]);
    expect(objects.get('net_xdp')!.maps.map((m) => [m.name, m.type, m.keySize, m.valueSize, m.maxEntries, m.source])).toEqual([
      ['.bss', 'array', 4, 8, 1, 'global-data'],
      ['.rodata', 'array', 4, 4, 1, 'global-data'],
      ['xdp_counts', 'hash', 4, 8, 64, 'btf'],
    ]);
    expect(ids('net_xdp')).toEqual([
      'feature:bpf-syscall',
      'feature:global-data',
      'feature:xdp-frags',
      'helper:xdp/map_lookup_elem',
      'map-type:array',
      'map-type:hash',
      'program-type:xdp/xdp',
    ]);
  });

  it('tc and tcx with a kfunc', () => {
    expect(progs('net_tc').map((p) => [p.type, p.attach])).toEqual([
      ['sched_cls', undefined],
      ['sched_cls', 'tcx_ingress'],
    ]);
    expect(ids('net_tc')).toEqual([
      'feature:bpf-syscall',
      'helper:sched_cls/map_lookup_elem',
      'kfunc:bpf_cast_to_kern_ctx',
      'map-type:array',
      'program-type:sched_cls',
      'program-type:sched_cls/tcx_ingress',
    ]);
  });

  it('socket filter with a legacy maps section', () => {
    expect(objects.get('socket_legacy')!.maps).toEqual([
      { name: 'sock_seen', type: 'array', keySize: 4, valueSize: 8, maxEntries: 1, flags: 0, source: 'legacy' },
    ]);
    expect(ids('socket_legacy')).toEqual([
      'feature:bpf-syscall',
      'helper:socket_filter/map_lookup_elem',
      'map-type:array',
      'program-type:socket_filter',
    ]);
  });

  it('cgroup_skb, cgroup sock_addr and sk_msg with a sockhash', () => {
    expect(ids('cgroup')).toEqual([
      'feature:bpf-syscall',
      'helper:cgroup_sock_addr/get_current_pid_tgid',
      'helper:sk_msg/msg_redirect_hash',
      'map-type:sockhash',
      'program-type:cgroup_skb/cgroup_inet_ingress',
      'program-type:cgroup_sock_addr/cgroup_inet4_connect',
      'program-type:sk_msg/sk_msg_verdict',
    ]);
  });

  it('tracepoint, raw tracepoint and kprobe: attach needs come from the section names', () => {
    expect(ids('trace')).toEqual([
      // libbpf reads the tracepoint's id from tracefs; the tracepoints themselves must exist.
      'attach-target:raw_tracepoint/sched_switch',
      'attach-target:tracepoint/syscalls/sys_enter_openat',
      'feature:bpf-syscall',
      'feature:tracefs',
      'feature:tracepoint-attach',
      'helper:kprobe/ktime_get_ns',
      'helper:kprobe/ringbuf_output',
      'helper:raw_tracepoint/get_smp_processor_id',
      'helper:tracepoint/get_current_pid_tgid',
      'helper:tracepoint/ringbuf_output',
      // A kprobe on do_unlinkat: decided at check time (a kprobe where the kernel has the function).
      'kprobe-target:do_unlinkat',
      'map-type:ringbuf',
      'program-type:kprobe',
      'program-type:raw_tracepoint',
      'program-type:tracepoint',
    ]);
  });

  it('fentry, tp_btf and iter: BTF attach targets with libbpf prefixes; kfuncs from extern relocations', () => {
    expect(progs('btf_trace')).toEqual([
      { name: 'fentry_unlinkat', type: 'tracing', attach: 'trace_fentry', sleepable: false, frags: false, btf: 'do_unlinkat' },
      { name: 'iter_tasks', type: 'tracing', attach: 'trace_iter', sleepable: false, frags: false, btf: 'bpf_iter_task' },
      { name: 'btf_switch', type: 'tracing', attach: 'trace_raw_tp', sleepable: false, frags: false, btf: 'btf_trace_sched_switch' },
    ]);
    expect(objects.get('btf_trace')!.programs.find((p) => p.name === 'btf_switch')!.kfuncs).toEqual([
      'bpf_rcu_read_lock',
      'bpf_rcu_read_unlock',
    ]);
    expect(ids('btf_trace')).toContain('feature:fentry');
    expect(ids('btf_trace')).toContain('kfunc:bpf_rcu_read_lock');
    // Each BTF attach target is a requirement of its own: a kernel without that function or
    // tracepoint cannot load the program.
    expect(ids('btf_trace')).toEqual(
      expect.arrayContaining(['btf-type:func/do_unlinkat', 'btf-type:func/bpf_iter_task', 'btf-type:typedef/btf_trace_sched_switch']),
    );
  });

  it('lsm and sleepable lsm.s', () => {
    expect(progs('lsm')).toEqual([
      { name: 'lsm_exec', type: 'lsm', attach: 'lsm_mac', sleepable: true, frags: false, btf: 'bpf_lsm_bprm_committed_creds' },
      { name: 'lsm_file_open', type: 'lsm', attach: 'lsm_mac', sleepable: false, frags: false, btf: 'bpf_lsm_file_open' },
    ]);
    expect(ids('lsm')).toEqual([
      'btf-type:func/bpf_lsm_bprm_committed_creds',
      'btf-type:func/bpf_lsm_file_open',
      'feature:bpf-lsm',
      'feature:bpf-syscall',
      'feature:btf',
      'feature:sleepable',
      'helper:lsm/get_current_pid_tgid',
      'program-type:lsm/lsm_mac',
    ]);
  });

  it('is deterministic: the same bytes give the same JSON', () => {
    for (const [name, b] of bytes) expect(JSON.stringify(parseBpfObject(b, fixtures().get(name)!))).toBe(JSON.stringify(objects.get(name)));
  });

  it('reads big-endian objects (clang -target bpfeb) to the same requirements', () => {
    const dir = mkdtempSync(join(tmpdir(), 'bpfready-eb-'));
    for (const name of ['net_xdp', 'trace', 'socket_legacy', 'btf_trace']) {
      const eb = parseBpfObject(readFileSync(compile(join(FIXTURE_DIR, `${name}.c`), dir, 'bpfeb', '-eb')), `${name}-eb.o`);
      expect(eb.littleEndian).toBe(false);
      expect(requirementsFromObject(eb)).toEqual(requirementsFromObject(objects.get(name)!));
      expect(eb.maps).toEqual(objects.get(name)!.maps);
    }
  });
});

describe('refusing what is not an eBPF object', () => {
  const reject = (b: Uint8Array, msg: RegExp): void => {
    expect(() => parseBpfObject(b, 'x.o')).toThrow(ParseError);
    expect(() => parseBpfObject(b, 'x.o')).toThrow(msg);
  };
  it('names the input and the reason', () => {
    reject(new Uint8Array(10), /^x\.o: not an ELF64 eBPF object: 10 bytes/);
    reject(readFileSync(process.execPath).subarray(0, 4096), /x\.o: not an ELF64 eBPF object: e_machine \d+ \(want 247/);
    const elf32 = new Uint8Array(64);
    elf32.set([0x7f, 0x45, 0x4c, 0x46, 1, 1]);
    reject(elf32, /ELF class 1 \(want 2, ELF64\)/);
  });

  it.skipIf(!haveClang)('fails closed on a truncated object', () => {
    const b = bytes.get('trace')!;
    reject(b.subarray(0, b.length - 100), /outside the \d+-byte file/);
  });
});

describe.skipIf(!haveClang)('valid objects libbpf would not classify still read', () => {
  it('a section outside the SEC() table (cilium/ebpf loads socket/tail, static, other) is a requirement on that program', () => {
    const dir = mkdtempSync(join(tmpdir(), 'bpfready-odd-'));
    const src = join(dir, 'odd.c');
    writeFileSync(
      src,
      `#include "${join(FIXTURE_DIR, 'common.h')}"
SEC("socket/tail") int prog_tail(void *c) { return bpf_get_prandom_u32(); }
SEC("static") int prog_static(void *c) { return 0; }
SEC("other") int prog_other(void *c) { return 0; }
SEC("socket") int prog_sock(void *c) { return 1; }
char L[] SEC("license") = "GPL";
`,
    );
    const obj = parseBpfObject(readFileSync(compile(src, dir)), 'odd.o');
    rmSync(dir, { recursive: true, force: true });
    expect(obj.programs.map((p) => [p.name, p.progType, p.unknownSection ?? false])).toEqual([
      ['prog_other', 'unknown', true],
      ['prog_sock', 'socket_filter', false],
      ['prog_tail', 'unknown', true],
      ['prog_static', 'unknown', true],
    ]);
    const r = objectRequirements(obj);
    const of = (n: string) => r.programs.find((p) => p.name === n)!.requirements.map(requirementId);
    // No helper requirement for an unknown type: which helpers it may call depends on the type chosen.
    expect(of('prog_tail')).toEqual(['section:unknown/socket/tail']);
    expect(of('prog_static')).toEqual(['section:unknown/static']);
    expect(of('prog_sock')).toEqual(['program-type:socket_filter']);
  });
});

describe('SEC() table', () => {
  it('matches libbpf conventions, first match wins', () => {
    const c = (s: string) => {
      const k = classifySection(s);
      return k && [k.def.progType, k.def.attachType, k.def.sleepable ?? false, k.def.xdpFrags ?? false, k.target];
    };
    expect(c('xdp')).toEqual(['xdp', 'xdp', false, false, undefined]);
    expect(c('xdp.frags/devmap')).toEqual(['xdp', 'xdp_devmap', false, true, 'devmap']);
    expect(c('sk_reuseport/migrate')).toEqual(['sk_reuseport', 'sk_reuseport_select_or_migrate', false, false, 'migrate']);
    expect(c('lsm.s/file_open')).toEqual(['lsm', 'lsm_mac', true, false, 'file_open']);
    expect(c('uprobe.multi.s/libc:malloc')).toEqual(['kprobe', 'trace_uprobe_multi', true, false, 'libc:malloc']);
    expect(c('kprobe.multi/do_*')).toEqual(['kprobe', 'trace_kprobe_multi', false, false, 'do_*']);
    expect(c('cgroup/getsockname_unix')).toEqual(['cgroup_sock_addr', 'cgroup_unix_getsockname', false, false, 'getsockname_unix']);
    expect(c('tcx/egress')?.[1]).toBe('tcx_egress');
    expect(c('netkit/peer')?.[1]).toBe('netkit_peer');
    expect(c('iter.s/task')).toEqual(['tracing', 'trace_iter', true, false, 'task']);
    expect(c('struct_ops.s/init')?.[0]).toBe('struct_ops');
    // "x+" needs an exact match or a '/' separator; "x" needs an exact match.
    expect(c('kprobefoo')).toBeUndefined();
    expect(c('socket/extra')).toBeUndefined();
    expect(c('sk_msgx')).toBeUndefined();
  });
});
