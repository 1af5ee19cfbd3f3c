// A pod's view of its host, without the image: the JIT sysctls exist only in the initial network
// namespace, so a probe from a network namespace of its own must read them there (docs/facts.md,
// "Per network namespace"), and say "unknown", never "absent", when it may not.
import { spawnSync } from 'node:child_process';
import { describe, expect, it } from 'vitest';
import { BIN } from '../e2e/process.ts';
import { rootOnly } from '../helpers/root.ts';

const skip = rootOnly('test/container/host-views.test.ts (network namespaces)');
const JIT = ['net.core.bpf_jit_enable', 'net.core.bpf_jit_harden', 'net.core.bpf_jit_kallsyms', 'net.core.bpf_jit_limit'];

type Fact = { status: string; value?: unknown; detail?: string; errno?: string };
function sysctls(prefix: string[]): Record<string, Fact> {
  const r = spawnSync(prefix[0]!, [...prefix.slice(1), BIN, 'probe', '--json', '--no-attach'].filter(Boolean), {
    encoding: 'utf8',
    maxBuffer: 256 << 20,
    timeout: 180_000,
  });
  expect(r.status, r.stderr).toBe(0);
  return (JSON.parse(r.stdout) as { sysctl: Record<string, Fact> }).sysctl;
}

describe.skipIf(skip)('the JIT sysctls from a network namespace of our own', () => {
  it("read in the initial namespace: the host's values", () => {
    const host = sysctls(['env']);
    const own = sysctls(['unshare', '--net']);
    for (const k of JIT) expect(host[k]?.status, k).toBe('supported');
    // A new network namespace has no net.core.bpf_jit_* at all: these come from the initial one.
    expect(spawnSync('unshare', ['--net', 'cat', '/proc/sys/net/core/bpf_jit_enable']).status).not.toBe(0);
    for (const k of JIT) expect(own[k], k).toEqual(host[k]);
  });

  it('without CAP_SYS_ADMIN to enter it: not-permitted, never absent', () => {
    const own = sysctls(['unshare', '--net', 'capsh', '--drop=cap_sys_admin', '--', '-c', `exec "$0" "$@"`]);
    for (const k of JIT) {
      expect(own[k]?.status, k).toBe('not-permitted');
      expect(own[k]?.detail).toMatch(/exists only in the initial network namespace.*setns\(CLONE_NEWNET\): EPERM/);
    }
  });
});

// The chart sets BPFREADY_HOST_ROOT; `kubectl exec … bpfready probe|check` in the pod must use it, as
// serve and daemon do (the in-pod test shows the positive side: the node's distro and namespaces).
describe('probe and check read BPFREADY_HOST_ROOT', () => {
  it.each([['probe'], ['check', '--profile', 'cilium']])('%s: a bad BPFREADY_HOST_ROOT is refused naming the variable', (...args) => {
    const r = spawnSync(BIN, args, { encoding: 'utf8', timeout: 60_000, env: { ...process.env, BPFREADY_HOST_ROOT: '/nonexistent/host' } });
    expect(r.status).toBe(2);
    expect(r.stderr).toMatch(/BPFREADY_HOST_ROOT=\/nonexistent\/host: \/nonexistent\/host: ENOENT/);
  });

  it('--host-root wins over the variable', () => {
    const r = spawnSync(BIN, ['probe', '--host-root', '/nonexistent/flag'], {
      encoding: 'utf8',
      timeout: 60_000,
      env: { ...process.env, BPFREADY_HOST_ROOT: '/' },
    });
    expect(r.status).toBe(2);
    expect(r.stderr).toMatch(/--host-root \/nonexistent\/flag: /);
  });
});
