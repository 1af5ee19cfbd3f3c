// The cgroup attach probe where no cgroup can be created (a pod: cgroupfs read-only). Inside its own
// cgroup namespace it links a pass-all program to its own cgroup; in the initial cgroup namespace,
// where "our own cgroup" would be the node's root cgroup, it refuses.
import { execFileSync, spawnSync } from 'node:child_process';
import { mkdirSync, rmdirSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { rootOnly } from '../helpers/root.ts';
import { readMounts } from '../../src/kernel/statfs-mounts.ts';

const skip = rootOnly('cgroup attach probe in a read-only cgroupfs');
const NODE = join(process.cwd(), 'node_modules/node/bin/node');
const SCRIPT = join(process.cwd(), 'test/kernel/scripts/cgroup-probe.ts');

describe.skipIf(skip)('cgroup attach with a read-only cgroup2 (a pod)', () => {
  const root = readMounts('/').byFs.cgroup2[0]?.path;

  it('links to its own cgroup inside a cgroup namespace, and leaves nothing attached', () => {
    expect(root, 'a cgroup2 mount').toBeTruthy();
    const pod = join(root!, `bpfready-test-pod-${process.pid}`);
    mkdirSync(pod);
    try {
      // Move a shell into the "pod" cgroup, then give it a cgroup namespace rooted there and a
      // read-only cgroup2 mount, as a container runtime does.
      const r = spawnSync(
        'sh',
        [
          '-c',
          `echo $$ > ${pod}/cgroup.procs && exec unshare -C -m --propagation private sh -c 'umount ${root} && mount -t cgroup2 -o ro none ${root} && exec ${NODE} ${SCRIPT}'`,
        ],
        { encoding: 'utf8' },
      );
      expect(r.status, r.stderr).toBe(0);
      const fact = JSON.parse(r.stdout) as { status: string; detail?: string };
      expect(fact.status).toBe('supported');
      expect(fact.detail).toMatch(/not writable \(EROFS\).*our own cgroup/);
      // Nothing of ours remains attached to the pod cgroup.
      const progs = execFileSync('bpftool', ['cgroup', 'show', pod], { encoding: 'utf8' });
      expect(progs).not.toMatch(/bpfready/);
    } finally {
      rmdirSync(pod);
    }
  });

  it('refuses to touch the node root cgroup in the initial cgroup namespace', () => {
    const r = spawnSync(
      'unshare',
      ['-m', '--propagation', 'private', 'sh', '-c', `mount -o remount,bind,ro ${root} && exec ${NODE} ${SCRIPT}`],
      { encoding: 'utf8' },
    );
    expect(r.status, r.stderr).toBe(0);
    const fact = JSON.parse(r.stdout) as { status: string; detail?: string };
    expect(fact.status).toBe('error');
    expect(fact.detail).toMatch(/node's root cgroup: not probed/);
  });
});
