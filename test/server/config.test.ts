import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { ConfigError, DEFAULT_LISTEN, loadConfig, parseListen, type Config } from '../../src/config.ts';
import { ParseError } from '../../src/base/errors.ts';
import { BUILTIN_PROFILES } from '../../src/requirements/profiles.ts';

function load(argv: string[], env: Record<string, string> = {}, file?: string): Config {
  const r = loadConfig({ argv, env, readFile: () => file ?? '' });
  if (r.help) throw new Error('unexpected help');
  return r.config;
}

function failure(argv: string[], env: Record<string, string> = {}, file?: string): ConfigError {
  try {
    load(argv, env, file);
  } catch (err) {
    expect(err).toBeInstanceOf(ConfigError);
    expect(err).toBeInstanceOf(ParseError);
    return err as ConfigError;
  }
  throw new Error('expected a ConfigError');
}

describe('loadConfig', () => {
  it('defaults: loopback 127.0.0.1:9842, 60 s interval, bpfready.io prefix, no taint', () => {
    const c = load([]);
    expect(DEFAULT_LISTEN).toBe('127.0.0.1:9842');
    expect(c.listen).toEqual({ host: '127.0.0.1', port: 9842 });
    expect(c.probeIntervalSeconds).toBe(60);
    expect(c.hostRoot).toBe('/');
    expect(c.logLevel).toBe('info');
    expect(c.kubernetes).toEqual({
      nodeName: undefined,
      labelPrefix: 'bpfready.io',
      heartbeatSeconds: 300,
      startJitterSeconds: 10,
      taint: null,
      nfd: false,
      reports: true,
    });
    // Every built-in profile is checked unless checkProfiles narrows it.
    expect(Object.keys(c.profiles).sort()).toEqual(Object.keys(BUILTIN_PROFILES).sort());
  });

  it('fullProbe: off unless the file turns it on; anything but a boolean is refused, naming the key', () => {
    expect(load([]).fullProbe).toBe(false);
    expect(load(['--config', 'f.yaml'], {}, 'fullProbe: true\n').fullProbe).toBe(true);
    expect(() => load(['--config', 'f.yaml'], {}, 'fullProbe: yes please\n')).toThrow(/f\.yaml: fullProbe: must be boolean/);
  });

  it('is deeply frozen', () => {
    const c = load([], {}, undefined);
    expect(Object.isFrozen(c)).toBe(true);
    expect(Object.isFrozen(c.listen)).toBe(true);
    expect(Object.isFrozen(c.kubernetes)).toBe(true);
  });

  it('a duration without a unit is seconds, from a flag or a variable as from the file', () => {
    expect(load(['--probe-interval', '90']).probeIntervalSeconds).toBe(90);
    expect(load([], { BPFREADY_PROBE_INTERVAL: '2.5' }).probeIntervalSeconds).toBe(2.5);
    expect(load(['--config', 'f.yaml'], {}, 'probeInterval: 45\n').probeIntervalSeconds).toBe(45);
  });

  it('precedence: flags over environment over file', () => {
    const file = 'listen: 10.0.0.1:1\nlogLevel: warn\nprobeInterval: 5m\nkubernetes:\n  nodeName: from-file\n';
    const fromFile = load(['--config', 'f.yaml'], {}, file);
    expect(fromFile.listen.host).toBe('10.0.0.1');
    expect(fromFile.probeIntervalSeconds).toBe(300);
    expect(fromFile.kubernetes.nodeName).toBe('from-file');
    const fromEnv = load(['--config', 'f.yaml'], { BPFREADY_LOG_LEVEL: 'debug', NODE_NAME: 'from-env' }, file);
    expect(fromEnv.logLevel).toBe('debug');
    expect(fromEnv.kubernetes.nodeName).toBe('from-env');
    const fromFlag = load(
      ['--config', 'f.yaml', '--log-level=error', '--node-name', 'from-flag', '--listen', '[::1]:0'],
      { BPFREADY_LOG_LEVEL: 'debug', NODE_NAME: 'x' },
      file,
    );
    expect(fromFlag.logLevel).toBe('error');
    expect(fromFlag.kubernetes.nodeName).toBe('from-flag');
    expect(fromFlag.listen).toEqual({ host: '::1', port: 0 });
  });

  it('BPFREADY_CONFIG names the file when --config is absent', () => {
    const dir = mkdtempSync(join(tmpdir(), 'bpfready-config-'));
    const path = join(dir, 'c.yaml');
    writeFileSync(path, 'probeInterval: 90\nprofiles:\n  mine:\n    - program-type: xdp\n    - map-type:ringbuf\ncheckProfiles: [mine]\n');
    const r = loadConfig({ argv: [], env: { BPFREADY_CONFIG: path } });
    expect(r.help).toBe(false);
    if (r.help) return;
    expect(r.config.file).toBe(path);
    expect(r.config.probeIntervalSeconds).toBe(90);
    expect(r.config.profiles).toEqual({
      mine: [
        { kind: 'map-type', mapType: 'ringbuf' },
        { kind: 'program-type', progType: 'xdp' },
      ],
    });
  });

  it('--profile is repeatable and picks built-in or own profiles; taint: true takes the default key', () => {
    const builtin = Object.keys(BUILTIN_PROFILES)[0] ?? 'none';
    const file = 'kubernetes:\n  labelPrefix: example.com\n  taint: true\nprofiles:\n  b:\n    - map-type:hash\n';
    const c = load(['--profile', builtin, '--profile=b', '--config', 'f'], {}, file);
    expect(Object.keys(c.profiles)).toEqual([builtin, 'b']);
    expect(c.kubernetes.taint).toEqual({ key: 'example.com/not-ready', value: '', effect: 'NoSchedule' });
  });

  it('--help is not an error', () => {
    expect(loadConfig({ argv: ['--listen', ':1', '--help'], env: {} })).toEqual({ help: true });
  });
});

describe('bad config names its source and what is wrong', () => {
  const cases: [string, string[], Record<string, string>, string | undefined, RegExp][] = [
    ['unknown flag', ['--lisen', 'x'], {}, undefined, /^--lisen: unknown option/],
    ['flag without value', ['--listen'], {}, undefined, /^--listen: needs a value/],
    ['bad listen flag', ['--listen', 'localhost'], {}, undefined, /^--listen: "localhost" is not HOST:PORT/],
    ['port out of range', ['--listen', ':70000'], {}, undefined, /^--listen: .*not HOST:PORT/],
    ['bad env level', [], { BPFREADY_LOG_LEVEL: 'loud' }, undefined, /^BPFREADY_LOG_LEVEL: must be one of fatal, error/],
    ['bad env interval', [], { BPFREADY_PROBE_INTERVAL: 'soon' }, undefined, /^BPFREADY_PROBE_INTERVAL: must be a duration/],
    ['interval too short', ['--probe-interval', '10ms'], {}, undefined, /^--probe-interval: must be at least 1s/],
    ['unknown file key', ['--config', 'c.yaml'], {}, 'listn: x\n', /^c\.yaml: listn: unknown key "listn"/],
    ['nested unknown key', ['--config', 'c.yaml'], {}, 'kubernetes:\n  node: x\n', /^c\.yaml: kubernetes\.node: unknown key "node"/],
    [
      'wrong type in file',
      ['--config', 'c.yaml'],
      {},
      'kubernetes:\n  heartbeatSeconds: often\n',
      /^c\.yaml: kubernetes\.heartbeatSeconds: must be integer/,
    ],
    [
      'bad taint effect',
      ['--config', 'c.yaml'],
      {},
      'kubernetes:\n  taint: {effect: Never}\n',
      /^c\.yaml: kubernetes\.taint\.effect: must be one of NoSchedule/,
    ],
    [
      'bad taint form',
      ['--config', 'c.yaml'],
      {},
      'kubernetes:\n  taint: yes please\n',
      /^c\.yaml: kubernetes\.taint: must be true, false, null or a mapping/,
    ],
    [
      'kubernetes not a mapping, with NODE_NAME set',
      ['--config', 'c.yaml'],
      { NODE_NAME: 'n1' },
      'kubernetes: 5\n',
      /^c\.yaml: kubernetes: must be object/,
    ],
    [
      'kubernetes a list, with --node-name',
      ['--config', 'c.yaml', '--node-name', 'n1'],
      {},
      'kubernetes: [1, 2]\n',
      /^c\.yaml: kubernetes: must be object/,
    ],
    ['relative host root', ['--host-root', 'host'], {}, undefined, /^--host-root: must be an absolute path/],
    ['not YAML', ['--config', 'c.yaml'], {}, 'a: [\n', /^c\.yaml: not valid YAML/],
    ['duplicate key', ['--config', 'c.yaml'], {}, 'logLevel: info\nlogLevel: warn\n', /^c\.yaml: not valid YAML/],
    ['unknown profile', ['--profile', 'nosuch'], {}, undefined, /^--profile: unknown profile "nosuch" \(known: /],
    ['profile named after an object property', ['--profile', 'constructor'], {}, undefined, /^--profile: unknown profile "constructor"/],
    ['profile named __proto__', ['--profile', '__proto__'], {}, undefined, /^--profile: unknown profile "__proto__"/],
    [
      'bad label prefix flag',
      ['--label-prefix', 'Bad Prefix!'],
      {},
      undefined,
      /^--label-prefix: "Bad Prefix!" must be a lowercase DNS subdomain/,
    ],
    [
      'reserved label prefix in the file',
      ['--config', 'c.yaml'],
      {},
      'kubernetes:\n  labelPrefix: node.kubernetes.io\n',
      /^c\.yaml: kubernetes\.labelPrefix: "node\.kubernetes\.io" is reserved/,
    ],
    ['bad profile', ['--config', 'c.yaml'], {}, 'profiles:\n  Bad_Name: [map-type:hash]\n', /^c\.yaml: profiles: profile name "Bad_Name"/],
    ['bad requirement', ['--config', 'c.yaml'], {}, 'profiles:\n  p: [wish:pony]\n', /^c\.yaml: profiles: profiles\.p\[0\]/],
    // Both would be the condition bpfready.io/ProfileCilium1, and would overwrite each other on every write.
    [
      'profiles that fold to one condition',
      ['--config', 'c.yaml'],
      {},
      'profiles:\n  cilium-1: [map-type:hash]\n  cilium1: [map-type:hash]\n',
      /^c\.yaml: profiles: profiles "cilium-1" and "cilium1" would both be published as condition type <prefix>\/ProfileCilium1/,
    ],
    [
      'profiles alike in their first 55 characters',
      ['--config', 'c.yaml'],
      {},
      `profiles:\n  ${'a'.repeat(55)}-x: [map-type:hash]\n  ${'a'.repeat(55)}-y: [map-type:hash]\n`,
      /would both be published as label profile\.a{55}; rename one/,
    ],
    ['unknown YAML tag', ['--config', 'c.yaml'], {}, 'logLevel: !loud info\n', /^c\.yaml: not valid YAML: .*tag/i],
    [
      'alias bomb',
      ['--config', 'c.yaml'],
      {},
      'a: &a [x, x, x, x, x, x, x, x, x, x]\nb: &b [*a, *a, *a, *a, *a, *a, *a, *a, *a, *a]\nc: &c [*b, *b, *b, *b, *b, *b, *b, *b, *b, *b]\nd: [*c, *c, *c, *c, *c, *c, *c, *c, *c, *c]\n',
      /^c\.yaml: not valid YAML: .*alias/i,
    ],
    ['not a mapping', ['--config', 'c.yaml'], {}, '- a\n', /^c\.yaml: the config file must be a YAML mapping/],
  ];
  for (const [name, argv, env, file, re] of cases) {
    it(name, () => {
      expect(failure(argv, env, file).message).toMatch(re);
    });
  }

  it('an unreadable file names the file and the errno', () => {
    const err = (() => {
      try {
        loadConfig({ argv: ['--config', '/nonexistent/bpfready.yaml'], env: {} });
      } catch (e) {
        return e as ConfigError;
      }
      throw new Error('expected an error');
    })();
    expect(err.message).toBe('--config /nonexistent/bpfready.yaml: cannot read the config file (ENOENT)');
  });

  it('the last --config wins, as for every other flag', () => {
    const r = loadConfig({
      argv: ['--config', 'a.yaml', '--config', 'b.yaml'],
      env: {},
      readFile: (p) => (p === 'b.yaml' ? 'logLevel: warn\n' : 'logLevel: debug\n'),
    });
    expect(r.help ? undefined : r.config.logLevel).toBe('warn');
  });

  it('an endless or huge file is refused after 1 MiB, not read into memory', () => {
    expect(() => loadConfig({ argv: ['--config', '/dev/zero'], env: {} })).toThrow(
      '--config /dev/zero: cannot read the config file (larger than 1 MiB)',
    );
  });
});

describe('parseListen', () => {
  it.each([
    ['127.0.0.1:9842', { host: '127.0.0.1', port: 9842 }],
    [':9842', { host: '::', port: 9842 }],
    ['[::]:80', { host: '::', port: 80 }],
    ['node.example:8080', { host: 'node.example', port: 8080 }],
  ])('%s', (s, want) => {
    expect(parseListen(s, 'test')).toEqual(want);
  });
  it.each(['', '9842', '1.2.3.4', '::1:80', 'a b:1', 'h:-1', 'h:65536'])('rejects %j', (s) => {
    expect(() => parseListen(s, 'test')).toThrow(ConfigError);
  });
});

describe('timer limits', () => {
  it('refuses intervals setTimeout() cannot honour (past 2^31-1 ms), naming the key', () => {
    expect(() => loadConfig({ argv: ['--probe-interval', '600h'], env: {} })).toThrow(/probe-interval.*at most 2147483s/);
    expect(() => loadConfig({ argv: [], env: { BPFREADY_PROBE_INTERVAL: '1000h' } })).toThrow(/at most 2147483s/);
  });
});
