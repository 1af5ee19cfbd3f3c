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
  const r = spawnSync(prefix[0]!, [...prefix.slice(1), BIN, 'probe', '--json', '--no-attach'].filter(Boolean), { encoding: 'utf8', maxBuffer: 256 << 20, timeout: 180_000 });
  expect(r.status, r.stderr).toBe(0);
  return (JSON.parse(r.stdout) as { sysctl: Record<string, Fact> }).sysctl;
}

describe.skipIf(skip)('the JIT sysctls from a network namespace of our own', () => {
  it('read in the initial namespace: the host\'s values', () => {
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
