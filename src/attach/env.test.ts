import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { gzipSync } from 'node:zlib';
import { afterEach, describe, expect, it } from 'vitest';
import { configState, hasCap, readKernelConfig, CAP_BPF, CAP_PERFMON } from './env.ts';

const roots: string[] = [];
function hostRoot(files: Record<string, string | Uint8Array>): string {
  const root = mkdtempSync(join(tmpdir(), 'bpfready-attach-env-'));
  roots.push(root);
  for (const [rel, content] of Object.entries(files)) {
    mkdirSync(join(root, rel, '..'), { recursive: true });
    writeFileSync(join(root, rel), content);
  }
  return root;
}
afterEach(() => {
  for (const r of roots.splice(0)) rmSync(r, { recursive: true, force: true });
});

const CONFIG = '# comment\nCONFIG_KPROBES=y\n# CONFIG_FPROBE is not set\nCONFIG_NETKIT=m\nCONFIG_LSM="lockdown,bpf"\n';

describe('readKernelConfig', () => {
  it('reads /proc/config.gz under the host root and tells y, m and unset apart', () => {
    const cfg = readKernelConfig(hostRoot({ 'proc/config.gz': gzipSync(CONFIG) }), '6.1.0');
    expect(configState(cfg, 'CONFIG_KPROBES')).toBe('y');
    expect(configState(cfg, 'CONFIG_NETKIT')).toBe('m');
    expect(configState(cfg, 'CONFIG_FPROBE')).toBe('unset');
    expect(configState(cfg, 'CONFIG_NEVER_HEARD_OF')).toBe('unset');
    expect(cfg?.get('CONFIG_LSM')).toBe('"lockdown,bpf"');
  });

  it("falls back to this release's /boot config, never another release's", () => {
    const root = hostRoot({ 'boot/config-6.1.0-other': 'CONFIG_KPROBES=y\n', 'lib/modules/6.1.0/config': '# CONFIG_KPROBES is not set\n' });
    expect(configState(readKernelConfig(root, '6.1.0'), 'CONFIG_KPROBES')).toBe('unset');
    expect(readKernelConfig(root, '6.2.0')).toBeUndefined();
  });

  it('says unknown, not unset, when there is no config, and skips a corrupt config.gz', () => {
    expect(configState(undefined, 'CONFIG_KPROBES')).toBe('unknown');
    const root = hostRoot({ 'proc/config.gz': 'not gzip', 'boot/config-6.1.0': 'CONFIG_KPROBES=y\n' });
    expect(configState(readKernelConfig(root, '6.1.0'), 'CONFIG_KPROBES')).toBe('y');
  });
});

describe('hasCap', () => {
  it('reads bits of CapEff and treats an unknown set as lacking everything', () => {
    const caps = (1n << BigInt(CAP_BPF)) | 1n;
    expect(hasCap(caps, CAP_BPF)).toBe(true);
    expect(hasCap(caps, CAP_PERFMON)).toBe(false);
    expect(hasCap(undefined, CAP_BPF)).toBe(false);
  });
});
