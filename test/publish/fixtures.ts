// A probe report and profile checks to publish. Built by hand because the publisher's contract is
// the report's shape (src/contract/report.ts), not this kernel: the kernel-facing tests live in test/kernel/.
import pino from 'pino';
import type { ProbeReport } from '../../src/contract/report.ts';
import type { ProfileCheck } from '../../src/publish/types.ts';
import type { NodeObject } from './apiserver-double.ts';

export function report(over: Partial<ProbeReport> = {}): ProbeReport {
  return {
    schemaVersion: 1,
    generatedAt: '2026-11-22T00:00:00Z',
    durationMs: 10,
    kernel: { release: '6.18.0', version: '#1 SMP', machine: 'x86_64' },
    context: { euid: 0, effective: ['cap_bpf'] },
    programTypes: {
      xdp: { status: 'supported' },
      kprobe: { status: 'supported' },
      lsm: { status: 'not-permitted', errno: 'EPERM' },
      lirc_mode2: { status: 'unsupported', errno: 'EINVAL' },
    },
    mapTypes: { hash: { status: 'supported' }, ringbuf: { status: 'supported' }, arena: { status: 'error', detail: 'x' } },
    helpers: { xdp: { map_lookup_elem: { status: 'supported' } } },
    attachTypes: {},
    misc: {},
    attach: { kprobe: { status: 'unsupported', detail: 'CONFIG_KPROBES is not set' }, fentry: { status: 'not-permitted', errno: 'EPERM' } },
    btf: { vmlinux: { status: 'supported' } },
    ...over,
  };
}

export const checksOk: ProfileCheck[] = [{ profile: 'cilium', satisfied: true, unmet: [] }];
export const checksBad: ProfileCheck[] = [
  {
    profile: 'cilium',
    satisfied: false,
    unmet: [{ requirement: 'map type ringbuf', status: 'unsupported', errno: 'EINVAL', remediation: ['set CONFIG_BPF_SYSCALL=y'] }],
  },
];
export const checksUnknown: ProfileCheck[] = [
  {
    profile: 'tetragon',
    satisfied: false,
    unmet: [{ requirement: 'fentry attach', status: 'not-permitted', errno: 'EPERM', detail: 'lockdown', remediation: ['grant CAP_BPF'] }],
  },
];

export function foreignNode(name: string): NodeObject {
  return {
    metadata: {
      name,
      labels: { 'kubernetes.io/hostname': name, 'team.example.com/owner': 'infra', 'bpfready.io/hand-made': 'yes' },
      annotations: { 'node.alpha.kubernetes.io/ttl': '0', 'example.com/note': 'keep me' },
    },
    spec: { taints: [{ key: 'example.com/dedicated', value: 'gpu', effect: 'NoSchedule' }] },
    status: {
      conditions: [
        {
          type: 'Ready',
          status: 'True',
          reason: 'KubeletReady',
          message: 'kubelet is posting ready status',
          lastHeartbeatTime: '2026-11-22T00:00:00Z',
          lastTransitionTime: '2026-11-21T00:00:00Z',
        },
        {
          type: 'example.com/GpuHealthy',
          status: 'True',
          reason: 'Ok',
          message: 'fine',
          lastHeartbeatTime: '2026-11-22T00:00:00Z',
          lastTransitionTime: '2026-11-21T00:00:00Z',
        },
      ],
    },
  };
}

export const quietLogger = (): pino.Logger => pino({ level: process.env['BPFREADY_TEST_LOG'] ?? 'silent' });
