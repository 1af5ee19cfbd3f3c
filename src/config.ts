// Reads the environment, the optional YAML config file (docs/config.md) and the flags of the commands
// that take a config (serve, daemon, prune; prune takes --all-nodes first). probe and check parse
// their own flags in src/commands/.
// Precedence: defaults < file < environment < flags. The merged object is validated once, against
// one JSON schema, and frozen; an invalid value is reported with where it came from (the flag, the
// variable, or the file and key), so the operator knows what to fix. Exit code 2 for all of them.
import { closeSync, openSync, readSync } from 'node:fs';
import { parseArgs } from 'node:util';
import { Ajv, type ErrorObject } from 'ajv';
import { parseDocument } from 'yaml';
import SCHEMA from './config.schema.json' with { type: 'json' };
import { ParseError } from './base/errors.ts';
import type { Requirement } from './requirements/model.ts';
import { prefixProblem, profileProjectionProblem } from './publish/labels.ts';
import { BUILTIN_PROFILES, parseProfiles } from './requirements/profiles.ts';

/** The longest delay setTimeout() honours, in whole seconds (2^31-1 ms). */
const MAX_TIMER_SECONDS = 2_147_483;
export const DEFAULT_LISTEN = '127.0.0.1:9842';
export const LOG_LEVELS = ['fatal', 'error', 'warn', 'info', 'debug', 'trace', 'silent'] as const;
export type LogLevel = (typeof LOG_LEVELS)[number];
export const TAINT_EFFECTS = ['NoSchedule', 'PreferNoSchedule', 'NoExecute'] as const;

export interface Listen {
  host: string;
  port: number;
}

export interface TaintConfig {
  key: string;
  value: string;
  effect: (typeof TAINT_EFFECTS)[number];
}

export interface KubernetesConfig {
  /** The Node we publish to; required by `bpfready daemon`. */
  nodeName: string | undefined;
  labelPrefix: string;
  /** Re-write conditions that did not change after this long; 0 turns the heartbeat off. */
  heartbeatSeconds: number;
  /** The first write waits a random 0..startJitterSeconds: a rollout over thousands of nodes spreads out. */
  startJitterSeconds: number;
  /** The readiness taint we remove once the checked profiles hold; null: no taint management. */
  taint: TaintConfig | null;
  /** Also publish a NodeFeature object, so node-feature-discovery rules can use our facts. */
  nfd: boolean;
  /** Publish the node's report (and its kernel build's view) as ConfigMaps for `bpfready nodes`. */
  reports: boolean;
}

export interface Config {
  listen: Listen;
  /** Base re-probe period; each wait is drawn uniformly from ±probeJitter of it. */
  probeIntervalSeconds: number;
  probeJitter: number;
  /** How often /proc/self/mountinfo is compared with its last content (a change triggers a re-probe). */
  mountCheckSeconds: number;
  hostRoot: string;
  logLevel: LogLevel;
  /** Also make the probes that leave marks on the node (`bpfready probe --full`; docs/probes.md). */
  fullProbe: boolean;
  /** The profiles to check, by name: the selected built-in and user-defined ones (parsed). */
  profiles: Record<string, Requirement[]>;
  kubernetes: KubernetesConfig;
  /** The config file read, if any (for logs and error messages). */
  file: string | undefined;
}

/** A bad config value. `input` names the flag, variable or file: key it came from. Exit code 2. */
export class ConfigError extends ParseError {}

// The config file's schema is config.schema.json (imported above), the one copy: the chart's values.schema.json
// carries it as definitions.config for its `config` values (docs/config.md). Durations are seconds
// (a number) or a number with a unit: 500ms, 30s, 5m, 1h; a flag or variable is always a string,
// so "60" (no unit) is seconds too, as 60 is in the file.
const ajv = new Ajv({ allErrors: true, strict: true });
const validate = ajv.compile(SCHEMA);

/** Flags every daemon command accepts; `value` says the flag takes an argument. */
const FLAGS: Record<string, { key: string; value: boolean; help: string }> = {
  '--config': { key: 'config', value: true, help: 'YAML config file (env BPFREADY_CONFIG)' },
  '--listen': { key: 'listen', value: true, help: `HOST:PORT to serve on (default ${DEFAULT_LISTEN})` },
  '--probe-interval': { key: 'probeInterval', value: true, help: 'base re-probe period, e.g. 60s, 5m (default 60s)' },
  '--host-root': { key: 'hostRoot', value: true, help: "where the host's / is mounted (default /)" },
  '--log-level': { key: 'logLevel', value: true, help: `${LOG_LEVELS.join('|')} (default info)` },
  '--profile': { key: 'checkProfiles', value: true, help: 'check only this profile (repeatable)' },
  '--node-name': { key: 'nodeName', value: true, help: 'Kubernetes node name (env NODE_NAME)' },
  '--label-prefix': { key: 'labelPrefix', value: true, help: 'label/condition prefix (default bpfready.io)' },
};

export function configHelp(command: string, only?: readonly string[]): string {
  const lines = Object.entries(FLAGS)
    .filter(([f]) => !only || only.includes(f))
    .map(([f, d]) => `  ${(d.value ? `${f} X` : f).padEnd(20)} ${d.help}`);
  return `usage: bpfready ${command} [options]\n\noptions:\n${lines.join('\n')}\n  --help               this text\n\nSee docs/config.md for the file format and environment variables.\n`;
}

/** Environment variables we read, and the config key each sets. Nothing else in process.env is read. */
const ENV: Record<string, string> = {
  BPFREADY_LISTEN: 'listen',
  BPFREADY_PROBE_INTERVAL: 'probeInterval',
  BPFREADY_HOST_ROOT: 'hostRoot',
  BPFREADY_LOG_LEVEL: 'logLevel',
  BPFREADY_LABEL_PREFIX: 'labelPrefix',
  NODE_NAME: 'nodeName',
};

const KUBE_KEYS = new Set(['nodeName', 'labelPrefix']);

export interface LoadOptions {
  argv: readonly string[];
  /** The command, for messages (default: serve or daemon, whose flags are all of them). */
  command?: string;
  /** The shared flags this command takes (default all); another is refused, not ignored. */
  only?: readonly string[];
  /** The command's own flags without a value (prune's --all-nodes), reported in `given`. */
  switches?: readonly string[];
  env: Readonly<Record<string, string | undefined>>;
  /** Injected for tests; defaults to reading the file from disk. */
  readFile?: (path: string) => string;
}

export type LoadResult = { help: true } | { help: false; config: Config; given: ReadonlySet<string> };

/** Parse flags, env and file into a frozen Config. Throws ConfigError (exit code 2) on any bad input. */
export function loadConfig(opts: LoadOptions): LoadResult {
  const parsed = parseFlags(opts.argv, opts.command ?? 'serve/daemon', opts.only, opts.switches);
  if (parsed === 'help') return { help: true };
  const flags = parsed.values;

  const fileFromFlag = flags.get('config');
  // The last --config wins, as for every other flag.
  const file = fileFromFlag?.at(-1) ?? nonEmpty(opts.env['BPFREADY_CONFIG']);
  const fileSource = fileFromFlag ? `--config ${file}` : `BPFREADY_CONFIG=${file}`;
  const raw: Record<string, unknown> = file ? readConfigFile(file, fileSource, opts.readFile) : {};
  // Every value's origin, by JSON pointer, so a schema error names the flag, variable or file key.
  const origins = new Map<string, string>();
  if (file) collectOrigins(raw, '', file, origins);

  const set = (key: string, value: unknown, source: string): void => {
    if (KUBE_KEYS.has(key)) {
      // A `kubernetes:` of the wrong type stays as it is, for the schema to reject naming the file.
      if (raw['kubernetes'] !== undefined && !isObject(raw['kubernetes'])) return;
      const kube = isObject(raw['kubernetes']) ? raw['kubernetes'] : (raw['kubernetes'] = {});
      (kube as Record<string, unknown>)[key] = value;
      origins.set(`/kubernetes/${key}`, source);
    } else {
      raw[key] = value;
      origins.set(`/${key}`, source);
    }
  };
  for (const [name, key] of Object.entries(ENV)) {
    const v = nonEmpty(opts.env[name]);
    if (v !== undefined) set(key, v, name);
  }
  for (const [key, values] of flags) {
    if (key === 'config') continue;
    const flag = Object.keys(FLAGS).find((f) => FLAGS[f]?.key === key) ?? key;
    set(key, key === 'checkProfiles' ? values : values.at(-1), flag);
  }

  if (!validate(raw)) throw schemaError(validate.errors ?? [], raw, origins, file);
  return { help: false, config: deepFreeze(normalise(raw, origins, file)), given: parsed.given };
}

interface ParsedFlags {
  /** Values by config key, in the order given (the last wins; --profile keeps them all). */
  values: Map<string, string[]>;
  /** Every flag given, by its name (--node-name), switches included. */
  given: Set<string>;
}

/**
 * The flags of argv, read with node:util parseArgs (the one flag parser of the CLI: probe and check
 * use it too). `only` limits the shared flags to a command's; `switches` are its own flags without a
 * value (prune's --all-nodes). Anything else is one ConfigError naming it (exit 2).
 */
function parseFlags(
  argv: readonly string[],
  command: string,
  only?: readonly string[],
  switches: readonly string[] = [],
): ParsedFlags | 'help' {
  const options: Record<string, { type: 'string' | 'boolean'; short?: string }> = { help: { type: 'boolean', short: 'h' } };
  for (const f of Object.keys(FLAGS)) options[f.slice(2)] = { type: 'string' };
  for (const f of switches) options[f.slice(2)] = { type: 'boolean' };
  // strict: false, so that what is wrong is said our way, naming the argument as it was given.
  const { tokens } = parseArgs({ args: [...argv], options, strict: false, allowPositionals: true, tokens: true });
  const out: ParsedFlags = { values: new Map(), given: new Set() };
  for (const t of tokens) {
    const arg = argv[t.index] ?? '';
    if (t.kind === 'option' && t.name === 'help') return 'help';
    const def = t.kind === 'option' ? FLAGS[`--${t.name}`] : undefined;
    const isSwitch = t.kind === 'option' && switches.includes(`--${t.name}`) && t.value === undefined;
    if (!def && !isSwitch) throw new ConfigError(arg, `unknown option (bpfready <command> --help lists them)`);
    const name = (t as { rawName: string }).rawName;
    if (def && only && !only.includes(name)) {
      throw new ConfigError(name, `not an option of ${command} (it takes ${[...only, ...switches].join(', ')})`);
    }
    out.given.add(name);
    if (!def) continue;
    const value = (t as { value?: string }).value;
    if (value === undefined || value === '') throw new ConfigError(name, 'needs a value');
    out.values.set(def.key, [...(out.values.get(def.key) ?? []), value]);
  }
  return out;
}

/** A config file is a few KiB; reading stops past this (a path to /dev/zero must not fill memory). */
const MAX_CONFIG_BYTES = 1 << 20;

function readBounded(file: string): string {
  const fd = openSync(file, 'r');
  try {
    const buf = Buffer.alloc(MAX_CONFIG_BYTES + 1);
    let n = 0;
    for (let r; n < buf.length && (r = readSync(fd, buf, n, buf.length - n, null)) > 0; ) n += r;
    if (n > MAX_CONFIG_BYTES) throw Object.assign(new Error('too large'), { code: `larger than ${MAX_CONFIG_BYTES >> 20} MiB` });
    return buf.toString('utf8', 0, n);
  } finally {
    closeSync(fd);
  }
}

function readConfigFile(file: string, source: string, readFile?: (p: string) => string): Record<string, unknown> {
  let text: string;
  try {
    text = readFile ? readFile(file) : readBounded(file);
  } catch (err) {
    const code = (err as NodeJS.ErrnoException).code ?? 'unreadable';
    throw new ConfigError(source, `cannot read the config file (${code})`, { cause: err });
  }
  let doc: unknown;
  try {
    // Warnings (an unresolved !tag, say) are errors here: a config that half-parses is a typo.
    const parsed = parseDocument(text, { prettyErrors: true, uniqueKeys: true, logLevel: 'silent' });
    const problem = parsed.errors[0] ?? parsed.warnings[0];
    if (problem) throw problem;
    doc = parsed.toJS({ maxAliasCount: 100 });
  } catch (err) {
    const msg = err instanceof Error ? err.message.split('\n')[0] : String(err);
    throw new ConfigError(file, `not valid YAML: ${msg}`, { cause: err });
  }
  if (doc === null || doc === undefined) return {};
  if (!isObject(doc)) throw new ConfigError(file, 'the config file must be a YAML mapping (key: value)');
  return doc;
}

function collectOrigins(v: unknown, pointer: string, file: string, origins: Map<string, string>): void {
  origins.set(pointer, `${file}: ${pointer ? pointer.slice(1).replaceAll('/', '.') : '(top level)'}`);
  if (isObject(v)) for (const [k, child] of Object.entries(v)) collectOrigins(child, `${pointer}/${k}`, file, origins);
}

function schemaError(
  errors: ErrorObject[],
  raw: Record<string, unknown>,
  origins: Map<string, string>,
  file: string | undefined,
): ConfigError {
  // anyOf reports every branch; the most specific error (deepest path) is the one worth reading.
  const e = [...errors].sort((a, b) => b.instancePath.length - a.instancePath.length)[0];
  if (!e) return new ConfigError(file ?? 'config', 'invalid');
  // The schema refuses a profile's shape; the requirements parser says what is wrong in its own words.
  if (e.instancePath === '/profiles' || e.instancePath.startsWith('/profiles/')) {
    try {
      parseProfiles(raw['profiles'], originOf('/profiles', origins, file));
    } catch (err) {
      if (err instanceof ParseError) return new ConfigError(err.input, err.message.slice(err.input.length + 2), { cause: err });
    }
  }
  let pointer = e.instancePath;
  const value = valueAt(raw, pointer);
  let what: string;
  // A number out of a duration's range: its bound, rather than the sentence about duration forms.
  const bound =
    typeof value === 'number'
      ? errors.find((x) => x.instancePath === pointer && (x.keyword === 'minimum' || x.keyword === 'maximum'))
      : undefined;
  if (e.keyword === 'additionalProperties') {
    const prop = String((e.params as { additionalProperty: string }).additionalProperty);
    pointer = `${pointer}/${prop}`;
    what = `unknown key "${prop}"`;
  } else if (e.keyword === 'enum') {
    what = `must be one of ${(e.params as { allowedValues: unknown[] }).allowedValues.join(', ')}`;
  } else if (bound && DURATION_KEYS.has(pointer)) {
    const limit = (bound.params as { limit: number }).limit;
    what = `must be ${bound.keyword === 'minimum' ? 'at least' : 'at most'} ${limit}s`;
  } else if (e.schemaPath.includes('/anyOf/') && ANY_OF_MESSAGES[pointer] !== undefined) {
    what = ANY_OF_MESSAGES[pointer] ?? '';
  } else if (e.keyword === 'pattern' && pointer === '/hostRoot') {
    what = 'must be an absolute path';
  } else if ((e.keyword === 'pattern' || e.keyword === 'not') && pointer === '/kubernetes/labelPrefix') {
    // The same sentence as for a prefix the schema lets through but Kubernetes reserves (normalise).
    what = `"${String(value)}" ${prefixProblem(String(value)) ?? 'must be a lowercase DNS subdomain'}`;
  } else {
    what = e.message ?? 'is invalid';
  }
  return new ConfigError(originOf(pointer, origins, file), what);
}

// For keys with alternative forms, ajv's per-branch errors read worse than one sentence.
const DURATION_MESSAGE = 'must be a duration: seconds as a number, or a number with ms, s, m or h (e.g. 30s, 5m)';
const DURATION_KEYS = new Set(['/probeInterval', '/mountCheckInterval']);
const ANY_OF_MESSAGES: Record<string, string> = {
  '/probeInterval': DURATION_MESSAGE,
  '/mountCheckInterval': DURATION_MESSAGE,
  '/kubernetes/taint': 'must be true, false, null or a mapping with key, value and effect',
};

function valueAt(raw: Record<string, unknown>, pointer: string): unknown {
  let v: unknown = raw;
  for (const k of pointer.split('/').slice(1)) v = isObject(v) ? v[k] : undefined;
  return v;
}

function originOf(pointer: string, origins: Map<string, string>, file: string | undefined): string {
  for (let p = pointer; ; p = p.slice(0, p.lastIndexOf('/'))) {
    const o = origins.get(p);
    if (o) return p === pointer ? o : `${o}${pointer.slice(p.length).replaceAll('/', '.')}`;
    if (p === '') return file ? `${file}: ${pointer.slice(1).replaceAll('/', '.')}` : pointer;
  }
}

function normalise(raw: Record<string, unknown>, origins: Map<string, string>, file: string | undefined): Config {
  const src = (k: string): string => originOf(k, origins, file);
  const kube = (raw['kubernetes'] ?? {}) as Record<string, unknown>;
  const labelPrefix = (kube['labelPrefix'] as string | undefined) ?? 'bpfready.io';
  // Checked here for serve too, naming the flag, variable or file key that set it.
  const prefixIssue = prefixProblem(labelPrefix);
  if (prefixIssue) throw new ConfigError(src('/kubernetes/labelPrefix'), `"${labelPrefix}" ${prefixIssue}`);
  const interval = seconds(raw['probeInterval'] ?? 60, src('/probeInterval'));
  // Below 1 s a re-probe loop would only burn CPU: the facts it reads change on human time scales.
  if (interval < 1) throw new ConfigError(src('/probeInterval'), 'must be at least 1s');
  // setTimeout() fires at once for delays past 2^31-1 ms (~24.8 days): a longer one would spin.
  if (interval > MAX_TIMER_SECONDS) throw new ConfigError(src('/probeInterval'), `must be at most ${MAX_TIMER_SECONDS}s (24 days)`);
  const mountCheck = seconds(raw['mountCheckInterval'] ?? 2, src('/mountCheckInterval'));
  if (mountCheck < 0.1) throw new ConfigError(src('/mountCheckInterval'), 'must be at least 100ms');
  if (mountCheck > MAX_TIMER_SECONDS) throw new ConfigError(src('/mountCheckInterval'), `must be at most ${MAX_TIMER_SECONDS}s (24 days)`);
  const taintRaw = kube['taint'];
  let taint: TaintConfig | null = null;
  if (taintRaw === true || isObject(taintRaw)) {
    const t = isObject(taintRaw) ? taintRaw : {};
    taint = {
      key: (t['key'] as string | undefined) ?? `${labelPrefix}/not-ready`,
      value: (t['value'] as string | undefined) ?? '',
      effect: (t['effect'] as TaintConfig['effect'] | undefined) ?? 'NoSchedule',
    };
  }
  return {
    listen: parseListen(String(raw['listen'] ?? DEFAULT_LISTEN), src('/listen')),
    probeIntervalSeconds: interval,
    probeJitter: (raw['probeJitter'] as number | undefined) ?? 0.1,
    mountCheckSeconds: mountCheck,
    hostRoot: (raw['hostRoot'] as string | undefined) ?? '/',
    logLevel: (raw['logLevel'] as LogLevel | undefined) ?? 'info',
    fullProbe: (raw['fullProbe'] as boolean | undefined) ?? false,
    profiles: selectProfiles(raw, src),
    kubernetes: {
      nodeName: kube['nodeName'] as string | undefined,
      labelPrefix,
      heartbeatSeconds: (kube['heartbeatSeconds'] as number | undefined) ?? 300,
      startJitterSeconds: (kube['startJitterSeconds'] as number | undefined) ?? 10,
      taint,
      nfd: (kube['nfd'] as boolean | undefined) ?? false,
      reports: (kube['reports'] as boolean | undefined) ?? true,
    },
    file,
  };
}

/**
 * User profiles (parsed by the requirements module) plus the built-in ones, narrowed to
 * `checkProfiles` when it is given. A user profile may shadow a built-in of the same name.
 */
function selectProfiles(raw: Record<string, unknown>, src: (pointer: string) => string): Record<string, Requirement[]> {
  let own: Record<string, Requirement[]>;
  try {
    own = parseProfiles(raw['profiles'], src('/profiles'));
  } catch (err) {
    if (err instanceof ParseError) throw new ConfigError(err.input, err.message.slice(err.input.length + 2), { cause: err });
    throw err;
  }
  const all: Record<string, Requirement[]> = { ...BUILTIN_PROFILES, ...own };
  const wanted = raw['checkProfiles'] as string[] | undefined;
  let out: Record<string, Requirement[]> = all;
  if (wanted) {
    out = {};
    for (const name of wanted) {
      // Own keys only: "constructor" or "__proto__" are not profiles.
      const reqs = Object.hasOwn(all, name) ? all[name] : undefined;
      if (!reqs) throw new ConfigError(src('/checkProfiles'), `unknown profile "${name}" (known: ${Object.keys(all).join(', ')})`);
      out[name] = reqs;
    }
  }
  // Every checked profile becomes a label and a condition: two that would share one are refused here.
  const clash = profileProjectionProblem(Object.keys(out));
  if (clash) throw new ConfigError(src(wanted ? '/checkProfiles' : '/profiles'), clash);
  return out;
}

const UNIT_SECONDS: Record<string, number> = { ms: 0.001, s: 1, m: 60, h: 3600 };

/** "30s" → 30. Numbers are seconds. */
export function seconds(v: unknown, source: string): number {
  if (typeof v === 'number') return v;
  const m = /^([0-9]+(?:\.[0-9]+)?)(ms|s|m|h)?$/.exec(String(v));
  if (!m) throw new ConfigError(source, `"${String(v)}" is not a duration (e.g. 30s, 5m)`);
  return Number(m[1]) * (UNIT_SECONDS[m[2] ?? 's'] ?? 1);
}

/** "HOST:PORT", "[v6]:PORT" or ":PORT" (all interfaces). Port 0 asks the kernel for a free port. */
export function parseListen(s: string, source: string): Listen {
  const m = /^(?:\[([0-9a-fA-F:.]+)\]|([^:[\]\s]*)):([0-9]{1,5})$/.exec(s);
  const port = Number(m?.[3]);
  if (!m || port > 65535) throw new ConfigError(source, `"${s}" is not HOST:PORT (e.g. ${DEFAULT_LISTEN}, [::1]:9842, :9842)`);
  // ":PORT" is every address, IPv6 and IPv4 ("::" is dual-stack on Linux; see listenHosts()).
  const host = m[1] ?? (m[2] ? m[2] : '::');
  return { host, port };
}

function nonEmpty(v: string | undefined): string | undefined {
  return v === undefined || v === '' ? undefined : v;
}

function isObject(v: unknown): v is Record<string, unknown> {
  return typeof v === 'object' && v !== null && !Array.isArray(v);
}

function deepFreeze<T>(v: T): T {
  if (typeof v === 'object' && v !== null) {
    for (const child of Object.values(v)) deepFreeze(child);
    Object.freeze(v);
  }
  return v;
}
