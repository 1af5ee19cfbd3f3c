// When a refusal is a fact and when it may be privilege (src/probes/privilege.ts): decided from the
// capabilities the probe held, never from which helper or feature it was. The kernel's words are the
// 6.18 and 6.1 wordings (test/kernel, test/kernels prove the whole on those kernels).
import { describe, expect, it } from 'vitest';
import { helperAbsence, interpretCreate, interpretHelper } from '../../src/contract/interpret.ts';
import type { ProbeEnv } from '../../src/contract/probe-env.ts';
import { helperLookupBlind, hiddenHelper, refusedForPrivilege } from '../../src/probes/privilege.ts';

const bit = (...caps: number[]) => caps.reduce((m, c) => m | (1n << BigInt(c)), 0n);
const [NET_ADMIN, SYS_ADMIN, PERFMON, BPF] = [12, 21, 38, 39];
const env = (caps: bigint, extra: Partial<ProbeEnv> = {}): ProbeEnv => ({ caps, kernVersion: 0, ...extra });

describe('helperLookupBlind', () => {
  it('names the lookup capabilities a caller lacks; CAP_SYS_ADMIN passes all of them', () => {
    expect(helperLookupBlind(env(bit(BPF, NET_ADMIN, PERFMON, SYS_ADMIN)))).toEqual([]);
    expect(helperLookupBlind(env(bit(SYS_ADMIN)))).toEqual([]);
    expect(helperLookupBlind(env(bit(BPF, NET_ADMIN)))).toEqual(['cap_perfmon', 'cap_sys_admin']);
    expect(helperLookupBlind(env(bit(BPF, PERFMON)))).toEqual(['cap_sys_admin']);
    expect(helperLookupBlind(env(0n))).toEqual(['cap_bpf', 'cap_perfmon', 'cap_sys_admin']);
    // CAP_NET_ADMIN is no lookup capability: it changes nothing here.
    expect(helperLookupBlind(env(bit(BPF, PERFMON, SYS_ADMIN, NET_ADMIN)))).toEqual(helperLookupBlind(env(bit(BPF, PERFMON, SYS_ADMIN))));
  });
  it('under a token in a child user namespace, CAP_SYS_ADMIN of the initial namespace is missing whatever the namespace grants', () => {
    expect(helperLookupBlind(env(bit(BPF, PERFMON, SYS_ADMIN), { tokenFd: 5, initUserNs: false }))).toEqual(['cap_sys_admin']);
    expect(helperLookupBlind(env(bit(BPF, PERFMON, SYS_ADMIN), { tokenFd: 5 }))).toEqual([]);
  });
});

describe('helperAbsence', () => {
  const o = (log: string) => ({ ok: false, errno: 22, log });
  it('tells an id the kernel does not know from a helper this program and caller are not offered', () => {
    expect(helperAbsence(o('0: (85) call bpf_cgrp_storage_get#210\ninvalid func bpf_cgrp_storage_get#210'), 210)).toBe('unknown-id');
    expect(helperAbsence(o('0: (85) call bpf_per_cpu_ptr#153\nprogram of this type cannot use helper bpf_per_cpu_ptr#153'), 153)).toBe(
      'not-offered',
    );
    expect(helperAbsence(o('0: (85) call bpf_skc_to_tcp_sock#137\nunknown func bpf_skc_to_tcp_sock#137'), 137)).toBe('not-offered');
    // Another id's message, an argument complaint, a load that worked: no absence.
    expect(helperAbsence(o('unknown func bpf_x#12'), 13)).toBeUndefined();
    expect(helperAbsence(o('0: (85) call bpf_map_lookup_elem#1\nR1 type=scalar expected=map_ptr'), 1)).toBeUndefined();
    expect(helperAbsence({ ok: true }, 1)).toBeUndefined();
  });
});

describe('hiddenHelper', () => {
  const absent = interpretHelper({ ok: false, errno: 22, log: 'program of this type cannot use helper bpf_per_cpu_ptr#153' }, 153);
  it('is not-permitted with the kernel errno and words, naming what the caller lacks', () => {
    const r = hiddenHelper(absent, 'per_cpu_ptr', ['cap_perfmon', 'cap_sys_admin']);
    expect(r).toMatchObject({ status: 'not-permitted', errno: 'EINVAL' });
    expect(r.detail).toMatch(/without cap_perfmon, cap_sys_admin, which this process lacks/);
    expect(r.detail).toMatch(/kernels we read hide bpf_per_cpu_ptr from callers without cap_perfmon/);
    expect(r.detail).toMatch(/\(kernel: program of this type cannot use helper bpf_per_cpu_ptr#153\)$/);
  });
  it('gives a hint only when the hinted capability is one the caller lacks', () => {
    expect(hiddenHelper(absent, 'per_cpu_ptr', ['cap_sys_admin']).detail).not.toMatch(/kernels we read/);
    expect(hiddenHelper(absent, 'skb_load_bytes', ['cap_perfmon']).detail).not.toMatch(/kernels we read/);
  });
});

describe('refusedForPrivilege', () => {
  const partial = env(bit(BPF, NET_ADMIN));
  const full = env(bit(BPF, PERFMON, SYS_ADMIN));
  const verifierSaid = { ok: false, errno: 22, log: '0: (06) gotol pc+1\nunknown opcode 06\nprocessed 0 insns' };
  it('makes a verifier refusal not-permitted for a caller without CAP_BPF or CAP_PERFMON', () => {
    const r = refusedForPrivilege(interpretCreate(verifierSaid, 'ISA v4'), verifierSaid, partial, 'ISA v4 (gotol)');
    expect(r).toMatchObject({ status: 'not-permitted', errno: 'EINVAL' });
    expect(r.detail).toMatch(/^ISA v4 \(gotol\): .*lacks cap_perfmon; availability unknown \(kernel: unknown opcode 06\)$/);
  });
  it('keeps it a fact for a caller with both', () => {
    expect(refusedForPrivilege(interpretCreate(verifierSaid, 'x'), verifierSaid, full, 'x')).toMatchObject({ status: 'unsupported' });
  });
  it('keeps an EINVAL from before the verifier a fact: unknown flags and types are refused ahead of every capability check', () => {
    const early = { ok: false, errno: 22, log: '' };
    expect(refusedForPrivilege(interpretCreate(early, 'x'), early, env(0n), 'x')).toMatchObject({ status: 'unsupported' });
  });
  it('treats E2BIG (instruction limit) and an overflowed log (ENOSPC) as the verifier limits of a less privileged caller', () => {
    const big = { ok: false, errno: 7 };
    expect(refusedForPrivilege(interpretCreate(big, 'x'), big, env(0n), 'large programs')).toMatchObject({
      status: 'not-permitted',
      errno: 'E2BIG',
    });
    const long = { ok: false, errno: 28, log: '2: (55) if r0 != 0x0 goto pc-2 BPF program is too large. Processed 1000001 insn' };
    expect(refusedForPrivilege(interpretCreate(long, 'x'), long, partial, 'bounded loops')).toMatchObject({
      status: 'not-permitted',
      errno: 'ENOSPC',
    });
    expect(refusedForPrivilege(interpretCreate(long, 'x'), long, full, 'bounded loops')).toMatchObject({ status: 'error' });
  });
  it('leaves supported, not-permitted and other errors alone', () => {
    expect(refusedForPrivilege({ status: 'supported' }, { ok: true }, env(0n), 'x')).toEqual({ status: 'supported' });
    const eperm = { ok: false, errno: 1 };
    expect(refusedForPrivilege(interpretCreate(eperm, 'x'), eperm, env(0n), 'x')).toEqual(interpretCreate(eperm, 'x'));
  });
});
