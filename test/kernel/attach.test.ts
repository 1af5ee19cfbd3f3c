// Attachability probes against the running kernel. Needs root (CAP_BPF, CAP_PERFMON, CAP_NET_ADMIN,
// CAP_SYS_ADMIN for the private network namespace); CI runs as root. Expectations are derived from
// the machine (kernel config, a direct load), never hard-coded per host.
import { execFileSync } from 'node:child_process';
import { readdirSync, readlinkSync } from 'node:fs';
import { release } from 'node:os';
import { beforeAll, describe, expect, it } from 'vitest';
import { ATTACH_KEYS, attachContext, probeAttach } from '../../src/attach/index.ts';
import { PROG_NAME } from '../../src/attach/context.ts';
import { cgroup2Mount, configState, kernelConfig } from '../../src/attach/env.ts';
import { loadedProgramsOfType, TRAMPOLINES } from '../../src/attach/tracing.ts';
import { BtfKind } from '../../src/kernel/btf.ts';
import { liveFdCount, progLoad } from '../../src/native/bpf.ts';
import { RETURN_ZERO } from '../../src/native/insn.ts';
import type { FactSection } from '../../src/contract/report.ts';
import { STATUSES } from '../../src/contract/result.ts';
import { skipUnless } from '../helpers/skip.ts';
import { rootOnly } from '../helpers/root.ts';

const isRoot = !rootOnly('test/kernel/attach.test.ts (attach probes: CAP_BPF, CAP_PERFMON, CAP_NET_ADMIN, CAP_SYS_ADMIN)');

interface BpftoolProg {
  id: number;
  name?: string;
}
interface BpftoolLink {
  id: number;
  prog_id?: number;
}

function bpftool<T>(what: 'prog' | 'link'): T[] | undefined {
  try {
    return JSON.parse(execFileSync('bpftool', ['-j', what, 'show'], { encoding: 'utf8' }) || '[]') as T[];
  } catch {
    return undefined;
  }
}

const openFds = () => readdirSync('/proc/self/fd').length;
const [major = 0, minor = 0] = release()
  .split('.')
  .map((n) => Number.parseInt(n, 10));
const atLeast = (ma: number, mi: number) => major > ma || (major === ma && minor >= mi);

describe.skipIf(!isRoot)('attach probes on the running kernel', () => {
  let facts: FactSection;
  let fdsBefore: number;
  let fdsAfter: number;
  let liveBefore: number;
  let liveAfter: number;
  let linksBefore: BpftoolLink[] | undefined;
  const netnsBefore = readlinkSync('/proc/thread-self/ns/net');
  const config = kernelConfig('/');
  const ctx = attachContext();

  beforeAll(async () => {
    linksBefore = bpftool<BpftoolLink>('link');
    fdsBefore = openFds();
    liveBefore = liveFdCount();
    facts = await probeAttach();
    liveAfter = liveFdCount();
    fdsAfter = openFds();
  });

  it('answers every attach point in the result contract, with a reason for each non-supported one', () => {
    expect(Object.keys(facts)).toEqual([...ATTACH_KEYS]);
    for (const [key, f] of Object.entries(facts)) {
      expect(STATUSES, key).toContain(f.status);
      expect(f.detail, key).toBeTruthy();
      if (f.status !== 'supported' && f.errno === undefined) expect(f.detail, key).toMatch(/CONFIG_|not |no /);
      // EPERM/EACCES never prove absence (facts §8).
      if (f.errno === 'EPERM' || f.errno === 'EACCES') expect(f.status, key).toBe('not-permitted');
    }
  });

  it('kprobe: the program type loads, and attach is unsupported naming CONFIG_KPROBES when kprobes are not configured', () => {
    const load = progLoad({ progType: 2, insns: RETURN_ZERO });
    expect(load.ok).toBe(true);
    if (load.ok) load.fd.close();
    for (const key of ['kprobe', 'kretprobe']) {
      if (configState(config, 'CONFIG_KPROBES') === 'unset') {
        expect(facts[key]!.status, key).toBe('unsupported');
        expect(facts[key]!.detail, key).toContain('CONFIG_KPROBES');
      } else {
        expect(facts[key]!.status, key).not.toBe('unsupported');
      }
    }
  });

  it('fentry/fexit/fmod_ret/lsm: a load refused with EPERM despite the capabilities is not-permitted, with the diagnosis', () => {
    for (const key of ['fentry', 'fexit', 'fmod_ret', 'lsm'] as const) {
      const t = TRAMPOLINES[key];
      const func = t.funcs[0];
      const id = ctx.btf?.findId(BtfKind.FUNC, func);
      expect(id, func).toBeDefined();
      const load = progLoad({ progType: t.progType, insns: RETURN_ZERO, expectedAttachType: t.attachType, attachBtfId: id! });
      if (load.ok) {
        load.fd.close();
        // The load works here, so the answer is about the attach (or, for lsm, the active list).
        expect(facts[key]!.status, key).not.toBe('not-permitted');
      } else if (load.errno === 1) {
        expect(facts[key]!.status, key).toBe('not-permitted');
        expect(facts[key]!.errno, key).toBe('EPERM');
        expect(facts[key]!.detail, key).toContain('availability unknown');
        expect(facts[key]!.detail, key).toContain('CAP_BPF and CAP_PERFMON are effective');
        expect(facts[key]!.detail, key).toContain('before verification');
      }
    }
  });

  it('counts loaded programs by type (evidence for the EPERM diagnosis)', () => {
    const before = loadedProgramsOfType(2);
    expect(before).toBeDefined();
    const load = progLoad({ progType: 2, insns: RETURN_ZERO });
    expect(load.ok).toBe(true);
    // Other processes may load kprobe programs meanwhile; ours is counted at least.
    expect(loadedProgramsOfType(2)).toBeGreaterThanOrEqual(1);
    if (load.ok) load.fd.close();
  });

  it('cgroup attach to an empty cgroup of our own is supported, and the cgroup is gone afterwards', () => {
    const root = cgroup2Mount();
    expect(root).toBeDefined();
    expect(facts.cgroup!.status).toBe('supported');
    expect(readdirSync(root!).filter((d) => d.startsWith('bpfready-probe-'))).toEqual([]);
  });

  it('tcx and generic XDP attach in a private network namespace, leaving ours untouched', () => {
    expect(facts.xdp_generic!.status).toBe('supported');
    expect(facts.xdp_generic!.detail).toContain('private network namespace');
    if (atLeast(6, 6)) expect(facts.tcx!.status).toBe('supported');
    if (configState(config, 'CONFIG_NETKIT') === 'unset') {
      expect(facts.netkit!.status).toBe('unsupported');
      expect(facts.netkit!.detail).toContain('CONFIG_NETKIT');
    }
    expect(readlinkSync('/proc/thread-self/ns/net')).toBe(netnsBefore);
  });

  it('leaks no file descriptor', () => {
    expect(liveAfter).toBe(liveBefore);
    expect(fdsAfter).toBe(fdsBefore);
  });

  it('leaves no program or link of ours behind', async (testCtx) => {
    const progs = bpftool<BpftoolProg>('prog');
    const links = bpftool<BpftoolLink>('link');
    if (!progs || !links || !linksBefore) {
      skipUnless(false, 'test/kernel/attach.test.ts leftover check', 'bpftool not usable');
      testCtx.skip();
      return;
    }
    // The check is not vacuous: a live program of ours is visible by its name.
    const before = new Set(
      bpftool<BpftoolProg>('prog')
        ?.filter((p) => p.name === PROG_NAME)
        .map((p) => p.id),
    );
    const probe = progLoad({ progType: 2, insns: RETURN_ZERO, name: PROG_NAME });
    expect(probe.ok).toBe(true);
    const seen = bpftool<BpftoolProg>('prog')?.filter((p) => p.name === PROG_NAME && !before.has(p.id)) ?? [];
    if (probe.ok) probe.fd.close();
    expect(seen.length).toBeGreaterThanOrEqual(1);
    // Other processes probe the same kernel meanwhile (the e2e and in-pod tests, under the same
    // name): their programs go within moments, a leaked one stays. A deadline, not a timed assertion.
    let ours = new Set(progs.filter((p) => p.name === PROG_NAME).map((p) => p.id));
    for (const end = Date.now() + 30_000; ours.size && Date.now() < end; await new Promise((r) => setTimeout(r, 200))) {
      const live = new Set(bpftool<BpftoolProg>('prog')?.map((p) => p.id));
      ours = new Set([...ours].filter((id) => live.has(id)));
    }
    expect([...ours]).toEqual([]);
    const known = new Set(linksBefore.map((l) => l.id));
    const newLinksOfOurs = links.filter((l) => !known.has(l.id) && l.prog_id !== undefined && ours.has(l.prog_id));
    expect(newLinksOfOurs).toEqual([]);
  });
});
