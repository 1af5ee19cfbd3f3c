// The attach section in lanes (docs/probes.md#attach-section) against the same probes one after the
// other, on the running kernel: byte-equal answers as root and under capability drops, and no bpf or
// perf fd left open once the section has returned, though the lanes close theirs on libuv's pool.
import { spawnSync } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { beforeAll, describe, expect, it } from 'vitest';
import { privateReadKey, readPrivatelyAsync } from '../../src/attach/env.ts';
import { attachContext, LANES, probeAttach, runLanes } from '../../src/attach/index.ts';
import { startNamespaceWorker } from '../../src/attach/netns.ts';
import { LOAD_SHIM, loadShimPath } from '../../src/collect/shim-path.ts';
import type { FactSection } from '../../src/contract/report.ts';
import { liveFdCount } from '../../src/native/bpf.ts';
import { bpfFds } from '../helpers/fds.ts';
import { rootOnly } from '../helpers/root.ts';
import { skipUnless } from '../helpers/skip.ts';

const notRoot = rootOnly('test/kernel/attach-lanes.test.ts (attach probes: CAP_BPF, CAP_PERFMON, CAP_NET_ADMIN, CAP_SYS_ADMIN)');

describe.skipIf(notRoot)('attach section in lanes, on the running kernel', () => {
  let sequential: FactSection;
  let lanes: FactSection;
  const fds = { before: [] as string[], after: [] as string[], peak: 0, live: [0, 0] };

  beforeAll(async () => {
    sequential = await probeAttach({ sequential: true });
    fds.before = bpfFds();
    fds.live[0] = liveFdCount();
    // Sampled whenever the lanes wait: the deferred closes are visible mid-section.
    const sampler = setInterval(() => {
      fds.peak = Math.max(fds.peak, bpfFds().length);
    }, 1);
    try {
      lanes = await probeAttach();
    } finally {
      clearInterval(sampler);
    }
    fds.after = bpfFds();
    fds.live[1] = liveFdCount();
  });

  it('answers byte for byte what the probes one after the other answer, as root', () => {
    expect(JSON.stringify(lanes, null, 1)).toBe(JSON.stringify(sequential, null, 1));
    // Not vacuous: on this kernel some hooks attach, so links and perf events were made and closed.
    expect(Object.values(lanes).filter((f) => f.status === 'supported').length).toBeGreaterThan(5);
  });

  it('leaves no bpf or perf fd open once the section has returned', () => {
    // The check sees our fds: the lanes held some while they ran.
    expect(fds.peak).toBeGreaterThan(fds.before.length);
    expect(fds.after).toEqual(fds.before);
    expect(fds.live[1]).toBe(fds.live[0]);
  });

  it('closes every deferred fd before the lanes resolve, without the network namespace worker to wait for', async () => {
    // In the whole section the netns worker is the longest wait and hides a close still pending;
    // the uprobe lanes alone end with their slowest detach (a uprobe perf event, ~75 ms here).
    const uprobeLanes = LANES.filter((lane) => lane.some(([key]) => key.startsWith('uprobe')));
    expect(uprobeLanes.length).toBe(2);
    const before = { fds: bpfFds(), live: liveFdCount() };
    const out = await runLanes(attachContext(), uprobeLanes);
    // close(2) takes the fd out of the table before the detach work: /proc/self/fd shows a close that
    // was never made, and our own count one that has not returned yet.
    expect({ fds: bpfFds(), live: liveFdCount() }).toEqual(before);
    expect(Object.keys(out).sort()).toEqual(['uprobe', 'uprobe_multi']);
    expect(out).toEqual({ uprobe: lanes.uprobe, uprobe_multi: lanes.uprobe_multi });
  });

  it('reads tracefs and securityfs in the worker thread as the private-mount child process does, and leaves no mount', async () => {
    const reads: [string, string][] = [
      ['tracefs', 'events/sched/sched_process_exec/id'],
      ['securityfs', 'lsm'],
      ['securityfs', 'lockdown'],
      ['securityfs', 'no-such-file'],
      ['no-such-fs', 'x'],
    ];
    const worker = startNamespaceWorker('/', reads);
    const ahead = await worker.ahead;
    // A read that fails costs the thread nothing else: the hooks answer as in the section.
    const hooks = await worker.hooks;
    expect(hooks).toEqual({ tcx: lanes.tcx, netkit: lanes.netkit, xdp_generic: lanes.xdp_generic });
    expect(Object.keys(ahead).sort()).toEqual(['securityfs:lockdown', 'securityfs:lsm', 'tracefs:events/sched/sched_process_exec/id']);
    for (const [fs, rel] of reads.slice(0, 3)) {
      const child = await readPrivatelyAsync(fs, rel);
      expect({ at: `${fs} ${rel}`, text: ahead[privateReadKey(fs, rel)] }).toEqual({
        at: `${fs} ${rel}`,
        text: 'text' in child ? child.text : child.why,
      });
    }
    // What the thread could not read is left to the child process, and reads as it always did.
    expect(ahead[privateReadKey('securityfs', 'no-such-file')]).toBeUndefined();
    // (Its reason names the child's temp dir, different each time.)
    const why = (r: { text: string } | { why: string }) => ('why' in r ? r.why.replace(/bpfready-securityfs-\w+/, 'DIR') : r.text);
    const viaRead = why(await worker.read('securityfs', 'no-such-file'));
    expect(viaRead).toBe(why(await readPrivatelyAsync('securityfs', 'no-such-file')));
    expect(viaRead).toMatch(/DIR\/no-such-file/);
    // Private mounts: nothing of ours in this process's mount namespace or the node's.
    const ours = (path: string) =>
      readFileSync(path, 'utf8')
        .split('\n')
        .filter((l) => /bpfready-(tracefs|securityfs)-/.test(l));
    expect(ours('/proc/self/mountinfo')).toEqual([]);
    expect(ours('/proc/1/mountinfo')).toEqual([]);
  });

  // Fewer capabilities, in a process of their own (native-shim sets every capability set to exactly
  // these): what is refused reads the same, in the same words, whichever way the probes ran.
  it.each([
    'cap_bpf,cap_perfmon,cap_net_admin,cap_sys_admin',
    'cap_bpf,cap_perfmon,cap_net_admin',
    'cap_bpf,cap_perfmon',
    'cap_bpf',
    'none',
  ])('answers the same with only %s, and leaves no fd open', (keep) => {
    if (skipUnless(loadShimPath() !== undefined, 'attach lanes under capability drops', `no ${LOAD_SHIM} (npm ci builds it)`)) return;
    const run = spawnSync(LOAD_SHIM, ['caps', '--keep', keep, '--', process.execPath, 'test/kernel/scripts/attach-lanes-runner.ts'], {
      maxBuffer: 16 << 20,
    });
    expect(run.status, run.stderr.toString()).toBe(0);
    const out = JSON.parse(run.stdout.toString()) as {
      effective: string[];
      sequential: FactSection;
      lanes: FactSection;
      fds: { before: string[]; afterSequential: string[]; afterLanes: string[] };
    };
    expect(out.effective.sort()).toEqual(keep === 'none' ? [] : keep.split(',').sort());
    expect(JSON.stringify(out.lanes, null, 1)).toBe(JSON.stringify(out.sequential, null, 1));
    expect(out.fds.afterSequential).toEqual(out.fds.before);
    expect(out.fds.afterLanes).toEqual(out.fds.before);
    // The drop is real: without CAP_SYS_ADMIN the private network namespace cannot be made.
    if (!keep.includes('cap_sys_admin')) expect(out.lanes.tcx!.detail).toContain('CAP_SYS_ADMIN');
  });
});
