// bpffs mounts seen from a pod: the node's paths are reported (what tokenExpectedMounts, the metrics'
// `mount` label and mount: requirements name), the token is created through the pod's own path, and
// a bpffs outside the host root is the pod's, not the node's (issue 16: the pod reported /host/...).
import { describe, expect, it } from 'vitest';
import { supported } from '../../src/contract/result.ts';
import type { TokenCreateOutcome } from '../../src/token/create.ts';
import { discoverBpffs, nodePath } from '../../src/token/manager.ts';

const POD_MOUNTINFO = [
  '600 500 0:40 / / ro,relatime - overlay overlay rw',
  '610 600 0:30 / /host/sys/fs rw,relatime master:5 - sysfs sysfs rw',
  '611 610 0:31 / /host/sys/fs/bpf rw,relatime master:6 - bpf bpf rw,delegate_cmds=map_create',
  '612 600 0:32 / /run/own-bpffs rw,relatime - bpf bpf rw',
].join('\n');

describe('bpffs under a host root', () => {
  it('maps paths under the host root to the node and leaves others out', () => {
    expect(nodePath('/host/sys/fs/bpf', '/host')).toBe('/sys/fs/bpf');
    expect(nodePath('/host/sys/fs/bpf', '/host/')).toBe('/sys/fs/bpf');
    expect(nodePath('/host', '/host')).toBe('/');
    expect(nodePath('/hostile/bpf', '/host')).toBeUndefined();
    expect(nodePath('/sys/fs/bpf', '/')).toBe('/sys/fs/bpf');
  });

  it('reports the node path, creates the token through the pod path', () => {
    const calls: string[] = [];
    const create = (path: string, named: string): TokenCreateOutcome => {
      calls.push(`${path} as ${named}`);
      return { ok: false, result: { status: 'not-permitted', errno: 'EPERM' } };
    };
    const s = discoverBpffs(POD_MOUNTINFO, { create, hostRoot: '/host' });
    expect(calls).toEqual(['/host/sys/fs/bpf as /sys/fs/bpf']);
    expect(s.bpffs).toEqual([
      {
        path: '/sys/fs/bpf',
        localPath: '/host/sys/fs/bpf',
        delegate: { cmds: ['map_create'], maps: [], progs: [], attachs: [] },
        token: { status: 'not-permitted', errno: 'EPERM' },
      },
    ]);
    expect(s.delegations[0]?.path).toBe('/sys/fs/bpf');
  });

  it("on the host itself every bpffs is the node's, with no localPath", () => {
    const create = (): TokenCreateOutcome => ({ ok: false, result: supported() });
    const s = discoverBpffs(POD_MOUNTINFO, { create });
    expect(s.bpffs.map((b) => [b.path, b.localPath])).toEqual([
      ['/host/sys/fs/bpf', undefined],
      ['/run/own-bpffs', undefined],
    ]);
  });
});
