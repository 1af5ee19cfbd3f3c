// The chart on real Helm (v4, scripts/test-setup.sh fetches it): `helm lint --strict` and
// `helm template` for every value set in helm/bpfready/ci/, every document checked against the
// Kubernetes schemas with unknown fields refused and YAML read as 1.1 (test/deploy/k8s.ts), names
// and labels valid at the longest overrides, the admission policies' CEL compiled, the schema's
// refusals, a subchart with global values, the Kubernetes version floor and `helm package`. Plus
// what the API server cannot check: the DaemonSet's invariants, RBAC exactly, the uninstall hook's
// and helm test's objects, and the daemon really accepting the config the chart gives it.
import { execFileSync } from 'node:child_process';
import { mkdirSync, mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Environment } from '@marcbachmann/cel-js';
import { afterAll, describe, expect, it } from 'vitest';
import { parse as parseYaml } from 'yaml';
import {
  CHART_DIR,
  OLD_HELM,
  chartDigest,
  chartFiles,
  chartVersion,
  currentChartDigest,
  dryRunInstall,
  helm,
  HelmError,
  isHook,
  KUBECTL,
  MONITORING_APIS,
  render,
  type Rendered,
  template,
  type TemplateOptions,
  readLedger,
} from '../../scripts/chart.ts';
import { loadConfig } from '../../src/config.ts';
import { helmSkip, nameProblems, schemaProblems } from './k8s.ts';

const skip = helmSkip();
type Obj = Record<string, any>;

const CI_DIR = join(CHART_DIR, 'ci');
const SETS = readdirSync(CI_DIR)
  .filter((f) => f.endsWith('-values.yaml'))
  .sort();
/** Release and namespace per value set: YAML 1.1 words, and Helm's longest release name (53) with a 63-character namespace. */
const RELEASE: Record<string, { release: string; namespace: string }> = {
  'yaml11-values.yaml': { release: 'on', namespace: 'yes' },
  'longest-names-values.yaml': { release: 'r'.repeat(53), namespace: 'n'.repeat(63) },
};
const optionsFor = (set: string): TemplateOptions => ({ valueFiles: [join(CI_DIR, set)], apiVersions: MONITORING_APIS, ...RELEASE[set] });
const rendered = new Map<string, Rendered[]>(skip ? [] : SETS.map((s) => [s, render(optionsFor(s))]));
const valuesOf = (set: string): Obj => (parseYaml(readFileSync(join(CI_DIR, set), 'utf8')) ?? {}) as Obj;
const defaults = parseYaml(readFileSync(join(CHART_DIR, 'values.yaml'), 'utf8')) as Obj;

const docsOf = (r: Rendered[], kind: string): Obj[] => r.filter((d) => d.doc['kind'] === kind && !isHook(d.doc)).map((d) => d.doc);
const hooksOf = (r: Rendered[], kind: string, hook = 'post-delete'): Obj[] =>
  r.filter((d) => d.doc['kind'] === kind && d.doc['metadata']?.['annotations']?.['helm.sh/hook'] === hook).map((d) => d.doc);
const one = (r: Rendered[], kind: string): Obj => {
  const docs = docsOf(r, kind);
  expect(docs, kind).toHaveLength(1);
  return docs[0]!;
};
/** A value of the merged values (defaults, then the set's), by path. */
const valueAt = (set: string, ...path: string[]): any => {
  const pick = (o: any) => path.reduce((v, k) => (v && typeof v === 'object' ? v[k] : undefined), o);
  const v = pick(valuesOf(set));
  return v === undefined ? pick(defaults) : v;
};

let documentsValidated = 0;
afterAll(() => {
  if (!skip)
    console.log(
      `chart: ${SETS.length} value sets, ${documentsValidated} rendered documents validated against the Kubernetes schemas (unknown fields refused, YAML 1.1)`,
    );
});

describe.skipIf(skip)('Helm', () => {
  it('is the Helm 4 that scripts/test-setup.sh pins, with kubectl v1.35.2 beside it', () => {
    expect(helm(['version', '--short'])).toMatch(/^v4\.1\.4\+g[0-9a-f]+/);
    // kubectl validates only against a server (both --dry-run=client forms ask one), hence test/deploy/k8s.ts.
    expect(execFileSync(KUBECTL, ['version', '--client', '--output=json'], { encoding: 'utf8' })).toMatch(/"gitVersion": "v1\.35\.2"/);
  });
});

describe.skipIf(skip).each(SETS)('chart with ci/%s', (set) => {
  const r = rendered.get(set) ?? [];
  const release = RELEASE[set]?.namespace ?? 'bpfready';
  const ns = valueAt(set, 'namespaceOverride') || release;

  it('passes helm lint --strict', () => {
    expect(helm(['lint', '--strict', CHART_DIR, '-f', join(CI_DIR, set), ...(RELEASE[set] ? ['--namespace', release] : [])])).toMatch(
      /1 chart\(s\) linted, 0 chart\(s\) failed/,
    );
  });

  it('renders only documents the API server would take: schemas, no unknown fields, valid names and labels', () => {
    expect(r.length).toBeGreaterThan(1);
    const problems = r.flatMap(({ doc, source }) =>
      [...schemaProblems(doc), ...nameProblems(doc)].map((p) => `${source} ${doc['kind']} ${doc['metadata']?.['name']}: ${p}`),
    );
    expect(problems).toEqual([]);
    documentsValidated += r.length;
  });

  it('gives each object a distinct name, hook objects included', () => {
    const keys = r.map(({ doc }) => `${doc['kind']}/${doc['metadata']?.['namespace'] ?? ''}/${doc['metadata']['name']}`);
    expect(new Set(keys).size).toBe(keys.length);
  });

  it('compiles every CEL expression of its admission policies, validations to bool and messages to string', () => {
    const env = new Environment();
    for (const v of ['request', 'object', 'oldObject', 'variables', 'params', 'namespaceObject', 'authorizer'])
      env.registerVariable(v, 'dyn');
    const problems: string[] = [];
    for (const p of r.filter((d) => d.doc['kind'] === 'ValidatingAdmissionPolicy').map((d) => d.doc)) {
      const exprs: [string, string, string[]][] = [
        ...(p['spec']['matchConditions'] ?? []).map((m: Obj) => [`matchConditions ${m['name']}`, m['expression'], ['bool']]),
        ...(p['spec']['variables'] ?? []).map((v: Obj) => [`variable ${v['name']}`, v['expression'], []]),
        ...(p['spec']['validations'] ?? []).flatMap((v: Obj, i: number) => [
          [`validation ${i}`, v['expression'], ['bool']],
          ...(v['messageExpression'] ? [[`validation ${i} messageExpression`, v['messageExpression'], ['string']]] : []),
        ]),
      ];
      for (const [what, expr, types] of exprs) {
        const c = env.check(expr) as { valid: boolean; type?: string; error?: Error };
        if (!c.valid) problems.push(`${p['metadata']['name']} ${what}: ${c.error?.message}`);
        else if (types.length && c.type !== 'dyn' && !types.includes(c.type!))
          problems.push(`${p['metadata']['name']} ${what}: type ${c.type}, not ${types.join('|')}`);
      }
    }
    expect(problems).toEqual([]);
  });

  const ds = docsOf(r, 'DaemonSet')[0]!;
  const pod = ds?.['spec']['template']['spec'];
  const c = pod?.['containers'][0];

  it('runs on every node, tolerating the readiness taints whatever tolerations says, rolled 10% at a time', () => {
    for (const t of valueAt(set, 'tolerations')) expect(pod['tolerations']).toContainEqual(t);
    expect(pod['tolerations']).toContainEqual({ key: 'readiness.k8s.io/ebpf-ready', operator: 'Exists' });
    const taint = valueAt(set, 'config', 'kubernetes', 'taint');
    if (taint)
      expect(pod['tolerations']).toContainEqual({
        key: typeof taint === 'object' && taint['key'] ? taint['key'] : `${valueAt(set, 'config', 'kubernetes', 'labelPrefix')}/not-ready`,
        operator: 'Exists',
      });
    expect(pod['priorityClassName']).toBe(valueAt(set, 'priorityClassName') || undefined);
    // maxSurge 0: a surge pod beside the old one would make two writers of the node's labels and conditions.
    expect(ds['spec']['updateStrategy']).toEqual({ type: 'RollingUpdate', rollingUpdate: { maxUnavailable: '10%', maxSurge: 0 } });
    expect(ds['spec']['revisionHistoryLimit']).toBe(valueAt(set, 'revisionHistoryLimit'));
    expect(pod['hostNetwork']).toBe(false);
    expect(pod['hostPID']).toBe(false);
    expect(ds['metadata']['namespace']).toBe(ns);
  });

  it('drops every capability and adds only the commented ones, without privileged mode', () => {
    const sc = c['securityContext'];
    expect(sc['privileged']).toBe(false);
    expect(sc['readOnlyRootFilesystem']).toBe(true);
    expect(sc['capabilities']['drop']).toEqual(['ALL']);
    expect(sc['capabilities']['add']).toEqual(defaults['capabilities']);
    // The API server's own rule (pkg/apis/core/validation): allowPrivilegeEscalation=false cannot be
    // combined with privileged or an added CAP_SYS_ADMIN; the OpenAPI schema cannot express it.
    if (sc['allowPrivilegeEscalation'] === false) expect(sc['capabilities']['add']).not.toContain('SYS_ADMIN');
    const valuesText = readFileSync(join(CHART_DIR, 'values.yaml'), 'utf8');
    for (const cap of sc['capabilities']['add'] as string[]) expect(valuesText, cap).toMatch(new RegExp(`^#\\s+${cap}\\s+\\S`, 'm'));
  });

  it('mounts the host read-only under the host root the daemon is told about', () => {
    const env = Object.fromEntries((c['env'] as Obj[]).map((e) => [e['name'], e]));
    const hostRoot = env['BPFREADY_HOST_ROOT']['value'];
    expect(hostRoot).toBe('/host');
    expect(env['NODE_NAME']['valueFrom']).toEqual({ fieldRef: { fieldPath: 'spec.nodeName' } });
    const volumes = new Map((pod['volumes'] as Obj[]).map((v) => [v['name'], v]));
    const hostMounts = new Map<string, string>();
    for (const m of c['volumeMounts'] as Obj[]) {
      const v = volumes.get(m['name']);
      expect(v, `volume for mount ${m['name']}`).toBeDefined();
      if (!v?.['hostPath']) continue;
      expect(m['readOnly'], m['name']).toBe(true);
      expect(m['mountPath']).toBe(`${hostRoot}${v['hostPath']['path']}`);
      hostMounts.set(v['hostPath']['path'], m['mountPath']);
    }
    for (const p of ['/proc', '/sys/kernel', '/sys/fs', '/boot', '/lib/modules']) expect(hostMounts.has(p), p).toBe(true);
    const sysFs = (c['volumeMounts'] as Obj[]).find((m) => volumes.get(m['name'])?.['hostPath']?.['path'] === '/sys/fs');
    expect(sysFs?.['mountPropagation']).toBe('HostToContainer');
    expect(new Set((c['volumeMounts'] as Obj[]).map((m) => m['name'])).size).toBe(volumes.size);
  });

  it('passes extraArgs after `daemon` and extraEnv after the chart’s own variables', () => {
    expect(c['args']).toEqual(['daemon', ...valueAt(set, 'extraArgs')]);
    const names = (c['env'] as Obj[]).map((e) => e['name']);
    expect(names.slice(0, 4)).toEqual(['NODE_NAME', 'BPFREADY_CONFIG', 'BPFREADY_HOST_ROOT', 'BPFREADY_LISTEN']);
    expect((c['env'] as Obj[]).slice(4)).toEqual(valueAt(set, 'extraEnv'));
  });

  it('waits for the node-writes policy to be enforced before the daemon starts, when the policy denies', () => {
    const deny = valueAt(set, 'admissionPolicy', 'enabled') && valueAt(set, 'admissionPolicy', 'validationActions').includes('Deny');
    const init = (pod['initContainers'] ?? []) as Obj[];
    expect(init.map((i) => i['name'])).toEqual(deny ? ['wait-for-policy'] : []);
    if (!deny) return;
    const policy = docsOf(r, 'ValidatingAdmissionPolicy').find((p) => p['metadata']['name'].endsWith('-node-writes'))!;
    const env = Object.fromEntries((init[0]!['env'] as Obj[]).map((e) => [e['name'], e]));
    expect(env['POLICY_NAME']['value']).toBe(policy['metadata']['name']);
    expect(env['NODE_NAME']['valueFrom']).toEqual({ fieldRef: { fieldPath: 'spec.nodeName' } });
    expect(init[0]!['securityContext']).toMatchObject({
      runAsNonRoot: true,
      allowPrivilegeEscalation: false,
      readOnlyRootFilesystem: true,
      capabilities: { drop: ['ALL'] },
    });
    expect(init[0]!['args'][0]).toBe(readFileSync(join(CHART_DIR, 'files/wait-for-policy.mjs'), 'utf8'));
  });

  it('probes /healthz and /readyz on the port the daemon listens on', () => {
    expect(c['ports'][0]).toMatchObject({ name: 'http', containerPort: valueAt(set, 'port') });
    expect(c['livenessProbe']['httpGet']).toEqual({ path: '/healthz', port: 'http' });
    expect(c['readinessProbe']['httpGet']).toEqual({ path: '/readyz', port: 'http' });
  });

  it('gives the daemon a config src/config.ts accepts, with the env the DaemonSet sets', () => {
    const cm = docsOf(r, 'ConfigMap').find((d) => d['data']?.['config.yaml'] !== undefined)!;
    const file = cm['data']['config.yaml'] as string;
    const env: Record<string, string> = {};
    for (const e of c['env'] as Obj[]) if (typeof e['value'] === 'string') env[e['name']] = e['value'];
    env['NODE_NAME'] = 'node-a';
    const loaded = loadConfig({ argv: c['args'].slice(1), env, readFile: (p) => (p === env['BPFREADY_CONFIG'] ? file : '') });
    if (loaded.help) throw new Error('help');
    expect(loaded.config.hostRoot).toBe('/host');
    expect(loaded.config.listen).toEqual({ host: '::', port: valueAt(set, 'port') });
    expect(loaded.config.kubernetes.nodeName).toBe('node-a');
    expect(loaded.config.kubernetes.labelPrefix).toBe(valueAt(set, 'config', 'kubernetes', 'labelPrefix'));
    expect(loaded.config.kubernetes.startJitterSeconds).toBe(valueAt(set, 'config', 'kubernetes', 'startJitterSeconds'));
    expect(Object.keys(loaded.config.profiles).length).toBeGreaterThan(0);
    const vol = (pod['volumes'] as Obj[]).find((v) => v['configMap']?.['name'] === cm['metadata']['name']);
    const mount = (c['volumeMounts'] as Obj[]).find((m) => m['name'] === vol?.['name']);
    expect(`${mount?.['mountPath']}/config.yaml`).toBe(env['BPFREADY_CONFIG']);
  });

  it('grants nodes get/watch/patch and nodes/status patch to its own account, nothing else', () => {
    if (!valueAt(set, 'rbac', 'create')) {
      expect(docsOf(r, 'ClusterRole')).toEqual([]);
      expect(pod['serviceAccountName']).toBe(valueAt(set, 'serviceAccount', 'name'));
      return;
    }
    const role = one(r, 'ClusterRole');
    expect(role['rules']).toEqual([
      { apiGroups: [''], resources: ['nodes'], verbs: ['get', 'watch', 'patch'] },
      { apiGroups: [''], resources: ['nodes/status'], verbs: ['patch'] },
    ]);
    const sa = one(r, 'ServiceAccount');
    expect(one(r, 'ClusterRoleBinding')['subjects']).toEqual([{ kind: 'ServiceAccount', name: sa['metadata']['name'], namespace: ns }]);
    expect(pod['serviceAccountName']).toBe(sa['metadata']['name']);
    const nfd = valueAt(set, 'config', 'kubernetes', 'nfd');
    const reports = valueAt(set, 'config', 'kubernetes', 'reports') ?? true;
    expect(docsOf(r, 'Role').map((x) => x['rules'])).toEqual([
      ...(nfd ? [[{ apiGroups: ['nfd.k8s-sigs.io'], resources: ['nodefeatures'], verbs: ['get', 'create', 'update'] }]] : []),
      // The daemon's, for its node reports; and the read-only one `bpfready nodes` users bind to.
      ...(reports
        ? [
            [{ apiGroups: [''], resources: ['configmaps'], verbs: ['get', 'create', 'update', 'delete'] }],
            [{ apiGroups: [''], resources: ['configmaps'], verbs: ['get', 'list'] }],
          ]
        : []),
    ]);
    const bound = docsOf(r, 'RoleBinding').map((x) => x['roleRef']['name']);
    expect(bound.length).toBe((nfd ? 1 : 0) + (reports ? 1 : 0));
    expect(bound.some((n: string) => n.endsWith('-reader'))).toBe(false);
  });

  it('has an uninstall hook: every object hook-annotated, deleted on success and on failure, created before the Job', () => {
    const hooks = r.filter((d) => d.doc['metadata']?.['annotations']?.['helm.sh/hook'] === 'post-delete').map((d) => d.doc);
    if (!valueAt(set, 'prune', 'enabled')) return expect(hooks).toEqual([]);
    const policy = valueAt(set, 'admissionPolicy', 'enabled');
    expect(hooks.map((d) => d['kind']).sort()).toEqual(
      (policy ? ['ValidatingAdmissionPolicy', 'ValidatingAdmissionPolicyBinding'] : [])
        .concat(['ClusterRole', 'ClusterRoleBinding', 'ConfigMap', 'Job', 'ServiceAccount'])
        .concat((valueAt(set, 'config', 'kubernetes', 'reports') ?? true) ? ['Role', 'RoleBinding'] : [])
        .sort(),
    );
    const job = hooksOf(r, 'Job')[0]!;
    const weight = (d: Obj): number => Number(d['metadata']['annotations']['helm.sh/hook-weight']);
    for (const d of hooks) {
      expect(d['metadata']['annotations']['helm.sh/hook-delete-policy'], d['kind']).toBe('before-hook-creation,hook-succeeded,hook-failed');
      if (d !== job) expect(weight(d), d['kind']).toBeLessThan(weight(job));
    }
    expect(job['metadata']['annotations']['helm.sh/hook-output-log-policy']).toBe('hook-failed');
  });

  it('runs prune --all-nodes non-root, read-only, without capabilities, on nodes carrying the readiness taints', () => {
    const job = hooksOf(r, 'Job')[0];
    if (!job) return;
    const jp = job['spec']['template']['spec'];
    const jc = jp['containers'][0];
    expect(jc['image']).toBe(c['image']);
    expect(jc['args']).toEqual(['prune', '--all-nodes']);
    expect(jp['restartPolicy']).toBe('Never');
    expect(jp['securityContext']).toMatchObject({ runAsNonRoot: true, seccompProfile: { type: 'RuntimeDefault' } });
    expect(jc['securityContext']).toEqual({
      allowPrivilegeEscalation: false,
      readOnlyRootFilesystem: true,
      capabilities: { drop: ['ALL'] },
    });
    expect((jp['volumes'] as Obj[]).every((v) => v['hostPath'] === undefined)).toBe(true);
    for (const t of valueAt(set, 'prune', 'tolerations')) expect(jp['tolerations']).toContainEqual(t);
    expect(jp['tolerations']).toContainEqual({ key: 'readiness.k8s.io/ebpf-ready', operator: 'Exists' });
    const own = pod['tolerations'].filter((t: Obj) => t['key']);
    for (const t of own) expect(jp['tolerations'], 'the daemon’s readiness tolerations').toContainEqual(t);
    const sel = ds['spec']['selector']['matchLabels'] as Obj;
    const labels = job['spec']['template']['metadata']['labels'] as Obj;
    expect(Object.entries(sel).every(([k, v]) => labels[k] === v)).toBe(false);
    const [sa] = hooksOf(r, 'ServiceAccount');
    const [role] = hooksOf(r, 'ClusterRole');
    expect(role!['rules']).toEqual([
      { apiGroups: [''], resources: ['nodes'], verbs: ['get', 'list', 'patch'] },
      { apiGroups: [''], resources: ['nodes/status'], verbs: ['patch'] },
    ]);
    expect(hooksOf(r, 'ClusterRoleBinding')[0]!['subjects']).toEqual([
      { kind: 'ServiceAccount', name: sa!['metadata']['name'], namespace: ns },
    ]);
    expect(jp['serviceAccountName']).toBe(sa!['metadata']['name']);
    // Suffixed names never fall back onto the release's own (a 58+ character fullname once did).
    expect(job['metadata']['name']).not.toBe(ds['metadata']['name']);
    expect(sa!['metadata']['name']).not.toBe(pod['serviceAccountName']);
  });

  it('tells prune the label prefix and taint the daemon uses', () => {
    const cm = hooksOf(r, 'ConfigMap')[0];
    if (!cm) return;
    const daemonCm = docsOf(r, 'ConfigMap').find((d) => d['data']?.['config.yaml'] !== undefined)!;
    const load = (file: string) => {
      const l = loadConfig({ argv: [], env: { BPFREADY_CONFIG: '/c' }, readFile: () => file });
      if (l.help) throw new Error('help');
      return l.config.kubernetes;
    };
    expect(load(cm['data']['config.yaml']).labelPrefix).toBe(load(daemonCm['data']['config.yaml']).labelPrefix);
    expect(load(cm['data']['config.yaml']).taint).toEqual(load(daemonCm['data']['config.yaml']).taint);
  });

  it('binds each admission policy, to this account and this prefix', () => {
    const policies = r.filter((d) => d.doc['kind'] === 'ValidatingAdmissionPolicy').map((d) => d.doc);
    const bindings = r.filter((d) => d.doc['kind'] === 'ValidatingAdmissionPolicyBinding').map((d) => d.doc);
    expect(bindings.map((b) => b['spec']['policyName']).sort()).toEqual(policies.map((p) => p['metadata']['name']).sort());
    for (const b of bindings) expect(b['spec']['validationActions']).toEqual(valueAt(set, 'admissionPolicy', 'validationActions'));
    const policy = docsOf(r, 'ValidatingAdmissionPolicy').find((p) => p['metadata']['name'].endsWith('-node-writes'));
    if (!valueAt(set, 'admissionPolicy', 'enabled')) return expect(policies).toEqual([]);
    expect(policy!['spec']['matchConditions'][0]['expression']).toBe(
      `request.userInfo.username == 'system:serviceaccount:${ns}:${pod['serviceAccountName']}'`,
    );
    const vars = Object.fromEntries((policy!['spec']['variables'] as Obj[]).map((v) => [v['name'], v['expression']]));
    expect(vars['prefix']).toBe(`'${valueAt(set, 'config', 'kubernetes', 'labelPrefix')}/'`);
  });

  it('selects its own pods from the Service, the monitors and the NetworkPolicy, and no other', () => {
    const sel = ds['spec']['selector']['matchLabels'];
    expect(ds['spec']['template']['metadata']['labels']).toMatchObject(sel);
    for (const s of docsOf(r, 'Service')) expect(s['spec']['selector']).toEqual(sel);
    for (const m of [...docsOf(r, 'ServiceMonitor'), ...docsOf(r, 'PodMonitor')]) expect(m['spec']['selector']['matchLabels']).toEqual(sel);
    for (const np of docsOf(r, 'NetworkPolicy')) {
      expect(np['spec']['podSelector']['matchLabels']).toEqual(sel);
      // Ingress to the HTTP port only.
      expect(np['spec']['policyTypes']).toEqual(['Ingress']);
      expect(np['spec']['ingress'].map((i: Obj) => i['ports'])).toEqual([[{ port: 'http', protocol: 'TCP' }]]);
    }
    for (const p of hooksOf(r, 'Pod', 'test')) expect(Object.entries(sel).every(([k, v]) => p['metadata']['labels'][k] === v)).toBe(false);
  });

  it('has a helm test that reads /readyz through the Service, with an account that can only read nodes', () => {
    const [p] = hooksOf(r, 'Pod', 'test');
    if (!valueAt(set, 'tests', 'enabled') || !valueAt(set, 'service', 'enabled')) return expect(p).toBeUndefined();
    const svc = one(r, 'Service');
    const env = Object.fromEntries((p!['spec']['containers'][0]['env'] as Obj[]).map((e) => [e['name'], e['value']]));
    expect(env['SERVICE_URL']).toBe(`http://${svc['metadata']['name']}.${ns}.svc:${svc['spec']['ports'][0]['port']}`);
    expect(env['LABEL_PREFIX']).toBe(valueAt(set, 'config', 'kubernetes', 'labelPrefix'));
    expect(hooksOf(r, 'ClusterRole', 'test')[0]!['rules']).toEqual([{ apiGroups: [''], resources: ['nodes'], verbs: ['get', 'list'] }]);
    expect(p!['spec']['serviceAccountName']).toBe(hooksOf(r, 'ServiceAccount', 'test')[0]!['metadata']['name']);
  });
});

describe.skipIf(skip)('chart variations', () => {
  it('rolls the pods when the config changes', () => {
    const annotation = (values: Obj): string =>
      one(render({ values: [values] }), 'DaemonSet')['spec']['template']['metadata']['annotations']['checksum/config'];
    expect(annotation({})).toMatch(/^[0-9a-f]{64}$/);
    expect(annotation({ config: { logLevel: 'debug' } })).not.toBe(annotation({}));
  });

  it('puts the Grafana dashboard in a sidecar-labelled ConfigMap, byte for byte', () => {
    const cm = docsOf(render({ values: [{ grafanaDashboard: { enabled: true } }] }), 'ConfigMap').find((d) =>
      d['metadata']['name'].endsWith('-dashboard'),
    )!;
    expect(cm['metadata']['labels']['grafana_dashboard']).toBe('1');
    expect(cm['data']['bpfready-dashboard.json']).toBe(readFileSync(join(CHART_DIR, 'dashboards/bpfready-dashboard.json'), 'utf8'));
  });

  it('creates the priority-class quota with system-node-critical pods outside kube-system only', () => {
    const quotas = (namespace: string, values: Obj = {}) => docsOf(render({ namespace, values: [values] }), 'ResourceQuota');
    expect(quotas('bpfready')[0]?.['spec']['scopeSelector']).toEqual({
      matchExpressions: [{ operator: 'In', scopeName: 'PriorityClass', values: ['system-node-critical'] }],
    });
    expect(quotas('kube-system')).toEqual([]);
    expect(quotas('bpfready', { priorityClassName: '' })).toEqual([]);
    expect(quotas('bpfready', { priorityClassQuota: { enabled: false } })).toEqual([]);
  });

  it('renders the ServiceMonitor, PodMonitor and PrometheusRule only where the cluster serves their kinds, and says so', () => {
    const on = [{ serviceMonitor: { enabled: true }, podMonitor: { enabled: true }, prometheusRule: { enabled: true } }];
    const kinds = (apiVersions: string[]) => render({ values: on, apiVersions }).map((d) => d.doc['kind']);
    expect(kinds([])).not.toEqual(expect.arrayContaining(['ServiceMonitor']));
    expect(kinds([]).filter((k) => ['ServiceMonitor', 'PodMonitor', 'PrometheusRule'].includes(k))).toEqual([]);
    expect(
      kinds(MONITORING_APIS)
        .filter((k) => ['ServiceMonitor', 'PodMonitor', 'PrometheusRule'].includes(k))
        .sort(),
    ).toEqual(['PodMonitor', 'PrometheusRule', 'ServiceMonitor']);
    const notes = dryRunInstall({ values: on });
    for (const k of ['serviceMonitor', 'podMonitor', 'prometheusRule'])
      expect(notes).toMatch(new RegExp(`${k}\\.enabled is set but this cluster does not serve monitoring\\.coreos\\.com/v1`));
    // (`helm install --dry-run=client` takes no --api-versions, so the NOTES of a cluster with the CRDs are not shown here.)
    expect(dryRunInstall()).not.toMatch(/does not serve/);
  });

  it('switches alerts one by one, each with a runbook_url to its section of the chart README', () => {
    const alerts = (values: Obj): Obj[] =>
      one(
        render({
          values: [{ prometheusRule: { enabled: true, tokenExpectedMounts: '/run/t/.*', ...values } }],
          apiVersions: MONITORING_APIS,
        }),
        'PrometheusRule',
      )['spec']['groups'][0]['rules'];
    const all = alerts({});
    const readme = readFileSync(join(CHART_DIR, 'README.md'), 'utf8');
    expect(all.map((a) => a['alert'])).toEqual(Object.keys(defaults['prometheusRule']['alerts']));
    for (const a of all) {
      expect(a['annotations']['runbook_url']).toBe(`${defaults['prometheusRule']['runbookBaseUrl']}${a['alert'].toLowerCase()}`);
      expect(readme, a['alert']).toContain(`### ${a['alert'].toLowerCase()}\n`);
      expect(a['labels']['severity']).toBe(defaults['prometheusRule']['alerts'][a['alert']]['severity']);
    }
    const fewer = alerts({ alerts: { BpfreadyNotReady: { enabled: false }, BpfreadyTokenLost: { enabled: true, severity: 'critical' } } });
    expect(fewer.map((a) => a['alert'])).not.toContain('BpfreadyNotReady');
    expect(fewer.find((a) => a['alert'] === 'BpfreadyTokenLost')!['labels']['severity']).toBe('critical');
    expect(fewer).toHaveLength(all.length - 1);
  });

  it('NOTES show the labels with kubectl get nodes -L, and say what uninstalling does', () => {
    const withPrune = dryRunInstall();
    expect(withPrune).toMatch(/kubectl get nodes -L bpfready\.io\/feature\.btf,bpfready\.io\/feature\.ringbuf/);
    expect(withPrune).toMatch(/Uninstalling runs a clean-up Job \(prune\.enabled\) that removes bpfready's labels/);
    expect(withPrune).not.toMatch(/leaves the published labels/);
    expect(dryRunInstall({ values: [{ prune: { enabled: false } }] })).toMatch(
      /uninstalling leaves the published labels and conditions on the nodes/,
    );
    expect(dryRunInstall({ values: [{ config: { kubernetes: { nfd: true, labelPrefix: 'e.example.com' } } }] })).toMatch(
      /get nodefeatures\.nfd\.k8s-sigs\.io/,
    );
  });

  it('keeps suffixed names apart from the release’s at a 58-character and longer fullname', () => {
    for (const len of [57, 58, 62, 63]) {
      const r = render({ values: [{ fullnameOverride: 'f'.repeat(len), config: { kubernetes: { nfd: true } } }] });
      const names = r.map((d) => `${d.doc['kind']}/${d.doc['metadata']['name']}`);
      expect(new Set(names).size, `fullname of ${len}`).toBe(names.length);
      for (const d of r) expect(d.doc['metadata']['name'].length, `${d.doc['kind']} ${d.doc['metadata']['name']}`).toBeLessThanOrEqual(63);
      expect(hooksOf(r, 'Job')[0]!['metadata']['name']).toMatch(/-prune$/);
    }
  });
});

// Every refusal values.schema.json documents, as a user meets it: helm template exits non-zero and
// names the key. The config ones come from src/config.schema.json, so the daemon refuses them too.
const REFUSALS: [string, Obj, RegExp][] = [
  ['a CAP_-prefixed capability', { capabilities: ['CAP_BPF'] }, /capabilities/],
  ['Deny together with Warn', { admissionPolicy: { validationActions: ['Deny', 'Warn'] } }, /validationActions/],
  ['an unknown top-level key', { privileged: true }, /privileged/],
  ['a label prefix with uppercase', { config: { kubernetes: { labelPrefix: 'BPF.io' } } }, /labelPrefix/],
  ['a relative hostRoot', { hostRoot: 'host' }, /hostRoot/],
  ['a Localhost seccomp profile without a path', { seccompProfile: { type: 'Localhost' } }, /localhostProfile/],
  ['a malformed digest', { image: { digest: 'sha256:abc' } }, /digest/],
  ['a config key the chart sets itself (listen)', { config: { listen: ':1' } }, /listen/],
  ['a config key the chart sets itself (nodeName)', { config: { kubernetes: { nodeName: 'n1' } } }, /nodeName/],
  ['an unknown config key', { config: { probeIntervl: '1m' } }, /probeIntervl/],
  ['a probe interval under a second', { config: { probeInterval: 0 } }, /probeInterval/],
  ['a negative start jitter', { config: { kubernetes: { startJitterSeconds: -1 } } }, /startJitterSeconds/],
  ['a bad taint effect', { config: { kubernetes: { taint: { effect: 'Never' } } } }, /effect/],
  ['a nameOverride longer than 63 characters', { nameOverride: 'n'.repeat(64) }, /nameOverride/],
  ['a fullnameOverride that is not a DNS label', { fullnameOverride: 'Bpf_Ready' }, /fullnameOverride/],
  ['an unknown alert', { prometheusRule: { alerts: { BpfreadyTypo: { enabled: true } } } }, /BpfreadyTypo/],
  ['an unknown severity', { prometheusRule: { alerts: { BpfreadyNotReady: { severity: 'page' } } } }, /severity/],
  ['a NetworkPolicy peer that is not an object', { networkPolicy: { enabled: true, from: ['monitoring'] } }, /from/],
  ['extraArgs that are not strings', { extraArgs: [1] }, /extraArgs/],
  ['an env var without a name', { extraEnv: [{ value: 'x' }] }, /extraEnv/],
  ['a negative revisionHistoryLimit', { revisionHistoryLimit: -1 }, /revisionHistoryLimit/],
  ['a surge pod (two daemons on one node)', { updateStrategy: { rollingUpdate: { maxSurge: 1 } } }, /maxSurge/],
  ['a surge percentage', { updateStrategy: { rollingUpdate: { maxSurge: '10%' } } }, /maxSurge/],
];

describe.skipIf(skip)('values.schema.json refuses, and helm template fails naming the key', () => {
  it.each(REFUSALS)('%s', (_what, values, key) => {
    let err: unknown;
    try {
      template({ values: [values] });
    } catch (e) {
      err = e;
    }
    expect(err).toBeInstanceOf(HelmError);
    expect((err as HelmError).stderr).toMatch(/values don't meet the specifications of the schema/);
    expect((err as HelmError).stderr).toMatch(key);
    // Helm 3.18.0's validator (gojsonschema, draft-07) refuses it too: the schema needs no newer Helm.
    const dir = mkdtempSync(join(tmpdir(), 'bpfready-values-'));
    try {
      writeFileSync(join(dir, 'v.json'), JSON.stringify(values));
      expect(() => helm(['template', 'bpfready', CHART_DIR, '-f', join(dir, 'v.json')], OLD_HELM)).toThrow(
        /values don't meet the specifications of the schema/,
      );
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });

  it('and the daemon gives the same verdict as the chart on its config (one schema)', () => {
    const samples: Obj[] = [
      { probeInterval: '60' },
      { probeInterval: 0.5 },
      { probeInterval: '5m' },
      { kubernetes: { startJitterSeconds: 0 } },
      { kubernetes: { startJitterSeconds: 4000 } },
      { mountCheckInterval: 0.01 },
      { logLevel: 'loud' },
      { kubernetes: { taint: { key: 'x/y' } } },
    ];
    for (const config of samples) {
      let chart = true;
      try {
        template({ values: [{ config }] });
      } catch {
        chart = false;
      }
      let daemon = true;
      try {
        loadConfig({ argv: [], env: { BPFREADY_CONFIG: '/c' }, readFile: () => JSON.stringify(config) });
      } catch {
        daemon = false;
      }
      expect(chart, JSON.stringify(config)).toBe(daemon);
    }
  });
});

describe.skipIf(skip)('as a subchart, on old clusters, packaged', () => {
  const dir = mkdtempSync(join(tmpdir(), 'bpfready-chart-'));
  afterAll(() => rmSync(dir, { recursive: true, force: true }));

  // A parent chart as users write one: the dependency fetched by `helm dependency build` from a
  // repository (file://), switched by the conventional `condition: bpfready.enabled`, with global values.
  const parent = (enabled: boolean | undefined): string => {
    const root = join(dir, `parent-${String(enabled)}`);
    mkdirSync(join(root, 'templates'), { recursive: true });
    writeFileSync(
      join(root, 'templates/configmap.yaml'),
      'apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: platform\ndata:\n  team: {{ .Values.global.team | quote }}\n',
    );
    const chartVersion = (parseYaml(readFileSync(join(CHART_DIR, 'Chart.yaml'), 'utf8')) as Obj)['version'];
    writeFileSync(
      join(root, 'Chart.yaml'),
      `apiVersion: v2\nname: platform\nversion: 1.0.0\nicon: https://example.com/icon.svg\ndependencies:\n  - name: bpfready\n    version: ${chartVersion}\n    repository: file://${CHART_DIR}\n    condition: bpfready.enabled\n`,
    );
    const own = { ...(enabled === undefined ? {} : { enabled }), namespaceOverride: 'ebpf', imagePullSecrets: [{ name: 'own-regcred' }] };
    writeFileSync(
      join(root, 'values.yaml'),
      JSON.stringify({ global: { imagePullSecrets: [{ name: 'global-regcred' }], team: 'platform' }, bpfready: own }),
    );
    helm(['dependency', 'build', root]);
    return root;
  };

  it.each([true, undefined])(
    'renders as a dependency of a parent chart with condition bpfready.enabled=%s and global values',
    (enabled) => {
      const root = parent(enabled);
      expect(readdirSync(join(root, 'charts'))).toEqual([expect.stringMatching(/^bpfready-[0-9.]+\.tgz$/)]);
      expect(helm(['lint', '--strict', root])).toMatch(/0 chart\(s\) failed/);
      const r = render({ chart: root, release: 'platform', namespace: 'platform' });
      const ds = one(r, 'DaemonSet');
      expect(ds['spec']['template']['spec']['imagePullSecrets']).toEqual([{ name: 'own-regcred' }, { name: 'global-regcred' }]);
      expect(ds['metadata']['namespace']).toBe('ebpf');
      expect(docsOf(r, 'ConfigMap').find((d) => d['metadata']['name'] === 'platform')?.['data']).toEqual({ team: 'platform' });
      expect(r.flatMap(({ doc }) => [...schemaProblems(doc), ...nameProblems(doc)])).toEqual([]);
      documentsValidated += r.length;
    },
  );

  it('is left out by a parent chart with bpfready.enabled=false, the parent still rendering', () => {
    const root = parent(false);
    const r = render({ chart: root, release: 'platform', namespace: 'platform' });
    expect(r.map((d) => `${d.doc['kind']}/${d.doc['metadata']['name']}`)).toEqual(['ConfigMap/platform']);
    // Switched on from the command line, as `--set bpfready.enabled=true` does it.
    expect(
      docsOf(render({ chart: root, release: 'platform', namespace: 'platform', values: [{ bpfready: { enabled: true } }] }), 'DaemonSet'),
    ).toHaveLength(1);
  });

  it('still refuses a non-boolean enabled and unknown keys under the dependency', () => {
    const root = parent(true);
    expect(() => template({ chart: root, values: [{ bpfready: { enabled: 'yes' } }] })).toThrow(/bpfready:[\s\S]*enabled/);
    expect(() => template({ chart: root, values: [{ bpfready: { privileged: true } }] })).toThrow(/bpfready:[\s\S]*privileged/);
  });

  it("refuses a Helm older than Chart.yaml's bpfready.io/helm-version (real Helm 3.18.0) while prune is on, saying why; renders alike without the hook", () => {
    const need = (parseYaml(readFileSync(join(CHART_DIR, 'Chart.yaml'), 'utf8')) as Obj)['annotations']['bpfready.io/helm-version'];
    expect(need).toBe('>=3.19.0-0');
    expect(helm(['version', '--short'], OLD_HELM)).toMatch(/^v3\.18\.0\+/);
    const args = ['template', 'bpfready', CHART_DIR, '--namespace', 'bpfready', '--skip-tests'];
    expect(() => helm(args, OLD_HELM)).toThrow(
      /bpfready needs Helm 3\.19\.0 or newer for its uninstall hook \(prune\.enabled\) and this is Helm v3\.18\.0: .*Upgrade Helm, or set prune\.enabled=false/,
    );
    // What the minimum rests on is the hook alone: the rest of the chart renders byte for byte as on Helm 4.
    const off = [...args, '--set', 'prune.enabled=false'];
    expect(helm(off, OLD_HELM)).toBe(helm(off));
    expect(helm(args)).toContain('kind: Job');
    const readme = readFileSync(join(CHART_DIR, 'README.md'), 'utf8');
    expect(readme).toMatch(/Helm 3\.19\.0 or newer/);
  });

  it('refuses a Kubernetes version below 1.30 and takes 1.30', () => {
    expect(() => template({ kubeVersion: '1.29.9' })).toThrow(
      /chart requires kubeVersion: >=1\.30\.0-0 which is incompatible with Kubernetes v1\.29\.9/,
    );
    expect(template({ kubeVersion: '1.30.0' })).toContain('kind: DaemonSet');
  });

  it('packages, with the schema, README, helm test and scripts but not the ci/ value sets, and the package renders as the directory does', () => {
    const out = helm(['package', CHART_DIR, '--destination', dir]);
    const tgz = join(dir, `bpfready-${chartVersion()}.tgz`);
    expect(out).toContain(tgz);
    const files = execFileSync('tar', ['-tzf', tgz], { encoding: 'utf8' }).split('\n');
    for (const f of [
      'Chart.yaml',
      'values.yaml',
      'values.schema.json',
      'README.md',
      'files/helm-test.mjs',
      'files/wait-for-policy.mjs',
      'templates/tests/readyz.yaml',
      'dashboards/bpfready-dashboard.json',
    ])
      expect(files).toContain(`bpfready/${f}`);
    expect(files.filter((f) => f.includes('/ci/'))).toEqual([]);
    // The files the version ledger digests are exactly those helm package takes.
    expect(
      files
        .filter((f) => f !== '' && !f.endsWith('/'))
        .map((f) => f.replace(/^bpfready\//, ''))
        .sort(),
    ).toEqual(chartFiles());
    expect(template({ chart: tgz })).toBe(template());
  });
});

// helm/chart-versions.json: a version stands for one set of files. Changing the chart without
// bumping Chart.yaml's version (and recording it: node scripts/chart.ts --record-version) fails here.
describe('chart version ledger', () => {
  const ledger = readLedger();
  const semver = (v: string): number[] => v.split(/[.-]/).slice(0, 3).map(Number);
  const newer = (a: string, b: string): boolean => {
    const [x, y] = [semver(a), semver(b)];
    for (let i = 0; i < 3; i++) if (x[i] !== y[i]) return x[i]! > y[i]!;
    return false;
  };

  it("records Chart.yaml's version with the digest of the chart's files as they are", () => {
    const version = chartVersion();
    expect(ledger[version], `chart ${version} is not in helm/chart-versions.json`).toBeDefined();
    expect(
      currentChartDigest(),
      `the chart's files changed but version ${version} did not: bump it and run node scripts/chart.ts --record-version`,
    ).toBe(ledger[version]);
  });

  it('lists versions in increasing order, the current one last, each with its own digest', () => {
    const versions = Object.keys(ledger);
    for (let i = 1; i < versions.length; i++)
      expect(newer(versions[i]!, versions[i - 1]!), `${versions[i]} after ${versions[i - 1]}`).toBe(true);
    expect(versions.at(-1)).toBe(chartVersion());
    expect(new Set(Object.values(ledger)).size).toBe(versions.length);
    for (const d of Object.values(ledger)) expect(d).toMatch(/^sha256:[0-9a-f]{64}$/);
  });

  it('has a digest that any one changed byte, renamed or added file moves', () => {
    const files = new Map(chartFiles().map((f) => [f, readFileSync(join(CHART_DIR, f))]));
    const base = chartDigest(files);
    const edited = new Map(files);
    edited.set('values.yaml', Buffer.concat([files.get('values.yaml')!, Buffer.from(' ')]));
    expect(chartDigest(edited)).not.toBe(base);
    const renamed = new Map([...files].map(([k, v]) => [k === 'icon.svg' ? 'icon2.svg' : k, v]));
    expect(chartDigest(renamed)).not.toBe(base);
    expect(chartDigest(new Map([...files, ['templates/extra.yaml', Buffer.from('')]]))).not.toBe(base);
  });

  it('has a changelog entry in the chart README for every version', () => {
    const readme = readFileSync(join(CHART_DIR, 'README.md'), 'utf8');
    for (const v of Object.keys(ledger)) expect(readme, v).toMatch(new RegExp(`^### ${v.replaceAll('.', '\\.')}\\b`, 'm'));
  });
});
