// check() is pure over a ProbeReport: these reports are built by hand to pin each status and
// remediation rule; kernel.test.ts checks the same function against this machine's real report.
import { mkdirSync, mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import type { ProbeReport } from '../../src/contract/report.ts';
import { check } from '../../src/requirements/check.ts';
import { withKernelConfig } from '../../src/requirements/enrich.ts';
import { requirementId, type Requirement } from '../../src/requirements/model.ts';
import { parseRequirement } from '../../src/requirements/profiles.ts';

function report(extra: Record<string, unknown> = {}): ProbeReport {
  return {
    schemaVersion: 1,
    generatedAt: '2026-01-01T00:00:00Z',
    durationMs: 1,
    kernel: { release: '6.18.0', version: '#1', machine: 'x86_64' },
    context: { euid: 0, effective: ['cap_bpf', 'cap_perfmon'] },
    programTypes: {
      xdp: { status: 'supported' },
      socket_filter: { status: 'supported' },
      lsm: { status: 'unsupported', errno: 'EINVAL' },
      tracing: { status: 'not-permitted', errno: 'EPERM' },
    },
    mapTypes: { ringbuf: { status: 'supported' }, sockhash: { status: 'not-permitted', errno: 'EPERM' } },
    helpers: { kprobe: { bpf_ringbuf_output: { status: 'supported' }, bpf_probe_read_kernel: { status: 'unsupported', errno: 'EINVAL' } } },
    attachTypes: { xdp: { status: 'supported' }, trace_fentry: { status: 'not-permitted', errno: 'EPERM' } },
    misc: {},
    ...extra,
  };
}
const reqs = (...ids: string[]) => ids.map((id, i) => parseRequirement(id, 'test', `#${i}`));

describe('check()', () => {
  it('reports every unmet requirement with its own status, not only the first', () => {
    const r = check(
      reqs(
        'program-type:xdp/xdp',
        'program-type:lsm',
        'program-type:tracing',
        'map-type:ringbuf',
        'map-type:sockhash',
        'kfunc:bpf_rcu_read_lock',
      ),
      report(),
    );
    expect(r.ok).toBe(false);
    expect(r.results).toHaveLength(6);
    expect(Object.fromEntries(r.unmet.map((v) => [v.id, v.status]))).toEqual({
      'kfunc:bpf_rcu_read_lock': 'error',
      'map-type:sockhash': 'not-permitted',
      'program-type:lsm': 'unsupported',
      'program-type:tracing': 'not-permitted',
    });
  });

  it('all met → ok with no unmet entries', () => {
    const r = check(reqs('program-type:xdp', 'map-type:ringbuf', 'helper:kprobe/ringbuf_output', 'capability:cap_bpf'), report());
    expect(r).toMatchObject({ ok: true, unmet: [] });
  });

  it('remediation: kernel config and the lsm= boot parameter for an unsupported LSM program type', () => {
    const rep = report({
      config: { CONFIG_BPF_LSM: { status: 'unsupported' } },
      security: { lsm: { status: 'supported', value: ['lockdown', 'yama', 'apparmor'] } },
    });
    const [v] = check(reqs('program-type:lsm'), rep).unmet;
    expect(v!.remediation).toContain('build the kernel with CONFIG_BPF_LSM=y (this node: not set)');
    expect(v!.remediation).toContain('add bpf to the active LSMs with the boot parameter lsm=lockdown,yama,apparmor,bpf');
  });

  it('remediation for not-permitted names the capability the kernel checks for that type', () => {
    const rep = report({ context: { euid: 1000, effective: [] } });
    const r = check(reqs('map-type:sockhash', 'program-type:tracing'), rep);
    expect(r.unmet.find((v) => v.id === 'map-type:sockhash')!.remediation[0]).toMatch(
      /^grant cap_bpf, cap_net_admin \(Kubernetes: securityContext.capabilities.add: \[BPF, NET_ADMIN\]\)/,
    );
    expect(r.unmet.find((v) => v.id === 'program-type:tracing')!.remediation[0]).toMatch(/^grant cap_bpf, cap_perfmon/);
  });

  it('not-permitted although the capabilities are held points at lockdown/LSM/seccomp, not at capabilities', () => {
    const rep = report({ context: { euid: 0, effective: ['cap_sys_admin', 'cap_bpf', 'cap_perfmon'] } });
    const [v] = check(reqs('feature:fentry'), rep).unmet;
    expect(v!.status).toBe('not-permitted');
    expect(v!.remediation[0]).toMatch(/lockdown/);
  });

  it('a missing section is error "not probed", never satisfied', () => {
    const r = check(
      reqs('feature:kprobe-attach', 'feature:btf', 'kconfig:CONFIG_KPROBES=y', 'mount:/sys/fs/bpf=bpf', 'delegation:cmds=prog_load'),
      report(),
    );
    expect(r.ok).toBe(false);
    for (const v of r.unmet) {
      expect(v.status).toBe('error');
      expect(v.detail).toMatch(/^not probed/);
    }
  });

  it('kernel config: =y, =m and y/m; unset is unsupported with the option to set; absent is not probed', () => {
    // The system-facts collector keys options without CONFIG_ and reports unset ones as "n".
    const rep = report({
      config: {
        A: { status: 'supported', value: 'y' },
        B: { status: 'supported', value: 'm' },
        KPROBES: { status: 'unsupported', value: 'n' },
      },
    });
    const r = check(
      reqs('kconfig:CONFIG_A=y', 'kconfig:CONFIG_B=y/m', 'kconfig:CONFIG_B=y', 'kconfig:CONFIG_KPROBES', 'kconfig:CONFIG_ELSEWHERE'),
      rep,
    );
    expect(Object.fromEntries(r.results.map((v) => [v.id, v.status]))).toEqual({
      'kconfig:CONFIG_A=y': 'supported',
      'kconfig:CONFIG_B=y/m': 'supported',
      'kconfig:CONFIG_B=y': 'unsupported',
      'kconfig:CONFIG_ELSEWHERE=y': 'error',
      'kconfig:CONFIG_KPROBES=y': 'unsupported',
    });
    expect(r.unmet.find((v) => v.id === 'kconfig:CONFIG_KPROBES=y')!.remediation).toEqual(['build the kernel with CONFIG_KPROBES=y']);
  });

  it('withKernelConfig() reads the options requirements name from the kernel config file', () => {
    const root = mkdtempSync(join(tmpdir(), 'bpfready-hostroot-'));
    mkdirSync(join(root, 'boot'));
    writeFileSync(join(root, 'boot/config-6.18.0'), 'CONFIG_CRYPTO_SHA1=m\n# CONFIG_SCHEDSTATS is not set\n');
    const rep = withKernelConfig(
      report({ config: { BPF: { status: 'supported', value: 'y' } } }),
      reqs('kconfig:CONFIG_CRYPTO_SHA1=y/m', 'kconfig:CONFIG_SCHEDSTATS', 'kconfig:CONFIG_BPF'),
      root,
    );
    const r = check(reqs('kconfig:CONFIG_CRYPTO_SHA1=y/m', 'kconfig:CONFIG_SCHEDSTATS', 'kconfig:CONFIG_BPF'), rep);
    expect(r.results.map((v) => [v.id, v.status])).toEqual([
      ['kconfig:CONFIG_BPF=y', 'supported'],
      ['kconfig:CONFIG_CRYPTO_SHA1=y/m', 'supported'],
      ['kconfig:CONFIG_SCHEDSTATS=y', 'unsupported'],
    ]);
  });

  it('attach features: kprobe attach unsupported → CONFIG_KPROBES', () => {
    const rep = report({
      attach: { kprobe: { status: 'unsupported', errno: 'ENOENT', detail: 'CONFIG_KPROBES is not set' } },
      config: { KPROBES: { status: 'unsupported', value: 'n' }, KPROBE_EVENTS: { status: 'unsupported', value: null } },
    });
    const [v] = check(reqs('feature:kprobe-attach'), rep).unmet;
    expect(v).toMatchObject({ status: 'unsupported', detail: 'CONFIG_KPROBES is not set' });
    expect(v!.remediation).toEqual([
      'build the kernel with CONFIG_KPROBES=y (this node: not set)',
      'build the kernel with CONFIG_KPROBE_EVENTS=y (this node: not set)',
    ]);
  });

  it('mounts by superblock: the mount command when bpffs is missing', () => {
    const rep = report({
      bpffs: [],
      mounts: { '/sys/kernel/tracing': { status: 'supported', value: { fsType: 'tracefs', magic: 0x74726163 } } },
    });
    const r = check(reqs('feature:bpffs', 'feature:tracefs'), rep);
    expect(r.unmet.map((v) => [v.id, v.remediation])).toEqual([['feature:bpffs', ['mount -t bpf bpf /sys/fs/bpf']]]);
  });

  it('token delegation: names what is missing and the delegate_* option to add', () => {
    const rep = report({
      bpffs: [
        {
          path: '/sys/fs/bpf',
          delegate: { cmds: ['map_create'], maps: ['array'], progs: [], attachs: [] },
          token: { status: 'supported' },
        },
      ],
    });
    const [v] = check(reqs('delegation:cmds=map_create:prog_load,maps=array,progs=xdp'), rep).unmet;
    expect(v!.status).toBe('unsupported');
    expect(v!.detail).toBe('prog_load not in delegate_cmds; xdp not in delegate_progs');
    expect(v!.remediation[0]).toMatch(/delegate_cmds=map_create:prog_load,delegate_progs=xdp$/);
    const ok = report({
      bpffs: [{ path: '/b', delegate: { cmds: ['any'], maps: ['any'], progs: ['any'], attachs: ['any'] }, token: { status: 'supported' } }],
    });
    expect(check(reqs('delegation:cmds=prog_load,progs=xdp'), ok).ok).toBe(true);
  });

  it("tokens seen from the initial user namespace (EOPNOTSUPP): that bpffs is the initial namespace's, and gives no token to anyone", () => {
    const eopnotsupp = { status: 'unsupported', errno: 'EOPNOTSUPP', detail: 'this process is in the initial user namespace' };
    const delegated = {
      path: '/run/tokens',
      delegate: { cmds: ['any'], maps: ['any'], progs: ['any'], attachs: ['any'] },
      token: eopnotsupp,
    };
    const bare = {
      path: '/sys/fs/bpf',
      delegate: { cmds: [], maps: [], progs: [], attachs: [] },
      token: { status: 'unsupported', errno: 'ENOENT' },
    };
    const withKernel = (bpffs: unknown[], tokenCreate: string) => report({ bpffs, misc: { token_create: { status: tokenCreate } } });
    // BPF_TOKEN_CREATE checks the caller's namespace against the bpffs's before it refuses the initial
    // one: EOPNOTSUPP to us means the bpffs is owned by the initial namespace, and every other
    // namespace gets EPERM from it. No token from there, whatever it delegates.
    const initOwned = check(reqs('feature:token', 'delegation:cmds=prog_load,progs=xdp'), withKernel([delegated], 'supported'));
    expect(initOwned.ok).toBe(false);
    expect(initOwned.unmet[0]).toMatchObject({
      status: 'unsupported',
      detail: expect.stringMatching(/owned by the initial user namespace/),
    });
    // A token that one of the mounts did give (probed in the namespace that owns it) is the answer.
    const given = { ...delegated, path: '/run/ns-tokens', token: { status: 'supported' } };
    expect(check(reqs('feature:token', 'delegation:cmds=prog_load,progs=xdp'), withKernel([bare, delegated, given], 'supported')).ok).toBe(
      true,
    );
    // A kernel without BPF_TOKEN_CREATE: unsupported whatever the mount says.
    const old = check(
      reqs('feature:token'),
      withKernel([{ ...delegated, token: { status: 'unsupported', errno: 'EINVAL' } }], 'unsupported'),
    );
    expect(old.unmet[0]!.status).toBe('unsupported');
    const noKernel = check(reqs('feature:token'), withKernel([delegated], 'unsupported'));
    expect(noKernel.unmet[0]!.status).toBe('unsupported');
    // A mount that delegates nothing gives no token to anyone.
    const nothing = check(reqs('feature:token'), withKernel([{ ...bare, token: eopnotsupp }], 'supported'));
    expect(nothing.unmet[0]).toMatchObject({ status: 'unsupported', detail: expect.stringMatching(/delegates nothing/) });
  });

  it('btf-type: looked up in the vmlinux BTF given; missing is unsupported with the target named; no BTF is an error', () => {
    const btf = { findId: (kind: number, name: string) => (kind === 8 && name === 'btf_trace_sched_switch' ? 42 : undefined) };
    const r = check(
      reqs('btf-type:typedef/btf_trace_sched_switch', 'btf-type:typedef/btf_trace_no_such', 'btf-type:func/bpf_lsm_no_hook'),
      report(),
      { btf: () => btf },
    );
    const by = new Map(r.results.map((v) => [v.id, v]));
    expect(by.get('btf-type:typedef/btf_trace_sched_switch')!.status).toBe('supported');
    expect(by.get('btf-type:typedef/btf_trace_no_such')).toMatchObject({
      status: 'unsupported',
      remediation: [expect.stringContaining('tracepoint no_such')],
    });
    expect(by.get('btf-type:func/bpf_lsm_no_hook')!.remediation[0]).toContain('LSM hook no_hook');
    expect(check(reqs('btf-type:func/do_unlinkat'), report()).results[0]).toMatchObject({
      status: 'error',
      detail: expect.stringMatching(/^not probed/),
    });
  });

  it('is deterministic and de-duplicates', () => {
    const a = check(reqs('map-type:ringbuf', 'program-type:xdp', 'map-type:ringbuf'), report());
    const b = check(reqs('program-type:xdp', 'map-type:ringbuf'), report());
    expect(a).toEqual(b);
    expect(a.results.map((v) => v.id)).toEqual(['map-type:ringbuf', 'program-type:xdp']);
  });
});

describe('check(): attach types, targets, sections and licenses', () => {
  const iterReport = (rows: Record<string, Record<string, { status: 'supported' | 'unsupported'; errno?: string }>>) =>
    report({ helpers: rows });
  const seq: Requirement = { kind: 'helper', progType: 'tracing', helper: 'seq_printf', attachType: 'trace_iter' };

  it("a helper of a program with an expected attach type is judged by that attach type's row when the report has one", () => {
    const r = check(
      [seq],
      iterReport({
        tracing: { bpf_seq_printf: { status: 'unsupported', errno: 'EINVAL' } },
        'tracing/trace_iter': { bpf_seq_printf: { status: 'supported' } },
      }),
    );
    expect(r).toMatchObject({ ok: true, results: [{ id: 'helper:tracing/trace_iter/seq_printf', status: 'supported' }] });
    // The row says no: that is an answer.
    const no = check(
      [seq],
      iterReport({
        tracing: { bpf_seq_printf: { status: 'supported' } },
        'tracing/trace_iter': { bpf_seq_printf: { status: 'unsupported', errno: 'EINVAL' } },
      }),
    );
    expect(no.unmet[0]).toMatchObject({ status: 'unsupported' });
  });

  it('without that row, an iterator-only helper the base row (another attach type) lacks is not probed, never unsupported or ready', () => {
    const r = check([seq], iterReport({ tracing: { bpf_seq_printf: { status: 'unsupported', errno: 'EINVAL' } } }));
    expect(r.unmet[0]).toMatchObject({ status: 'error', detail: expect.stringContaining('not probed for this attach type') });
    // A helper every tracing attach type has: the base row is the answer.
    const other = check(
      [{ kind: 'helper', progType: 'tracing', helper: 'ktime_get_ns', attachType: 'trace_iter' }],
      iterReport({ tracing: { bpf_ktime_get_ns: { status: 'supported' } } }),
    );
    expect(other.ok).toBe(true);
    const base = check(
      [{ kind: 'helper', progType: 'tracing', helper: 'probe_write_user', attachType: 'trace_iter' }],
      iterReport({ tracing: { bpf_probe_write_user: { status: 'unsupported', errno: 'EINVAL' } } }),
    );
    expect(base.unmet[0]!.status).toBe('unsupported');
  });

  it('kprobe-target: a kprobe on a kernel function; a label is a kprobe or a uprobe; a placeholder for a kernel function is a kprobe', () => {
    const rep = report({ attach: { kprobe: { status: 'unsupported', detail: 'no kprobes' }, uprobe: { status: 'supported' } } });
    const opts = { kernel: { functions: () => new Set(['vfs_read']) } };
    const by = (rs: Requirement[]) => Object.fromEntries(check(rs, rep, opts).results.map((v) => [v.id, v.status]));
    expect(
      by([
        { kind: 'kprobe-target', name: 'vfs_read' },
        { kind: 'kprobe-target', name: 'handle_entry' },
        { kind: 'kprobe-target', name: 'dummy_file_read', kernelOnly: true },
      ]),
    ).toEqual({
      'kprobe-target:vfs_read': 'unsupported',
      'kprobe-target:handle_entry': 'supported',
      'kprobe-target:dummy_file_read': 'unsupported',
    });
    // kprobes work, but the kernel has no such function, and nothing says the loader picks another.
    const withKprobes = report({ attach: { kprobe: { status: 'supported' }, uprobe: { status: 'supported' } } });
    expect(check([{ kind: 'kprobe-target', name: 'gone_function', kernelOnly: true }], withKprobes, opts).unmet[0]).toMatchObject({
      status: 'error',
      detail: expect.stringContaining('not a function of this kernel'),
    });
    expect(check([{ kind: 'kprobe-target', name: 'dummy_x', kernelOnly: true }], withKprobes, opts).ok).toBe(true);
  });

  it('attach-target: tracepoints from the tracefs list, raw tracepoints from BTF; unknown is an error', () => {
    const opts = {
      btf: () => ({ findId: (k: number, n: string) => (k === 8 && n === 'btf_trace_sched_switch' ? 1 : undefined) }),
      kernel: { tracepoints: () => new Set(['sched/sched_switch']) },
    };
    const r = check(
      reqs(
        'attach-target:tracepoint/sched/sched_switch',
        'attach-target:tracepoint/syscalls/sys_enter_nope',
        'attach-target:raw_tracepoint/sched_switch',
        'attach-target:raw_tracepoint/nope',
      ),
      report(),
      opts,
    );
    expect(Object.fromEntries(r.results.map((v) => [v.id, v.status]))).toEqual({
      'attach-target:raw_tracepoint/nope': 'unsupported',
      'attach-target:raw_tracepoint/sched_switch': 'supported',
      'attach-target:tracepoint/sched/sched_switch': 'supported',
      'attach-target:tracepoint/syscalls/sys_enter_nope': 'unsupported',
    });
    expect(r.unmet.find((v) => v.id.includes('syscalls'))!.remediation.join(' ')).toContain('CONFIG_FTRACE_SYSCALLS');
    expect(
      check(reqs('attach-target:tracepoint/sched/sched_switch'), report(), { kernel: { tracepoints: () => 'tracefs is not mounted' } })
        .unmet[0],
    ).toMatchObject({ status: 'error', detail: 'not probed: tracefs is not mounted' });
  });

  it('a program in an unknown section is an error with a way out; license: kfuncs unmet, helpers as the verifier said', () => {
    const [s] = check([{ kind: 'section', section: 'socket/tail' }], report()).unmet;
    expect(s).toMatchObject({ id: 'section:unknown/socket/tail', status: 'error', remediation: [expect.stringContaining('--program')] });
    const lic = (name: string): Requirement => ({ kind: 'license', what: 'helper', name, license: 'Proprietary' });
    const notProbed = check([lic('trace_printk')], report());
    expect(notProbed.unmet[0]).toMatchObject({ status: 'error' });
    const denied = check([lic('trace_printk')], report(), { kernel: { gplOnly: () => ({ status: 'not-permitted', errno: 'EPERM' }) } });
    expect(denied.unmet[0]).toMatchObject({ status: 'not-permitted', errno: 'EPERM' });
    const k = check([{ kind: 'license', what: 'kfunc', name: 'bpf_rcu_read_lock', license: '' }], report());
    expect(k.unmet[0]).toMatchObject({ status: 'unsupported', detail: expect.stringContaining('no license section') });
  });

  it('the new kinds parse from their ids, and print back the same', () => {
    for (const id of [
      'core:field/task_struct.se.cfs_rq',
      'core:type/task_struct',
      'core:enumval/bpf_func_id::BPF_FUNC_map_lookup_elem',
      'attach-target:tracepoint/syscalls/sys_enter_execve',
      'attach-target:raw_tracepoint/sched_switch',
      'kprobe-target:vfs_read',
      'helper:tracing/trace_iter/seq_printf',
    ]) {
      expect(requirementId(parseRequirement(id, 'test', '#1'))).toBe(id);
    }
    expect(() => parseRequirement('core:field/task_struct', 'test', '#1')).toThrow(/want field/);
    expect(() => parseRequirement('attach-target:tracepoint/x', 'test', '#1')).toThrow(/want tracepoint/);
  });
});
