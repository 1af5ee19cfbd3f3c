// The pure parsers of system facts, each against 100k random and mutated inputs: every input parses
// or is a ParseError naming it, none hangs (test/fuzz/harness.ts).
import { readFileSync } from 'node:fs';
import { describe, expect, it } from 'vitest';
import { parseKconfig } from '../../src/kernel/kconfig.ts';
import { parseOsRelease } from '../../src/kernel/osrelease.ts';
import { parseProcStatus } from '../../src/kernel/procstatus.ts';
import { parseSysctlInt } from '../../src/kernel/sysctl.ts';
import { parseLockdown, parseLsmList } from '../../src/kernel/security.ts';
import { parseSchedPreempt } from '../../src/kernel/cpu.ts';
import { fuzz } from './harness.ts';

const fixture = (name: string) => readFileSync(new URL(`../fixtures/kernel/${name}`, import.meta.url), 'utf8');
const enc = (s: string) => new TextEncoder().encode(s);
const dec = (b: Uint8Array) => new TextDecoder().decode(b);

function fuzzText(name: string, parse: (s: string) => unknown, seeds: string[]) {
  it(`${name}: survives 100k random and mutated inputs (fuzz)`, () => {
    const stats = fuzz((b) => parse(dec(b)), seeds.map(enc), { iterations: 100_000 });
    console.log(
      `${name} fuzz: ${stats.inputs} inputs, ${stats.parsed} parsed, ${stats.rejected} rejected, slowest ${stats.slowest.toFixed(2)} ms`,
    );
    expect(stats.crashes).toEqual([]);
    expect(stats.slowest).toBeLessThan(1000); // a hang, not a speed goal
  });
}

describe('kernel file parsers (fuzz)', () => {
  fuzzText('kconfig', (s) => parseKconfig(s, 'fuzz'), [
    fixture('kconfig-sample.txt').slice(0, 2000),
    'CONFIG_A=y\n# CONFIG_B is not set\nCONFIG_C="x"\n',
  ]);
  fuzzText('proc status', (s) => parseProcStatus(s, 'fuzz'), [fixture('proc-status.txt')]);
  fuzzText('sysctl', (s) => parseSysctlInt(s, 'fuzz'), ['2\n', '-1\n', '528482304\n']);
  fuzzText('os-release', (s) => parseOsRelease(s, 'fuzz'), [fixture('os-release.txt')]);
  fuzzText('lsm', (s) => parseLsmList(s, 'fuzz'), ['lockdown,capability,landlock,yama,bpf\n']);
  fuzzText('lockdown', (s) => parseLockdown(s, 'fuzz'), ['[none] integrity confidentiality\n']);
  fuzzText('sched/preempt', (s) => parseSchedPreempt(s, 'fuzz'), ['none voluntary (full) lazy\n']);
});
