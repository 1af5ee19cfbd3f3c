// collectSystemFacts against a fabricated host root (a temp directory laid out like a node's / as
// a DaemonSet sees it under /host): proves every reader honours hostRoot and that missing files
// become reasons, not crashes. statfs/readlink run for real; the temp dir simply has no securityfs.
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { gzipSync } from 'node:zlib';
import { afterEach, describe, expect, it } from 'vitest';
import { collectSystemFacts } from '../../../src/facts/index.ts';
import { readKernelConfig } from '../../../src/kernel/kconfig.ts';
import { ParseError } from '../../../src/base/errors.ts';

const RELEASE = '6.6.0-test';
let roots: string[] = [];
afterEach(() => {
  for (const r of roots) rmSync(r, { recursive: true, force: true });
  roots = [];
});

function hostRoot(files: Record<string, string | Uint8Array>): string {
  const root = mkdtempSync(join(tmpdir(), 'bpfready-host-'));
  roots.push(root);
  for (const [path, content] of Object.entries(files)) {
    mkdirSync(dirname(join(root, path)), { recursive: true });
    writeFileSync(join(root, path), content);
  }
  return root;
}

const BASE = {
  '/proc/sys/kernel/osrelease': `${RELEASE}\n`,
  '/proc/sys/kernel/version': '#1 SMP PREEMPT_DYNAMIC Mon Jan 1\n',
  '/etc/os-release': 'PRETTY_NAME="Test Linux 1"\nID=testos\nVERSION_ID=1\n',
  '/proc/sys/kernel/unprivileged_bpf_disabled': '1\n',
  '/proc/sys/net/core/bpf_jit_enable': '1\n',
  '/proc/sys/kernel/perf_event_paranoid': '-1\n',
  '/proc/cmdline': 'ro quiet preempt=full\n',
  '/sys/devices/system/cpu/vulnerabilities/spectre_v2': 'Mitigation: Enhanced IBRS\n',
};

describe('kernel config source', () => {
  it('prefers /proc/config.gz, then /boot/config-<release>, and never another release', () => {
    const root = hostRoot({
      [`/boot/config-${RELEASE}`]: 'CONFIG_BPF=y\n',
      '/boot/config-5.10.0-old': 'CONFIG_BPF=y\nCONFIG_KPROBES=y\n',
      [`/lib/modules/${RELEASE}/config`]: 'CONFIG_BPF=m\n',
    });
    const r = readKernelConfig(root, RELEASE);
    expect(r.ok && r.config.source).toBe(join(root, `/boot/config-${RELEASE}`));
    mkdirSync(join(root, 'proc'));
    writeFileSync(join(root, 'proc/config.gz'), gzipSync('CONFIG_BPF=y\nCONFIG_IKCONFIG_PROC=y\n'));
    const r2 = readKernelConfig(root, RELEASE);
    expect(r2.ok && r2.config.source).toBe(join(root, '/proc/config.gz'));
    expect(readKernelConfig(root, '6.7.0-other')).toEqual({
      ok: true,
      config: expect.objectContaining({ source: join(root, '/proc/config.gz') }),
    });
    rmSync(join(root, 'proc/config.gz'));
    const other = readKernelConfig(root, '6.7.0-other');
    expect(other.ok).toBe(false);
  });
  it('reports a corrupt config.gz as a ParseError naming it, not as "not set"', () => {
    const root = hostRoot({ '/proc/config.gz': 'not gzip' });
    expect(() => readKernelConfig(root, RELEASE)).toThrow(ParseError);
    expect(() => readKernelConfig(root, RELEASE)).toThrow(/config\.gz: not valid gzip/);
  });
});

describe('collectSystemFacts with a host root', () => {
  it('reads every section from under the host root', async () => {
    const root = hostRoot({
      ...BASE,
      [`/boot/config-${RELEASE}`]:
        'CONFIG_BPF=y\nCONFIG_BPF_SYSCALL=y\n# CONFIG_KPROBES is not set\nCONFIG_NETKIT=m\nCONFIG_BPF_LSM=y\nCONFIG_PREEMPT_DYNAMIC=y\nCONFIG_PREEMPT_VOLUNTARY=y\n',
    });
    const f = await collectSystemFacts({ hostRoot: root });
    expect(f.kernel).toMatchObject({ release: RELEASE, distro: 'Test Linux 1', distroId: 'testos' });
    expect(f.config.source).toEqual({ status: 'supported', value: join(root, `/boot/config-${RELEASE}`) });
    expect(f.config.KPROBES).toMatchObject({ status: 'unsupported', detail: expect.stringContaining('CONFIG_KPROBES is not set') });
    expect(f.config.NETKIT).toMatchObject({ status: 'supported', value: 'm' });
    expect(f.config.UPROBES).toMatchObject({ status: 'unsupported', value: null });
    expect(f.sysctl['kernel.unprivileged_bpf_disabled']).toMatchObject({
      status: 'supported',
      value: 1,
      detail: expect.stringContaining('until reboot'),
    });
    expect(f.sysctl['kernel.perf_event_paranoid']).toMatchObject({ status: 'supported', value: -1 });
    expect(f.sysctl['net.core.bpf_jit_harden']).toMatchObject({
      status: 'unsupported',
      errno: 'ENOENT',
      detail: expect.stringContaining('CONFIG_BPF_JIT'),
    });
    expect(f.cpu.spectre_v2).toEqual({ status: 'supported', value: 'Mitigation: Enhanced IBRS' });
    expect(f.cpu.spectre_v1).toMatchObject({ status: 'error' });
    expect(f.cpu.preempt).toMatchObject({ status: 'supported', value: { model: 'full', dynamic: true } });
    // Not a securityfs (statfs magic), so everything it would tell is unknown, never empty or false.
    expect(f.security.lsm).toEqual({ status: 'error', detail: 'unknown: securityfs not mounted' });
    expect(f.security.lockdown).toEqual({ status: 'error', detail: 'unknown: securityfs not mounted' });
    expect(f.security.bpf_lsm).toEqual({ status: 'error', detail: 'unknown: securityfs not mounted' });
    expect(f.btf.vmlinux).toMatchObject({ status: 'unsupported', errno: 'ENOENT' });
    expect(f.btf.kfuncs).toMatchObject({ status: 'error' });
    expect(f.namespaces.mnt).toMatchObject({ status: 'error', errno: 'ENOENT' });
    expect(f.mounts.bpffs).toMatchObject({ status: 'unsupported' });
  });

  it('says why every config fact is unknown when no config for the release exists', async () => {
    const f = await collectSystemFacts({ hostRoot: hostRoot({ ...BASE, '/boot/config-1.0.0-other': 'CONFIG_BPF=y\n' }) });
    expect(f.config.source).toMatchObject({
      status: 'error',
      detail: expect.stringMatching(/^unknown: no kernel config for 6\.6\.0-test \(tried .*proc\/config\.gz: ENOENT/),
    });
    expect(f.config.BPF).toMatchObject({ status: 'error' });
    expect(f.cpu.jit_always_on).toMatchObject({ status: 'error', detail: 'unknown: no kernel config' });
    expect(f.cpu.preempt).toMatchObject({ status: 'supported', value: { model: 'full' } });
  });

  it('reports CONFIG_BPF_LSM unset as the reason BPF LSM is unavailable', async () => {
    const f = await collectSystemFacts({
      hostRoot: hostRoot({ ...BASE, [`/lib/modules/${RELEASE}/config`]: '# CONFIG_BPF_LSM is not set\n' }),
    });
    expect(f.config.source!.value).toMatch(new RegExp(`/lib/modules/${RELEASE}/config$`));
    expect(f.security.bpf_lsm).toEqual({ status: 'unsupported', value: false, detail: 'CONFIG_BPF_LSM is not set' });
  });
});
