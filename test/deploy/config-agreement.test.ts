// One config verdict: for each of a few hundred config samples (valid and invalid: types, bounds,
// unknown keys, YAML 1.1 words and numbers, durations, profiles), real `helm template` with the
// sample as the chart's `config` values, and the daemon's own loader (src/config.ts loadConfig, with
// the env and args the DaemonSet gives it) reading the ConfigMap Helm renders for it, must say the
// same: accepted by both or refused by both. The daemon's side is rendered with
// --skip-schema-validation from a copy of the chart without templates/config-checks.yaml (the checks
// the schema cannot express), so it reads what the chart would have given it had neither let the
// sample through. The keys the chart sets itself (listen, hostRoot, kubernetes.nodeName) are
// refused by the chart on purpose (test/deploy/chart.test.ts) and left out here.
import { cpSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { CHART_DIR, CONFIG_CHECKS, helm, parseManifests } from '../../scripts/chart.ts';
import SCHEMA from '../../src/config.schema.json' with { type: 'json' };
import { loadConfig } from '../../src/config.ts';
import { KINDS } from '../../src/requirements/profiles.ts';
import { helmSkip } from './k8s.ts';

const skip = helmSkip();
type Obj = Record<string, any>;

interface Sample {
  what: string;
  /** The `config:` block's body as YAML text (indented under `config:` by the test). */
  yaml: string;
}

const y = (v: unknown): string => JSON.stringify(v);
/** A sample from a key path and a value written as YAML text (so YAML 1.1 words stay words). */
const at = (path: string, text: string, what = `${path}: ${text}`): Sample => {
  const keys = path.split('.');
  const lines = keys.map((k, i) => `${'  '.repeat(i)}${k}:${i === keys.length - 1 ? ` ${text}` : ''}`);
  return { what, yaml: lines.join('\n') };
};

const DURATION_TEXT = [
  '1',
  '0.5',
  '0',
  '-1',
  '60',
  '2147483',
  '2147484',
  '1e3',
  '"60"',
  '60s',
  '1m',
  '1h',
  '500ms',
  '999ms',
  '1000ms',
  '0.5s',
  '1.5s',
  '0s',
  '0m',
  '0.01m',
  '10d',
  '"1 m"',
  '""',
  '0x10',
  '0o17',
  '1_000',
  '+5',
  '.5',
  '5.',
  '596h',
  '597h',
  '35791m',
  '35792m',
  '2147483s',
  '2147484s',
  '2147483000ms',
  '2147484000ms',
  'true',
  'null',
  '[]',
  '{}',
  'yes',
  '1:20',
];
const MOUNT_TEXT = [
  '0.1',
  '0.05',
  '100ms',
  '99ms',
  '50ms',
  '0.1s',
  '0.09s',
  '2',
  '2147483',
  '2147484',
  '"2147484s"',
  '0.001m',
  '0.002m',
  '2s',
  '1h',
  '0',
  'off',
];
const samples: Sample[] = [
  { what: 'empty config', yaml: '{}' },
  ...DURATION_TEXT.map((t) => at('probeInterval', t)),
  ...MOUNT_TEXT.map((t) => at('mountCheckInterval', t)),
  ...['0', '0.1', '0.5', '0.51', '-0.1', '"0.1"', '1', 'null'].map((t) => at('probeJitter', t)),
  ...['fatal', 'error', 'warn', 'info', 'debug', 'trace', 'silent', 'INFO', 'off', '"off"', 'verbose', '1', 'no', 'null'].map((t) =>
    at('logLevel', t),
  ),
  ...['true', 'false', 'yes', 'no', 'on', 'off', 'y', 'n', 'Y', 'NO', '"true"', '1', '0', 'null', '~'].map((t) => at('fullProbe', t)),
  ...[
    '{}',
    'null',
    '[]',
    '"x"',
    '{mine: [feature:btf]}',
    '{mine: ["map-type:ringbuf", "program-type:xdp"]}',
    '{mine: []}',
    '{mine: feature:btf}',
    '{Mine: [feature:btf]}',
    '{my_profile: [feature:btf]}',
    `{${'p'.repeat(63)}: [feature:btf]}`,
    `{${'p'.repeat(64)}: [feature:btf]}`,
    '{-mine: [feature:btf]}',
    '{on: [feature:btf]}',
    '{cilium: [feature:btf]}',
    '{mine: [{feature: btf}]}',
    '{mine: [{feature: btf, map-type: hash}]}',
    '{mine: [1]}',
    '{mine: [null]}',
    '{mine: ["btf"]}',
    '{mine: ["feature:nosuch"]}',
    '{mine: ["map-type:nosuch"]}',
    '{mine: ["nosuch:btf"]}',
    '{a: [feature:btf], a-: [feature:btf]}',
  ].map((t) => at('profiles', t)),
  ...['[cilium]', '[]', '[nosuch]', '[cilium, cilium]', '[1]', 'cilium', '[""]', '[null]', '[yes]', '[falco-modern-ebpf]', 'null'].map(
    (t) => at('checkProfiles', t),
  ),
  { what: 'checkProfiles naming an own profile', yaml: 'profiles: {mine: [feature:btf]}\ncheckProfiles: [mine]' },
  { what: 'checkProfiles naming an own profile defined nowhere', yaml: 'profiles: {mine: [feature:btf]}\ncheckProfiles: [yours]' },
  ...[
    'example.com',
    'a',
    'BPF.io',
    'kubernetes.io',
    'node.kubernetes.io',
    'k8s.io',
    'x.k8s.io',
    'my-k8s.io',
    'a..b',
    '-a.io',
    'a-.io',
    `${'a'.repeat(63)}.io`,
    `${'a'.repeat(64)}.io`,
    Array(4).fill('a'.repeat(62)).join('.'),
    `${Array(4).fill('a'.repeat(62)).join('.')}x`,
    'example.com/x',
    '""',
    '1e3',
    '0o17',
    '2001-01-01',
    'on',
    '"on"',
    'null',
    '123',
  ].map((t) => at('kubernetes.labelPrefix', t)),
  ...['0', '300', '-1', '1.5', '2147483', '2147484', '"300"', '0o17', '1_000', 'null'].map((t) => at('kubernetes.heartbeatSeconds', t)),
  ...['0', '10', '3600', '3601', '-1', '1.5', '"10"', 'null'].map((t) => at('kubernetes.startJitterSeconds', t)),
  ...[
    'null',
    'true',
    'false',
    '{}',
    '{key: a/b}',
    '{key: ""}',
    '{effect: Never}',
    '{effect: NoExecute}',
    '{effect: noschedule}',
    `{value: ${'v'.repeat(63)}}`,
    `{value: ${'v'.repeat(64)}}`,
    `{key: ${'k'.repeat(316)}}`,
    `{key: ${'k'.repeat(317)}}`,
    '"yes"',
    'yes',
    'on',
    '{key: a, extra: 1}',
    '[]',
    '1',
  ].map((t) => at('kubernetes.taint', t)),
  ...['true', 'false', '"true"', 'yes', 'off', 'null', '1'].map((t) => at('kubernetes.nfd', t)),
  ...['true', 'false', '"false"', 'off', '0'].map((t) => at('kubernetes.reports', t)),
  // Unknown and misspelt keys, at each level.
  ...['probeIntervl', 'ProbeInterval', 'fullprobe', 'extra', 'constructor', 'toString'].map((k) => at(k, '1', `unknown key ${k}`)),
  ...['labelprefix', 'taints', 'node', 'nodename'].map((k) => at(`kubernetes.${k}`, 'x', `unknown key kubernetes.${k}`)),
  at('kubernetes', 'null'),
  at('kubernetes', '[]'),
  at('kubernetes', '"x"'),
  at('kubernetes', '{}'),
  // Several keys at once, good and bad mixed.
  {
    what: 'a full good config',
    yaml: y({
      probeInterval: '5m',
      probeJitter: 0.2,
      mountCheckInterval: '500ms',
      logLevel: 'debug',
      fullProbe: true,
      checkProfiles: ['cilium'],
      kubernetes: { labelPrefix: 'ebpf.example.com', heartbeatSeconds: 60, startJitterSeconds: 30, taint: true, nfd: true },
    }),
  },
  {
    what: 'a full config with one bad key deep down',
    yaml: y({
      probeInterval: '5m',
      logLevel: 'debug',
      kubernetes: { labelPrefix: 'ebpf.example.com', taint: { key: 'x/y', effect: 'Sometimes' } },
    }),
  },
  { what: 'YAML 1.1 words everywhere', yaml: 'fullProbe: on\nlogLevel: warn\nkubernetes:\n  nfd: off\n  taint: yes' },
  { what: 'an anchor and alias', yaml: 'probeInterval: &d 90s\nmountCheckInterval: *d' },
];

const DAEMON_ENV = (pod: Obj): Record<string, string> => {
  const env: Record<string, string> = { NODE_NAME: 'node-a' };
  for (const e of pod['containers'][0]['env'] as Obj[]) if (typeof e['value'] === 'string') env[e['name']] = e['value'];
  return env;
};

interface Verdict {
  chart: string | undefined;
  daemon: string | undefined;
}

const dir = mkdtempSync(join(tmpdir(), 'bpfready-agreement-'));
afterAll(() => rmSync(dir, { recursive: true, force: true }));
const unchecked = join(dir, 'bpfready');
cpSync(CHART_DIR, unchecked, { recursive: true });
rmSync(join(unchecked, CONFIG_CHECKS));

/**
 * The one kind of disagreement left, on purpose: what a requirement in an own profile names (a
 * feature, a map type, a helper) is checked against the requirements module's kernel tables by the
 * daemon only; the schema checks the profile's name, that it is a non-empty list and each
 * requirement's kind (docs/config.md). Listed by sample, so no other one can slip in.
 */
const KNOWN: readonly string[] = ['profiles: {mine: ["feature:nosuch"]}', 'profiles: {mine: ["map-type:nosuch"]}'];

/** undefined: accepted; else the first line of the refusal. */
function verdict(s: Sample, i: number): Verdict {
  const file = join(dir, `sample-${i}.yaml`);
  writeFileSync(file, `config:\n${s.yaml.replace(/^/gm, '  ')}\n`);
  const args = ['template', 'bpfready', CHART_DIR, '--namespace', 'bpfready', '--skip-tests', '-f', file];
  let chart: string | undefined;
  try {
    helm(args);
  } catch (e) {
    chart = (e as Error).message.split('\n').slice(0, 4).join(' ');
  }
  let daemon: string | undefined;
  let docs;
  try {
    docs = parseManifests(helm([...args.map((a) => (a === CHART_DIR ? unchecked : a)), '--skip-schema-validation']));
  } catch (e) {
    // The templates themselves cannot render it (a config of the wrong type): nothing would reach the daemon.
    return { chart, daemon: `not rendered: ${(e as Error).message.split('\n')[0]}` };
  }
  const pod = docs.find((d) => d.doc['kind'] === 'DaemonSet')!.doc['spec']['template']['spec'];
  const cm = docs.find(
    (d) => d.doc['kind'] === 'ConfigMap' && d.doc['data']?.['config.yaml'] !== undefined && !d.doc['metadata']['annotations'],
  )!.doc;
  const env = DAEMON_ENV(pod);
  try {
    loadConfig({
      argv: pod['containers'][0]['args'].slice(1),
      env,
      readFile: (p) => (p === env['BPFREADY_CONFIG'] ? cm['data']['config.yaml'] : ''),
    });
  } catch (e) {
    daemon = (e as Error).message;
  }
  return { chart, daemon };
}

describe.skipIf(skip)('one config verdict: the chart (helm template) and the daemon (loadConfig on the rendered ConfigMap)', () => {
  const results = skip ? [] : samples.map((s, i) => ({ sample: s, ...verdict(s, i) }));
  afterAll(() => {
    if (skip) return;
    const accepted = results.filter((r) => r.chart === undefined).length;
    console.log(`config agreement: ${results.length} samples, ${accepted} accepted and ${results.length - accepted} refused by the chart`);
  });

  it('has a good number of samples, many of each verdict', () => {
    expect(results.length).toBeGreaterThanOrEqual(200);
    expect(results.filter((r) => r.chart === undefined).length).toBeGreaterThanOrEqual(60);
    expect(results.filter((r) => r.chart !== undefined).length).toBeGreaterThanOrEqual(60);
  });

  it('gives every sample the same verdict on both sides', () => {
    const disagreements = results
      .filter((r) => (r.chart === undefined) !== (r.daemon === undefined) && !KNOWN.includes(r.sample.what))
      .map(
        (r) =>
          `${r.sample.what}: chart ${r.chart === undefined ? 'accepts' : 'refuses'}, daemon ${r.daemon === undefined ? 'accepts' : `refuses (${r.daemon})`}`,
      );
    expect(disagreements).toEqual([]);
  });

  it('has exactly the known disagreements: the chart takes an own profile naming what the kernel tables lack, the daemon refuses it', () => {
    const known = results.filter((r) => KNOWN.includes(r.sample.what));
    expect(known.map((r) => r.sample.what)).toEqual(KNOWN);
    for (const r of known) expect([r.chart, r.daemon?.replace(/:.*/, '')]).toEqual([undefined, '/etc/bpfready/config.yaml']);
  });

  it('refuses, on the chart side, each kind of config the daemon refuses beyond its old schema, naming the key', () => {
    const chartSays = (what: string): string | undefined => results.find((r) => r.sample.what === what)?.chart;
    expect(chartSays('probeInterval: 500ms')).toMatch(/config\.probeInterval: "500ms" must be at least 1s/);
    expect(chartSays('probeInterval: 597h')).toMatch(/config\.probeInterval: "597h" must be at most 2147483s/);
    expect(chartSays('mountCheckInterval: 99ms')).toMatch(/config\.mountCheckInterval: "99ms" must be at least 0\.1s/);
    expect(chartSays('checkProfiles: [nosuch]')).toMatch(
      /config\.checkProfiles: unknown profile "nosuch" \(known: cilium, falco-modern-ebpf\)/,
    );
    expect(chartSays('kubernetes.labelPrefix: x.k8s.io')).toMatch(/labelPrefix/);
    expect(chartSays('profiles: {Mine: [feature:btf]}')).toMatch(/invalid propertyName 'Mine'/);
  });
});

describe('the schema and the requirements module', () => {
  it('know the same requirement kinds', () => {
    const items = (SCHEMA as Obj)['properties']['profiles']['additionalProperties']['items']['anyOf'] as Obj[];
    expect(items[1]!['propertyNames']['enum']).toEqual([...KINDS]);
    expect(items[0]!['pattern']).toBe(`^(${KINDS.join('|')}):`);
  });
});
