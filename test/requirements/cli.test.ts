// `bpfready check` end to end, as an operator runs it: exit 0 when everything holds, 1 when something
// does not, 2 for bad input or usage — and bad input never prints a stack trace.
import { spawnSync } from 'node:child_process';
import { resolve } from 'node:path';
import { describe, expect, it } from 'vitest';
import type { CheckDocument } from '../../src/commands/check.ts';
import { rootOnly } from '../helpers/root.ts';
import { clangAvailable, fixtures } from './fixtures.ts';

const BIN = resolve(import.meta.dirname, '../../bin/bpfready');
const CORPUS = (name: string): string => resolve(import.meta.dirname, '../corpus/libbpf-tools', `${name}.bpf.o`);
const run = (...args: string[]) => {
  const r = spawnSync(BIN, ['check', ...args], { encoding: 'utf8', timeout: 120_000 });
  return { code: r.status, stdout: r.stdout, stderr: r.stderr };
};
const noStack = (s: string): void => expect(s).not.toMatch(/\n\s+at /);
const RANK = { supported: 0, 'not-permitted': 1, error: 2, unsupported: 3 } as const;
/** The object's status is the worst of its groups here (fsslower has no program outside one). */
const worstGroup = (d: CheckDocument): string =>
  d.groups!.map((g) => g.status).reduce((w, s) => (RANK[s] > RANK[w] ? s : w), 'supported' as keyof typeof RANK);

describe('bpfready check: bad input and usage → 2', () => {
  it.each([
    [['--elf', '/etc/hostname'], /bpfready check: \/etc\/hostname: not an ELF64 eBPF object/],
    [['--elf', '/nonexistent.o'], /\/nonexistent\.o: cannot read: ENOENT/],
    // A device would be read without end.
    [['--elf', '/dev/zero'], /\/dev\/zero: cannot read: not a regular file/],
    [['--profile', 'nope'], /unknown profile "nope"/],
    [['--require', 'map-type:nope'], /--require: #1: map-type:nope: unknown map type/],
    [[], /nothing to check/],
    [['--frobnicate'], /Unknown option '--frobnicate'/],
    [['--profile', 'cilium', '--host-root', '/nonexistent'], /--host-root \/nonexistent: \/nonexistent: ENOENT/],
    [['--advise', '--profile', 'cilium'], /--advise and --verify need --elf/],
    [['--program', 'x', '--profile', 'cilium'], /--program needs --elf/],
    [
      ['--elf', CORPUS('fsslower'), '--program', 'no_such'],
      /--program no_such: not a program of .*fsslower\.bpf\.o \(it has .*file_read_fentry/,
    ],
  ])('%j', (args, msg) => {
    const r = run(...args);
    expect(r.code).toBe(2);
    expect(r.stderr).toMatch(msg);
    noStack(r.stderr);
  });
});

const skip = rootOnly('test/requirements/cli.test.ts (probes the kernel)') || !clangAvailable();

describe.skipIf(skip)('bpfready check on this node', () => {
  it('--json: the exit code is the verdict, and every unmet requirement has a status and remediation', () => {
    for (const name of ['net_xdp', 'lsm', 'trace']) {
      const r = run('--elf', fixtures().get(name)!, '--json');
      noStack(r.stderr);
      const doc = JSON.parse(r.stdout) as CheckDocument;
      expect(r.code).toBe(doc.ok ? 0 : 1);
      // These objects have no alternatives: every requirement not met stands in the way.
      expect(doc.groups).toEqual([]);
      expect(doc.unmet).toEqual(doc.results.filter((v) => v.status !== 'supported'));
      for (const v of doc.unmet) expect(v.remediation.length).toBeGreaterThan(0);
      expect(doc.object!.programs.length).toBeGreaterThan(0);
    }
  });

  it('a requirement this node meets exits 0; the text report lists unmet ones with remediation', () => {
    expect(run('--require', 'map-type:array', '--require', 'program-type:socket_filter').code).toBe(0);
    const r = run('--elf', fixtures().get('lsm')!);
    expect(r.code).toBe(1);
    expect(r.stdout).toMatch(/✗ program-type:lsm\/lsm_mac: not-permitted \(EPERM\)/);
    expect(r.stdout).toMatch(/→ /);
  });

  it('an object of others (libbpf-tools fsslower: fentry and kprobe variants) gets per-program and group verdicts; --program picks what loads', () => {
    const all = JSON.parse(run('--elf', CORPUS('fsslower'), '--json').stdout) as CheckDocument;
    expect(all.programs!.length).toBe(16);
    expect(all.groups!.map((g) => g.id)).toContain('function:dummy_file_read');
    expect(all.groups!.find((g) => g.id === 'function:dummy_file_read')!.alternatives.map((a) => a.programs)).toEqual([
      ['file_read_fentry', 'file_read_fexit'],
      ['file_read_entry', 'file_read_exit'],
    ]);
    expect(all.status).toBe(worstGroup(all));
    const one = run('--elf', CORPUS('fsslower'), '--program', 'file_read_entry', '--json');
    const doc = JSON.parse(one.stdout) as CheckDocument;
    expect(one.code).toBe(doc.ok ? 0 : 1);
    expect(doc.groups).toEqual([]);
    expect(doc.programs!.filter((p) => p.loaded).map((p) => p.name)).toEqual(['file_read_entry']);
    expect(doc.sources.programs).toEqual(['file_read_entry']);
  });

  it('--advise prints the least capabilities and the bpffs delegation', () => {
    const r = run('--elf', fixtures().get('net_xdp')!, '--advise', '--json');
    const doc = JSON.parse(r.stdout) as CheckDocument;
    expect(doc.leastPrivilege!.capabilities).toEqual(['cap_bpf', 'cap_net_admin']);
    expect(doc.leastPrivilege!.mountOptions).toContain('delegate_progs=xdp');
  });
});

describe.skipIf(rootOnly('test/requirements/cli.test.ts (a marking helper, probed on this kernel)'))(
  'a requirement on a helper the default probe leaves alone for its marks',
  () => {
    it('is probed for that check, with the answer `probe --full` gives, never "not probed"', () => {
      const r = run('--json', '--require', 'helper:kprobe/trace_printk');
      const d = JSON.parse(r.stdout) as CheckDocument;
      const full = spawnSync(BIN, ['probe', '--json', '--tables-only', '--full'], {
        encoding: 'utf8',
        timeout: 120_000,
        maxBuffer: 64 << 20,
      });
      const probed = (JSON.parse(full.stdout) as { helpers: Record<string, Record<string, { status: string }>> }).helpers['kprobe']![
        'bpf_trace_printk'
      ]!;
      expect(d.results.map((v) => ({ id: v.id, status: v.status }))).toEqual([{ id: 'helper:kprobe/trace_printk', status: probed.status }]);
      expect(r.code).toBe(probed.status === 'supported' ? 0 : 1);
      expect(r.stdout).not.toMatch(/not probed/);
    });
  },
);
