// A small hand-written ProbeReport for route and rendering tests only (the e2e tests and benchmarks
// use the real engine). Field names follow src/contract/report.ts.
import type { ProbeReport } from '../../src/contract/report.ts';
import type { ProfileCheck } from '../../src/requirements/profile-checks.ts';

export function fakeReport(): ProbeReport {
  return {
    schemaVersion: 1,
    generatedAt: '2026-01-01T00:00:00.000Z',
    durationMs: 812,
    kernel: { release: '6.18.0-test', version: '#1 SMP', machine: 'x86_64' },
    context: { euid: 0, effective: ['cap_bpf', 'cap_perfmon', 'cap_sys_admin'] },
    programTypes: {
      socket_filter: { status: 'supported' },
      kprobe: { status: 'supported' },
      lsm: { status: 'unsupported', errno: 'EINVAL', detail: 'CONFIG_BPF_LSM is not set' },
      struct_ops: { status: 'not-permitted', errno: 'EPERM', detail: 'needs CAP_SYS_ADMIN' },
      'x<script>': { status: 'error', errno: 'E#999', detail: '<b>escaped?</b>' },
    },
    mapTypes: {
      hash: { status: 'supported' },
      ringbuf: { status: 'supported' },
      arena: { status: 'unsupported', errno: 'EINVAL' },
    },
    helpers: {
      kprobe: { bpf_map_lookup_elem: { status: 'supported' }, bpf_override_return: { status: 'unsupported', errno: 'EINVAL' } },
      xdp: { bpf_redirect: { status: 'supported' } },
    },
    attachTypes: {},
    misc: { bounded_loops: { status: 'supported' }, large_insn_limit: { status: 'supported' } },
    bpffs: [
      {
        path: '/sys/fs/bpf',
        delegate: { cmds: [], maps: [], progs: [], attachs: [] },
        token: { status: 'unsupported', errno: 'ENOENT', detail: 'no delegation' },
      },
      {
        path: '/run/tokenfs',
        delegate: { cmds: ['map_create', 'prog_load'], maps: ['hash'], progs: ['xdp'], attachs: [] },
        token: { status: 'supported' },
      },
    ],
    sysctl: { unprivileged_bpf_disabled: { status: 'supported', value: 2 } },
  };
}

export function fakeChecks(): ProfileCheck[] {
  return [
    { profile: 'minimal', satisfied: true, unmet: [] },
    {
      profile: 'tetragon',
      satisfied: false,
      unmet: [
        {
          requirement: 'program type lsm',
          status: 'unsupported',
          errno: 'EINVAL',
          detail: 'CONFIG_BPF_LSM is not set',
          remediation: ['boot a kernel with CONFIG_BPF_LSM=y', 'add bpf to the lsm= boot parameter'],
        },
        { requirement: 'program type struct_ops', status: 'not-permitted', errno: 'EPERM', remediation: ['grant CAP_SYS_ADMIN'] },
      ],
    },
  ];
}
