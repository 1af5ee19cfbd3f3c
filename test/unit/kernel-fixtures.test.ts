// The multi-kernel matrix without qemu: each Debian 6.1 kernel's recorded run (test/kernels/fixtures,
// written by `npm run test:kernels`) is checked again, with the helper matrix re-derived by today's
// interpreter from the kernel's recorded answers, so an interpreter regression fails here.
import { readdirSync, readFileSync } from 'node:fs';
import { gzipSync } from 'node:zlib';
import { describe, expect, it } from 'vitest';
import { checkKernel, checkSubsets, formatFixture, reinterpretHelpers, type Check, type KernelRun } from '../kernels/expect.ts';
import { DATA_BEGIN, DATA_DONE, DATA_END } from '../kernels/guest.ts';
import { parseDataPort } from '../kernels/qemu.ts';
import { HELPER_MARK, helperLog, logTail, type RawHelpers } from '../kernels/record-raw.ts';

const dir = new URL('../kernels/fixtures/', import.meta.url);
const files = readdirSync(dir)
  .filter((f) => f.endsWith('.json'))
  .sort();
const load = (file: string) => JSON.parse(readFileSync(new URL(file, dir), 'utf8')) as KernelRun;

/** The recorded report, its helper matrix replaced by what today's interpreter makes of the answers. */
function reinterpreted(run: KernelRun): KernelRun {
  const helpers = { ...(run.probe.helpers as object), ...reinterpretHelpers(run.raw) };
  return { ...run, probe: { ...run.probe, helpers } };
}

// Comparing the recorder with a report rebuilt from the recorder proves nothing; run.ts makes that
// check against the live report in the guest.
const LIVE_ONLY = 'recorded raw helper answers reproduce the report';

function failing(checks: Check[]): string[] {
  return checks.filter((c) => !c.ok).map((c) => c.name);
}

const clone = (run: KernelRun): KernelRun => structuredClone(run);

it('has a recorded run for at least one Debian 6.1 kernel', () => {
  expect(files.length).toBeGreaterThan(0);
  for (const f of files) expect(f).toMatch(/^6\.1\.\d+-\d+-[a-z0-9-]+\.json$/);
});

describe.each(files)('fixture %s', (file) => {
  const run = load(file);
  // The capability subsets were recorded against the live report, whose helper rows (not probed
  // marking helpers, rows left out by class) the re-derived matrix does not keep: check them on it.
  const checks = [
    ...checkKernel(reinterpreted(run)).filter((c) => c.name !== LIVE_ONLY && !c.name.startsWith('with exactly ')),
    ...checkSubsets(run),
  ];

  it('is the run of the kernel it is named after, in the fixture format', () => {
    expect(file).toBe(`${run.release}.json`);
    expect(run.release).toMatch(/^6\.1\./);
    expect(readFileSync(new URL(file, dir), 'utf8')).toBe(formatFixture(run));
  });

  it.each(checks.map((c) => [c.name, c] as const))('%s', (_name, c) => {
    expect(c.ok, c.lines.join('\n')).toBe(true);
  });

  // The checks must be able to fail: each mutation below breaks exactly what it names.
  it('fails when a feature 6.1 lacks is reported supported', () => {
    const bad = clone(run);
    (bad.probe.mapTypes as Record<string, unknown>).arena = { status: 'supported' };
    expect(failing(checkKernel(bad))).toContain('arena maps unsupported (added in 6.9)');
  });

  it('fails when a row contradicts its first kernel: newer than 6.1 but supported, older but unsupported', () => {
    const name = "the probe tables' first kernels hold on this kernel";
    expect(failing(checkKernel(run))).not.toContain(name);
    for (const [table, key, status] of [
      ['programTypes', 'netfilter', 'supported'],
      ['mapTypes', 'ringbuf', 'unsupported'],
      ['programTypes', 'xdp', 'unsupported'],
    ] as const) {
      const bad = clone(run);
      (bad.probe[table] as Record<string, unknown>)[key] = { status, ...(status === 'unsupported' ? { errno: 'EINVAL' } : {}) };
      const c = checkKernel(bad).find((x) => x.name === name);
      expect(c?.ok, `${table}.${key} ${status}`).toBe(false);
      expect(c?.lines.join('\n')).toContain(`${table}.${key}: ${status}`);
    }
  });

  it('fails loudly when no key speaks about a feature, instead of passing vacuously', () => {
    const bad = clone(run);
    const dropTokens = (node: unknown): void => {
      if (typeof node !== 'object' || node === null) return;
      for (const k of Object.keys(node)) {
        if (/token/.test(k)) delete (node as Record<string, unknown>)[k];
        else dropTokens((node as Record<string, unknown>)[k]);
      }
    };
    dropTokens(bad.probe);
    const c = checkKernel(bad).find((x) => x.name.startsWith('BPF tokens'));
    expect(c?.ok).toBe(false);
    expect(c?.lines.join('\n')).toMatch(/no result matches/);
  });

  it('fails when lsm is not-permitted as root, both as a feature and as inconclusive', () => {
    const bad = clone(run);
    (bad.probe.programTypes as Record<string, unknown>).lsm = { status: 'not-permitted', errno: 'EPERM' };
    const names = failing(checkKernel(bad));
    expect(names).toContain('tracing and lsm program types supported');
    expect(names).toContain('as root every engine result is conclusive');
  });

  it('fails when a helper verdict differs from bpftool without an explanation', () => {
    const bad = reinterpreted(clone(run));
    const list = bad.bpftool.helpers.xdp_available_helpers;
    expect(list).toContain('bpf_redirect');
    bad.bpftool.helpers.xdp_available_helpers = list!.filter((h) => h !== 'bpf_redirect');
    const c = checkKernel(bad).find((x) => x.name.startsWith('helper matrix'));
    expect(c?.ok).toBe(false);
    expect(c?.lines.join('\n')).toMatch(/bpf_redirect: ours supported, bpftool not listed — in 1 program type\(s\): xdp/);
  });

  it('fails when a capability subset reads unsupported what root found supported', () => {
    const bad = clone(run);
    const sub = bad.subsets?.['caps-net-admin'];
    expect(sub, 'the fixture records the capability subsets').toBeDefined();
    const keys = Object.keys(bad.probe.helpers as Record<string, unknown>);
    const row = (bad.probe.helpers as Record<string, Record<string, { status: string }>>).xdp!;
    const i = Object.keys(row).indexOf('bpf_redirect');
    expect(row.bpf_redirect!.status).toBe('supported');
    expect(keys).toContain('xdp');
    const letters = sub!.statuses['helpers.xdp']!;
    sub!.statuses['helpers.xdp'] = `${letters.slice(0, i)}u${letters.slice(i + 1)}`;
    const c = checkKernel(bad).find((x) => x.name === 'with exactly cap_bpf,cap_net_admin: nothing supported as root reads unsupported');
    expect(c?.ok).toBe(false);
    expect(c?.lines.join('\n')).toMatch(/helpers\.xdp: bpf_redirect supported as root, unsupported/);
  });

  it('fails when the default probe left a mark, and when the control shows none', () => {
    const marked = clone(run);
    marked.marks!.after['events/bpf_trace/bpf_trace_printk/enable'] = ['1'];
    expect(failing(checkKernel(marked))).toContain('the default probe leaves no mark on the node (kernel log, trace state)');
    const logged = clone(run);
    logged.marks!.after.dmesg = [
      '[   20.000001] node[150] is installing a program with bpf_probe_write_user helper that may corrupt user memory!',
    ];
    expect(failing(checkKernel(logged))).toContain('the default probe leaves no mark on the node (kernel log, trace state)');
    const blind = clone(run);
    blind.marks!.bpftool = structuredClone(blind.marks!.after);
    expect(failing(checkKernel(blind))).toContain('the marks check sees the marks of bpftool feature probe full');
  });

  it('fails when the report names another kernel', () => {
    const bad = clone(run);
    bad.probe.kernel = { ...(bad.probe.kernel as object), release: '6.18.0' };
    expect(failing(checkKernel(bad))).toContain('report shape and kernel.release');
  });
});

describe('raw helper records', () => {
  it('stores a log once per shape and restores the helper it was recorded for', () => {
    const raw: RawHelpers = {
      helperNames: ['unspec', 'map_lookup_elem', 'l3_csum_replace'],
      logs: [`0: (85) call ${HELPER_MARK}\nunknown func ${HELPER_MARK}`],
      rows: {},
    };
    expect(helperLog(raw, 0, 2)).toBe('0: (85) call bpf_l3_csum_replace#2\nunknown func bpf_l3_csum_replace#2');
    expect(() => helperLog(raw, 1, 2)).toThrow(/no helper #2 or log #1/);
  });

  it('keeps the last lines of a verifier log without the statistics trailer', () => {
    const log = '0: R1=ctx() R10=fp0\n0: (85) call bpf_x#7\nunknown func bpf_x#7\nprocessed 1 insns (limit 1000000)\n';
    expect(logTail(log)).toBe('0: (85) call bpf_x#7\nunknown func bpf_x#7');
  });
});

describe('guest data port', () => {
  const encode = (name: string, body: string) =>
    [
      `${DATA_BEGIN}${name}`,
      ...(gzipSync(body)
        .toString('base64')
        .match(/.{1,76}/g) ?? []),
      `${DATA_END}${name}`,
    ].join('\r\n');

  it('decodes files written through a tty, ignoring anything outside the markers', () => {
    const text = ['noise before', encode('probe.stdout', '{"a":1}\n'), encode('probe.rc', '0\n'), DATA_DONE, ''].join('\r\n');
    const { files: out, complete } = parseDataPort(text);
    expect(complete).toBe(true);
    expect(out['probe.stdout']?.toString()).toBe('{"a":1}\n');
    expect(out['probe.rc']?.toString()).toBe('0\n');
  });

  it('drops a file cut off mid-transfer and reports the run incomplete', () => {
    const whole = encode('probe.stdout', 'x'.repeat(5000));
    const cut = whole.slice(0, whole.length / 2);
    const { files: out, complete } = parseDataPort(cut);
    expect(complete).toBe(false);
    expect(out['probe.stdout']).toBeUndefined();
  });
});
