// Requirements from objects our fixture set avoids on purpose (it stays loadable by bpfready's own
// minimal loader): CO-RE field accesses, which need the kernel's BTF, and a weak kfunc, which may be
// missing (libbpf loads anyway; the program asks bpf_ksym_exists()).
import { mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { parseBpfObject, type BpfObject } from '../../src/kernel/elf-bpf.ts';
import { adviseObject } from '../../src/requirements/privilege.ts';
import { requirementsFromObject } from '../../src/requirements/from-elf.ts';
import { requirementId } from '../../src/requirements/model.ts';
import { clangAvailable, compile } from './fixtures.ts';

const haveClang = clangAvailable();
if (!haveClang) {
  const msg = 'test/requirements/elf-core-weak.test.ts: SKIP: clang is not installed';
  console.warn(msg);
  // .ci/run installs clang (scripts/test-setup.sh): in CI a missing one is a failure, not a skip.
  if (process.env['CI']) throw new Error(`${msg} — but CI=true, and CI installs clang`);
}

const HEAD = '#include <linux/bpf.h>\n#define SEC(x) __attribute__((section(x), used))\nchar LICENSE[] SEC("license") = "GPL";\n';
const SOURCES: Record<string, string> = {
  core: `${HEAD}struct task_struct { int pid; int tgid; } __attribute__((preserve_access_index));
static long (*bpf_get_current_task)(void) = (void *)35;
static long (*bpf_probe_read_kernel)(void *dst, __u32 size, const void *src) = (void *)113;
SEC("kprobe/do_nanosleep") int p(void *ctx) {
  struct task_struct *t = (void *)bpf_get_current_task();
  int pid = 0;
  bpf_probe_read_kernel(&pid, sizeof(pid), &t->tgid);
  return pid;
}
`,
  plain: `${HEAD}SEC("kprobe/do_nanosleep") int p(void *ctx) { return 0; }\n`,
  structops: `${HEAD}struct sock;
struct tcp_congestion_ops { unsigned int (*ssthresh)(struct sock *sk); unsigned int (*undo_cwnd)(struct sock *sk); char name[16]; };
SEC("struct_ops/my_undo") unsigned int my_undo(struct sock *sk) { return 1; }
SEC("struct_ops/my_ss") unsigned int my_ss(struct sock *sk) { return 2; }
SEC(".struct_ops.link") struct tcp_congestion_ops rv = { .ssthresh = (void *)my_ss, .undo_cwnd = (void *)my_undo, .name = "rv" };
`,
  subprogs: `${HEAD}static long (*bpf_xdp_adjust_head)(void *ctx, int delta) = (void *)44;
static __u64 (*bpf_get_socket_cookie)(void *ctx) = (void *)46;
static __attribute__((noinline)) int xdp_inner(struct xdp_md *ctx) { return bpf_xdp_adjust_head(ctx, 0) ? 1 : 2; }
static __attribute__((noinline)) int xdp_helper(struct xdp_md *ctx) { return xdp_inner(ctx) + 1; }
static __attribute__((noinline)) int sk_helper(struct __sk_buff *skb) { return (int)bpf_get_socket_cookie(skb); }
SEC("xdp") int prog_xdp(struct xdp_md *ctx) { return xdp_helper(ctx); }
SEC("socket") int prog_sock(struct __sk_buff *skb) { return sk_helper(skb) ? 0 : 1; }
`,
  weak: `${HEAD}extern void bpf_no_such_kfunc(void) __attribute__((weak)) __attribute__((section(".ksyms")));
extern void bpf_rcu_read_lock(void) __attribute__((section(".ksyms")));
SEC("tp_btf/sched_switch") int prog(void *ctx) { if (bpf_no_such_kfunc) bpf_no_such_kfunc(); bpf_rcu_read_lock(); return 0; }
`,
};

function object(name: string): BpfObject {
  const dir = mkdtempSync(join(tmpdir(), 'bpfready-elf-'));
  writeFileSync(join(dir, `${name}.c`), SOURCES[name]!);
  const obj = compile(join(dir, `${name}.c`), dir);
  return parseBpfObject(readFileSync(obj), obj);
}

function requirements(name: string): string[] {
  return requirementsFromObject(object(name)).map((r) => JSON.stringify(r));
}

describe.skipIf(!haveClang)('requirements from CO-RE, subprograms, struct_ops and weak kfuncs', () => {
  it("an object with CO-RE relocations needs the kernel's BTF; the same program without them does not", () => {
    expect(requirements('core')).toContain(JSON.stringify({ kind: 'feature', name: 'btf' }));
    expect(requirements('plain')).not.toContain(JSON.stringify({ kind: 'feature', name: 'btf' }));
  });
  it('each program takes the helpers of the subprograms it reaches (transitively), not of every subprogram', () => {
    const reqs = requirementsFromObject(object('subprogs')).map(requirementId);
    expect(reqs).toContain('helper:xdp/xdp_adjust_head');
    expect(reqs).toContain('helper:socket_filter/get_socket_cookie');
    expect(reqs).not.toContain('helper:socket_filter/xdp_adjust_head');
    expect(reqs).not.toContain('helper:xdp/get_socket_cookie');
  });
  it('a .struct_ops variable is a struct_ops map; its programs need any attach type under a token (libbpf uses the member index)', () => {
    const obj = object('structops');
    expect(obj.structOps).toEqual([{ name: 'rv', section: '.struct_ops.link' }]);
    expect(requirements('structops')).toContain(JSON.stringify({ kind: 'map-type', mapType: 'struct_ops' }));
    const advice = adviseObject(obj, 2);
    expect(advice.delegation).toMatchObject({ maps: ['struct_ops'], progs: ['struct_ops'], attachs: ['any'] });
    expect(advice.delegation.cmds).toContain('map_create');
  });
  it('a weak kfunc is no requirement; a strong one is', () => {
    const reqs = requirements('weak');
    expect(reqs).toContain(JSON.stringify({ kind: 'kfunc', name: 'bpf_rcu_read_lock' }));
    expect(reqs.some((r) => r.includes('bpf_no_such_kfunc'))).toBe(false);
  });
});
