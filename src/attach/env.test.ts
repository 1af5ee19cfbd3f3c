import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { gzipSync } from 'node:zlib';
import { afterEach, describe, expect, it } from 'vitest';
import { configState, kernelConfig, pmuDirProblem, pmuRetprobeBit, pmuType } from './env.ts';

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

const CONFIG = '# comment\nCONFIG_KPROBES=y\n# CONFIG_FPROBE is not set\nCONFIG_NETKIT=m\n';

describe('configState', () => {
  it('tells y, m and unset apart, by the option name with its CONFIG_ prefix', () => {
    const cfg = kernelConfig(hostRoot({ 'proc/config.gz': gzipSync(CONFIG) }), '6.1.0');
    expect(configState(cfg, 'CONFIG_KPROBES')).toBe('y');
    expect(configState(cfg, 'CONFIG_NETKIT')).toBe('m');
    expect(configState(cfg, 'CONFIG_FPROBE')).toBe('unset');
    expect(configState(cfg, 'CONFIG_NEVER_HEARD_OF')).toBe('unset');
  });

  it('says unknown, never unset, when no config can be read or the config is malformed', () => {
    expect(configState(kernelConfig(hostRoot({}), '6.1.0'), 'CONFIG_KPROBES')).toBe('unknown');
    expect(configState(kernelConfig(hostRoot({ 'proc/config.gz': 'not gzip' }), '6.1.0'), 'CONFIG_KPROBES')).toBe('unknown');
    // Another release's config is never taken for this one.
    expect(configState(kernelConfig(hostRoot({ 'boot/config-6.2.0': CONFIG }), '6.1.0'), 'CONFIG_KPROBES')).toBe('unknown');
  });
});

describe('PMU files', () => {
  it('reads the dynamic type and the retprobe bit, and nothing from a malformed format file', () => {
    const root = hostRoot({
      'sys/bus/event_source/devices/kprobe/type': '6\n',
      'sys/bus/event_source/devices/kprobe/format/retprobe': 'config:0\n',
      'sys/bus/event_source/devices/uprobe/type': '7\n',
      'sys/bus/event_source/devices/uprobe/format/retprobe': 'garbage\n',
    });
    expect(pmuType(root, 'kprobe')).toBe(6);
    expect(pmuRetprobeBit(root, 'kprobe')).toBe(0);
    expect(pmuRetprobeBit(root, 'uprobe')).toBeUndefined();
    expect(pmuType(root, 'nope')).toBeUndefined();
    expect(pmuDirProblem(root)).toBeUndefined();
    // A pod without the host's /sys/bus/event_source mounted: named, not read as "no PMU".
    expect(pmuDirProblem(hostRoot({}))).toMatch(
      /sys\/bus\/event_source\/devices: ENOENT \(the host's \/sys\/bus\/event_source and \/sys\/devices must be mounted/,
    );
  });
});
