// A host root full of malformed files (a corrupt config.gz, BTF, os-release, mountinfo, sysctl):
// `bpfready probe` must finish, name each bad input in its detail, and keep uname's identity.
import { spawnSync } from 'node:child_process';
import { mkdirSync, mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import type { ProbeReport } from '../../src/contract/report.ts';
import { rootOnly } from '../helpers/root.ts';
import { rng } from '../fuzz/harness.ts';

const skip = rootOnly('probe with a corrupt host root');

describe.skipIf(skip)('bpfready probe --host-root over malformed files', () => {
  it('exits 0 with every bad input named in an error fact, never a crash', () => {
    const root = mkdtempSync(join(tmpdir(), 'bpfready-badroot-'));
    const rand = rng(7);
    const junk = (n: number) => Buffer.from(Array.from({ length: n }, () => Math.floor(rand() * 256)));
    for (const d of ['proc/sys/kernel', 'proc/1', 'sys/kernel/btf', 'etc']) mkdirSync(join(root, d), { recursive: true });
    writeFileSync(join(root, 'proc/config.gz'), junk(4096));
    writeFileSync(join(root, 'sys/kernel/btf/vmlinux'), junk(65536));
    writeFileSync(join(root, 'proc/sys/kernel/unprivileged_bpf_disabled'), 'garbage\n');
    writeFileSync(join(root, 'etc/os-release'), 'NAME="unterminated\n');
    writeFileSync(join(root, 'proc/1/mountinfo'), '1 2 not a mountinfo line\n');
    const r = spawnSync('./bin/bpfready', ['probe', '--json', '--host-root', root], {
      encoding: 'utf8',
      maxBuffer: 64 << 20,
      timeout: 120_000,
    });
    expect(r.status, r.stderr).toBe(0);
    expect(r.stderr).not.toMatch(/\n\s+at /); // no stack trace
    const report = JSON.parse(r.stdout) as ProbeReport & Record<string, Record<string, { status: string; detail?: string }>>;
    expect(report.kernel.release).toMatch(/^\d+\.\d+/);
    expect(report['btf']!['vmlinux']).toMatchObject({
      status: 'error',
      detail: expect.stringContaining(join(root, 'sys/kernel/btf/vmlinux')),
    });
    expect(report['config']!['source']).toMatchObject({ status: 'error', detail: expect.stringMatching(/config\.gz: not valid gzip/) });
    expect(report.programTypes['lsm']).toMatchObject({ status: 'error', detail: expect.stringMatching(/vmlinux BTF is unreadable/) });
    // What needs no host file is still probed for real.
    expect(report.programTypes['xdp']!.status).toBe('supported');
  });
});
