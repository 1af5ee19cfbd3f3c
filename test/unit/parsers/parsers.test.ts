// Pure parsers of system facts: fixtures and malformed input (their fuzzing: test/fuzz/kernel-parsers.test.ts).
import { readFileSync } from 'node:fs';
import { describe, expect, it } from 'vitest';
import { ParseError } from '../../../src/base/errors.ts';
import { parseKconfig } from '../../../src/kernel/kconfig.ts';
import { parseOsRelease } from '../../../src/kernel/osrelease.ts';
import { capabilityNames, CAP, hasCap, parseProcStatus } from '../../../src/kernel/procstatus.ts';
import { parseSysctlInt } from '../../../src/kernel/sysctl.ts';
import { parseLockdown, parseLsmList } from '../../../src/kernel/security.ts';
import { cmdlinePreempt, parseSchedPreempt } from '../../../src/kernel/cpu.ts';
import { parseNsLink } from '../../../src/kernel/namespaces.ts';

const fixture = (name: string) => readFileSync(new URL(`../../fixtures/kernel/${name}`, import.meta.url), 'utf8');

describe('parseKconfig', () => {
  it('reads y, m, unset, strings and numbers', () => {
    const c = parseKconfig(fixture('kconfig-sample.txt'), 'kconfig-sample.txt');
    expect(c.get('BPF_SYSCALL')).toBe('y');
    expect(c.get('KPROBES')).toBe('n');
    expect(c.get('LSM')).toBe('landlock,lockdown,yama,loadpin,safesetid,integrity,smack,tomoyo,apparmor,bpf');
    expect(c.get('HZ')).toMatch(/^\d+$/);
    expect(c.get('NO_SUCH_OPTION')).toBeUndefined();
    const m = parseKconfig('CONFIG_NETKIT=m\nCONFIG_X="a \\"q\\" b"\nCONFIG_ADDR=0x1000\nCONFIG_NEG=-1\n');
    expect([...m]).toEqual([
      ['NETKIT', 'm'],
      ['X', 'a "q" b'],
      ['ADDR', '0x1000'],
      ['NEG', '-1'],
    ]);
  });
  it.each([
    ['garbage line', 'CONFIG_A=y\nhello\n', /line 2: not a CONFIG_ assignment/],
    ['bad value', 'CONFIG_A=yes please\n', /line 1: unrecognised value for CONFIG_A/],
    ['unterminated string', 'CONFIG_A="abc\n', /unrecognised value/],
  ])('rejects %s with a ParseError naming the input and line', (_, text, msg) => {
    expect(() => parseKconfig(text, '/boot/config-x')).toThrow(ParseError);
    expect(() => parseKconfig(text, '/boot/config-x')).toThrow(msg);
    expect(() => parseKconfig(text, '/boot/config-x')).toThrow(/^\/boot\/config-x line \d+: /);
  });
});

describe('parseProcStatus / capabilities', () => {
  it('decodes the five capability sets of a real status file', () => {
    const s = parseProcStatus(fixture('proc-status.txt'), 'proc-status.txt');
    const raw = /CapEff:\s*([0-9a-f]+)/.exec(fixture('proc-status.txt'))![1]!;
    expect(s.caps.effective).toBe(BigInt(`0x${raw}`));
    expect(s.fields.Name).toBeDefined();
  });
  it('names capability bits after linux/capability.h', () => {
    expect(capabilityNames(0n)).toEqual([]);
    expect(capabilityNames((1n << 39n) | (1n << 38n) | (1n << 21n) | (1n << 12n) | 1n)).toEqual([
      'cap_chown',
      'cap_net_admin',
      'cap_sys_admin',
      'cap_perfmon',
      'cap_bpf',
    ]);
    expect(capabilityNames(1n << 45n)).toEqual(['cap_45']);
    expect(hasCap(1n << 39n, CAP.BPF)).toBe(true);
    expect(hasCap(1n << 39n, CAP.PERFMON)).toBe(false);
  });
  it('treats a missing CapAmb (before 4.3) as empty', () => {
    const s = parseProcStatus('CapInh:\t0\nCapPrm:\t1\nCapEff:\t1\nCapBnd:\tff\n', 'old');
    expect(s.caps.ambient).toBe(0n);
    expect(s.caps.bounding).toBe(0xffn);
  });
  it.each([
    ['no colon', 'Name bash\n', /line 1: not a "Key: value"/],
    ['missing CapEff', 'CapInh:\t0\nCapPrm:\t0\nCapBnd:\t0\n', /missing CapEff/],
    ['non-hex mask', 'CapInh:\t0\nCapPrm:\t0\nCapEff:\tzz\nCapBnd:\t0\n', /CapEff is not a 64-bit hex mask/],
    ['over-long mask', `CapInh:\t0\nCapPrm:\t0\nCapEff:\t${'f'.repeat(17)}\nCapBnd:\t0\n`, /64-bit hex mask/],
  ])('rejects %s with a ParseError naming the input', (_, text, msg) => {
    expect(() => parseProcStatus(text, '/proc/42/status')).toThrow(msg);
    expect(() => parseProcStatus(text, '/proc/42/status')).toThrow(/^\/proc\/42\/status/);
  });
});

describe('parseSysctlInt', () => {
  it('reads single integers, including negatives and large byte counts', () => {
    expect(parseSysctlInt('2\n')).toBe(2);
    expect(parseSysctlInt('-1\n')).toBe(-1);
    expect(parseSysctlInt('528482304\n')).toBe(528482304);
  });
  it.each(['', 'abc', '1 2', '99999999999999999999', '0x10'])('rejects %j', (text) => {
    expect(() => parseSysctlInt(text, '/proc/sys/net/core/bpf_jit_enable')).toThrow(/^\/proc\/sys\/net\/core\/bpf_jit_enable: /);
  });
});

describe('parseOsRelease', () => {
  it('reads quoted and bare values', () => {
    const os = parseOsRelease(fixture('os-release.txt'), 'os-release.txt');
    expect(os.ID).toBe('debian');
    expect(os.PRETTY_NAME).toMatch(/Debian/);
    expect(parseOsRelease('A=\'x y\'\nB="a\\"b"\n# c\n\nC=plain\n')).toEqual({ A: 'x y', B: 'a"b', C: 'plain' });
  });
  it.each([
    ['no equals', 'ID debian\n', /line 1: not a KEY=value/],
    ['unterminated quote', 'NAME="Debian\n', /line 1: unterminated quote in NAME/],
  ])('rejects %s', (_, text, msg) => {
    expect(() => parseOsRelease(text, '/etc/os-release')).toThrow(msg);
  });
});

describe('securityfs files', () => {
  it('reads the active LSM list', () => {
    expect(parseLsmList('lockdown,capability,landlock,yama,bpf')).toEqual(['lockdown', 'capability', 'landlock', 'yama', 'bpf']);
    expect(parseLsmList('\n')).toEqual([]);
    expect(() => parseLsmList('bpf,,selinux', 'lsm')).toThrow(/^lsm: not an LSM name/);
  });
  it('reads the bracketed lockdown level', () => {
    expect(parseLockdown('[none] integrity confidentiality\n')).toEqual({
      mode: 'none',
      available: ['none', 'integrity', 'confidentiality'],
    });
    expect(parseLockdown('none integrity [confidentiality]').mode).toBe('confidentiality');
    expect(() => parseLockdown('none integrity confidentiality', 'lockdown')).toThrow(/no bracketed/);
    expect(() => parseLockdown('[none] [integrity]', 'lockdown')).toThrow(/more than one/);
    expect(() => parseLockdown('[paranoid]', 'lockdown')).toThrow(/unknown lockdown level/);
  });
});

describe('cpu and namespace strings', () => {
  it('reads debugfs sched/preempt and preempt= on the command line', () => {
    expect(parseSchedPreempt('none voluntary (full) lazy\n')).toBe('full');
    expect(() => parseSchedPreempt('none voluntary full', 'sched/preempt')).toThrow(ParseError);
    expect(cmdlinePreempt('quiet preempt=voluntary ro')).toBe('voluntary');
    expect(cmdlinePreempt('quiet')).toBeUndefined();
  });
  it('reads ns links', () => {
    expect(parseNsLink('user:[4026531837]')).toBe(4026531837);
    expect(parseNsLink('garbage')).toBeUndefined();
  });
});
