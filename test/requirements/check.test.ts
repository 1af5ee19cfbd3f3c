// check() is pure over a ProbeReport: these reports are built by hand to pin each status and
// remediation rule; kernel.test.ts checks the same function against this machine's real report.
import { mkdirSync, mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import type { ProbeReport } from '../../src/report.ts';
import { check } from '../../src/requirements/check.ts';
import { withKernelConfig } from '../../src/requirements/enrich.ts';
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
    const r = check(reqs('program-type:xdp/xdp', 'program-type:lsm', 'program-type:tracing', 'map-type:ringbuf', 'map-type:sockhash', 'kfunc:bpf_rcu_read_lock'), report());
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
    const rep = report({ config: { CONFIG_BPF_LSM: { status: 'unsupported' } }, security: { lsm: { status: 'supported', value: ['lockdown', 'yama', 'apparmor'] } } });
    const [v] = check(reqs('program-type:lsm'), rep).unmet;
    expect(v!.remediation).toContain('build the kernel with CONFIG_BPF_LSM=y (this node: not set)');
    expect(v!.remediation).toContain('add bpf to the active LSMs with the boot parameter lsm=lockdown,yama,apparmor,bpf');
  });

  it('remediation for not-permitted names the capability the kernel checks for that type', () => {
    const rep = report({ context: { euid: 1000, effective: [] } });
    const r = check(reqs('map-type:sockhash', 'program-type:tracing'), rep);
    expect(r.unmet.find((v) => v.id === 'map-type:sockhash')!.remediation[0]).toMatch(/^grant cap_bpf, cap_net_admin \(Kubernetes: securityContext.capabilities.add: \[BPF, NET_ADMIN\]\)/);
    expect(r.unmet.find((v) => v.id === 'program-type:tracing')!.remediation[0]).toMatch(/^grant cap_bpf, cap_perfmon/);
  });

  it('not-permitted although the capabilities are held points at lockdown/LSM/seccomp, not at capabilities', () => {
    const rep = report({ context: { euid: 0, effective: ['cap_sys_admin', 'cap_bpf', 'cap_perfmon'] } });
    const [v] = check(reqs('feature:fentry'), rep).unmet;
    expect(v!.status).toBe('not-permitted');
    expect(v!.remediation[0]).toMatch(/lockdown/);
  });

  it('a missing section is error "not probed", never satisfied', () => {
    const r = check(reqs('feature:kprobe-attach', 'feature:btf', 'kconfig:CONFIG_KPROBES=y', 'mount:/sys/fs/bpf=bpf', 'delegation:cmds=prog_load'), report());
    expect(r.ok).toBe(false);
    for (const v of r.unmet) {
      expect(v.status).toBe('error');
      expect(v.detail).toMatch(/^not probed/);
    }
  });

  it('kernel config: =y, =m and y/m; unset is unsupported with the option to set; absent is not probed', () => {
    // The system-facts collector keys options without CONFIG_ and reports unset ones as "n".
    const rep = report({ config: { A: { status: 'supported', value: 'y' }, B: { status: 'supported', value: 'm' }, KPROBES: { status: 'unsupported', value: 'n' } } });
    const r = check(reqs('kconfig:CONFIG_A=y', 'kconfig:CONFIG_B=y/m', 'kconfig:CONFIG_B=y', 'kconfig:CONFIG_KPROBES', 'kconfig:CONFIG_ELSEWHERE'), rep);
    expect(Object.fromEntries(r.results.map((v) => [v.id, v.status]))).toEqual({
      'kconfig:CONFIG_A=y': 'supported', 'kconfig:CONFIG_B=y/m': 'supported', 'kconfig:CONFIG_B=y': 'unsupported',
      'kconfig:CONFIG_ELSEWHERE=y': 'error', 'kconfig:CONFIG_KPROBES=y': 'unsupported',
    });
    expect(r.unmet.find((v) => v.id === 'kconfig:CONFIG_KPROBES=y')!.remediation).toEqual(['build the kernel with CONFIG_KPROBES=y']);
  });

  it('withKernelConfig() reads the options requirements name from the kernel config file', () => {
    const root = mkdtempSync(join(tmpdir(), 'bpfready-hostroot-'));
    mkdirSync(join(root, 'boot'));
    writeFileSync(join(root, 'boot/config-6.18.0'), 'CONFIG_CRYPTO_SHA1=m\n# CONFIG_SCHEDSTATS is not set\n');
    const rep = withKernelConfig(report({ config: { BPF: { status: 'supported', value: 'y' } } }), reqs('kconfig:CONFIG_CRYPTO_SHA1=y/m', 'kconfig:CONFIG_SCHEDSTATS', 'kconfig:CONFIG_BPF'), root);
    const r = check(reqs('kconfig:CONFIG_CRYPTO_SHA1=y/m', 'kconfig:CONFIG_SCHEDSTATS', 'kconfig:CONFIG_BPF'), rep);
    expect(r.results.map((v) => [v.id, v.status])).toEqual([
      ['kconfig:CONFIG_BPF=y', 'supported'], ['kconfig:CONFIG_CRYPTO_SHA1=y/m', 'supported'], ['kconfig:CONFIG_SCHEDSTATS=y', 'unsupported'],
    ]);
  });

  it('attach features: kprobe attach unsupported → CONFIG_KPROBES', () => {
    const rep = report({ attach: { kprobe: { status: 'unsupported', errno: 'ENOENT', detail: 'CONFIG_KPROBES is not set' } }, config: { KPROBES: { status: 'unsupported', value: 'n' }, KPROBE_EVENTS: { status: 'unsupported', value: null } } });
    const [v] = check(reqs('feature:kprobe-attach'), rep).unmet;
    expect(v).toMatchObject({ status: 'unsupported', detail: 'CONFIG_KPROBES is not set' });
    expect(v!.remediation).toEqual(['build the kernel with CONFIG_KPROBES=y (this node: not set)', 'build the kernel with CONFIG_KPROBE_EVENTS=y (this node: not set)']);
  });

  it('mounts by superblock: the mount command when bpffs is missing', () => {
    const rep = report({ bpffs: [], mounts: { '/sys/kernel/tracing': { status: 'supported', value: { fsType: 'tracefs', magic: 0x74726163 } } } });
    const r = check(reqs('feature:bpffs', 'feature:tracefs'), rep);
    expect(r.unmet.map((v) => [v.id, v.remediation])).toEqual([['feature:bpffs', ['mount -t bpf bpf /sys/fs/bpf']]]);
  });

  it('token delegation: names what is missing and the delegate_* option to add', () => {
    const rep = report({
      bpffs: [{ path: '/sys/fs/bpf', delegate: { cmds: ['map_create'], maps: ['array'], progs: [], attachs: [] }, token: { status: 'supported' } }],
    });
    const [v] = check(reqs('delegation:cmds=map_create:prog_load,maps=array,progs=xdp'), rep).unmet;
    expect(v!.status).toBe('unsupported');
    expect(v!.detail).toBe('prog_load not in delegate_cmds; xdp not in delegate_progs');
    expect(v!.remediation[0]).toMatch(/delegate_cmds=map_create:prog_load,delegate_progs=xdp$/);
    const ok = report({ bpffs: [{ path: '/b', delegate: { cmds: ['any'], maps: ['any'], progs: ['any'], attachs: ['any'] }, token: { status: 'supported' } }] });
    expect(check(reqs('delegation:cmds=prog_load,progs=xdp'), ok).ok).toBe(true);
  });

  it('tokens seen from the initial user namespace (EOPNOTSUPP): that bpffs is the initial namespace\'s, and gives no token to anyone', () => {
    const eopnotsupp = { status: 'unsupported', errno: 'EOPNOTSUPP', detail: 'this process is in the initial user namespace' };
    const delegated = { path: '/run/tokens', delegate: { cmds: ['any'], maps: ['any'], progs: ['any'], attachs: ['any'] }, token: eopnotsupp };
    const bare = { path: '/sys/fs/bpf', delegate: { cmds: [], maps: [], progs: [], attachs: [] }, token: { status: 'unsupported', errno: 'ENOENT' } };
    const withKernel = (bpffs: unknown[], tokenCreate: string) => report({ bpffs, misc: { token_create: { status: tokenCreate } } });
    // BPF_TOKEN_CREATE checks the caller's namespace against the bpffs's before it refuses the initial
    // one: EOPNOTSUPP to us means the bpffs is owned by the initial namespace, and every other
    // namespace gets EPERM from it. No token from there, whatever it delegates.
    const initOwned = check(reqs('feature:token', 'delegation:cmds=prog_load,progs=xdp'), withKernel([delegated], 'supported'));
    expect(initOwned.ok).toBe(false);
    expect(initOwned.unmet[0]).toMatchObject({ status: 'unsupported', detail: expect.stringMatching(/owned by the initial user namespace/) });
    // A token that one of the mounts did give (probed in the namespace that owns it) is the answer.
    const given = { ...delegated, path: '/run/ns-tokens', token: { status: 'supported' } };
    expect(check(reqs('feature:token', 'delegation:cmds=prog_load,progs=xdp'), withKernel([bare, delegated, given], 'supported')).ok).toBe(true);
    // A kernel without BPF_TOKEN_CREATE: unsupported whatever the mount says.
    const old = check(reqs('feature:token'), withKernel([{ ...delegated, token: { status: 'unsupported', errno: 'EINVAL' } }], 'unsupported'));
    expect(old.unmet[0]!.status).toBe('unsupported');
    const noKernel = check(reqs('feature:token'), withKernel([delegated], 'unsupported'));
    expect(noKernel.unmet[0]!.status).toBe('unsupported');
    // A mount that delegates nothing gives no token to anyone.
    const nothing = check(reqs('feature:token'), withKernel([{ ...bare, token: eopnotsupp }], 'supported'));
    expect(nothing.unmet[0]).toMatchObject({ status: 'unsupported', detail: expect.stringMatching(/delegates nothing/) });
  });

  it('btf-type: looked up in the vmlinux BTF given; missing is unsupported with the target named; no BTF is an error', () => {
    const btf = { findId: (kind: number, name: string) => (kind === 8 && name === 'btf_trace_sched_switch' ? 42 : undefined) };
    const r = check(reqs('btf-type:typedef/btf_trace_sched_switch', 'btf-type:typedef/btf_trace_no_such', 'btf-type:func/bpf_lsm_no_hook'), report(), { btf: () => btf });
    const by = new Map(r.results.map((v) => [v.id, v]));
    expect(by.get('btf-type:typedef/btf_trace_sched_switch')!.status).toBe('supported');
    expect(by.get('btf-type:typedef/btf_trace_no_such')).toMatchObject({ status: 'unsupported', remediation: [expect.stringContaining('tracepoint no_such')] });
    expect(by.get('btf-type:func/bpf_lsm_no_hook')!.remediation[0]).toContain('LSM hook no_hook');
    expect(check(reqs('btf-type:func/do_unlinkat'), report()).results[0]).toMatchObject({ status: 'error', detail: expect.stringMatching(/^not probed/) });
  });

  it('is deterministic and de-duplicates', () => {
    const a = check(reqs('map-type:ringbuf', 'program-type:xdp', 'map-type:ringbuf'), report());
    const b = check(reqs('program-type:xdp', 'map-type:ringbuf'), report());
    expect(a).toEqual(b);
    expect(a.results.map((v) => v.id)).toEqual(['map-type:ringbuf', 'program-type:xdp']);
  });
});
