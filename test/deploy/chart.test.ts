// The chart: values against values.schema.json, rendering under the defaults and the documented
// variations, the cross-field rules the Kubernetes API enforces but its OpenAPI schema cannot say,
// and the daemon really accepting the config the chart gives it.
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { Ajv } from 'ajv';
import { describe, expect, it } from 'vitest';
import { parse as parseYaml } from 'yaml';
import { loadConfig } from '../../src/config.ts';
import { CHART_DIR, renderChart, RenderError, type RenderedChart } from '../../scripts/render-chart.ts';

const schema = JSON.parse(readFileSync(join(CHART_DIR, 'values.schema.json'), 'utf8')) as object;
const defaults = parseYaml(readFileSync(join(CHART_DIR, 'values.yaml'), 'utf8')) as Record<string, unknown>;
// Helm validates values with JSON Schema draft 7 semantics; strict:false because the schema carries
// helm-facing "description" text next to keywords ajv's strict mode would question.
const validate = new Ajv({ allErrors: true, strict: false }).compile(schema);

type Obj = Record<string, any>;
const isHook = (doc: Obj): boolean => doc['metadata']?.['annotations']?.['helm.sh/hook'] !== undefined;
/** The release's own objects of a kind; the uninstall hook's (prune-hook.yaml) are hooksOf. */
const docsOf = (r: RenderedChart, kind: string): Obj[] => r.documents.filter((d) => d.doc['kind'] === kind && !isHook(d.doc)).map((d) => d.doc as Obj);
const hooksOf = (r: RenderedChart, kind: string): Obj[] => r.documents.filter((d) => d.doc['kind'] === kind && isHook(d.doc)).map((d) => d.doc as Obj);
const one = (r: RenderedChart, kind: string): Obj => {
  const docs = docsOf(r, kind);
  expect(docs, kind).toHaveLength(1);
  return docs[0]!;
};

/** Values overlays a user might pass with -f / --set; each must render and validate. */
const VARIATIONS: Record<string, Record<string, unknown>> = {
  defaults: {},
  everythingOn: {
    serviceMonitor: { enabled: true, labels: { release: 'kube-prometheus-stack' } },
    prometheusRule: { enabled: true, tokenExpectedMounts: '/run/tokens/.*' },
    grafanaDashboard: { enabled: true, namespace: 'monitoring' },
    podLabels: { team: 'platform' },
    podAnnotations: { 'example.com/note': 'x' },
    imagePullSecrets: [{ name: 'regcred' }],
    nodeSelector: { 'kubernetes.io/os': 'linux' },
  },
  taintTrue: { config: { kubernetes: { taint: true } } },
  taintMap: { config: { kubernetes: { taint: { key: 'readiness.k8s.io/ebpf-ready', value: 'pending', effect: 'NoSchedule' } } } },
  digestAndPrefix: {
    image: { digest: `sha256:${'a'.repeat(64)}` },
    config: { kubernetes: { labelPrefix: 'ebpf.example.com' }, checkProfiles: ['cilium'] },
    fullnameOverride: 'ebpf-ready',
  },
  nfd: { config: { kubernetes: { nfd: true } } },
  everythingOff: { rbac: { create: false }, serviceAccount: { create: false, name: 'existing' }, service: { enabled: false }, admissionPolicy: { enabled: false }, prune: { enabled: false } },
  pruneNoPolicy: { admissionPolicy: { enabled: false }, prune: { tolerations: [{ operator: 'Exists' }], nodeSelector: { 'kubernetes.io/os': 'linux' } } },
};

describe('values.yaml', () => {
  it('validates against values.schema.json', () => {
    expect(validate(defaults), JSON.stringify(validate.errors)).toBe(true);
  });

  it.each([
    ['a CAP_-prefixed capability', { capabilities: ['CAP_BPF'] }],
    ['Deny together with Warn', { admissionPolicy: { enabled: true, validationActions: ['Deny', 'Warn'] } }],
    ['an unknown top-level key', { privileged: true }],
    ['a labelPrefix with uppercase', { config: { kubernetes: { labelPrefix: 'BPF.io' } } }],
    ['a relative hostRoot', { hostRoot: 'host' }],
    ['a Localhost seccomp profile without a path', { seccompProfile: { type: 'Localhost' } }],
    ['a malformed digest', { image: { repository: 'x', pullPolicy: 'Always', digest: 'sha256:abc' } }],
    ['an unknown config key (the daemon would refuse it)', { config: { listen: ':1' } }],
  ])('rejects %s', (_what, over) => {
    expect(validate({ ...defaults, ...over })).toBe(false);
  });
});

describe.each(Object.entries(VARIATIONS))('chart rendered with %s', (name, values) => {
  const r = renderChart(CHART_DIR, { values, releaseName: 'bpfready', namespace: 'bpfready' });

  it('has values that validate against the schema', () => {
    expect(validate(r.values), JSON.stringify(validate.errors)).toBe(true);
  });

  it('renders only mappings with apiVersion, kind and a name', () => {
    expect(r.documents.length).toBeGreaterThan(0);
    for (const { doc, source } of r.documents) {
      expect(doc['apiVersion'], source).toEqual(expect.any(String));
      expect(doc['kind'], source).toEqual(expect.any(String));
      expect((doc['metadata'] as Obj | undefined)?.['name'], source).toMatch(/^[a-z0-9]([-a-z0-9.]*[a-z0-9])?$/);
    }
  });

  if (name === 'everythingOff') {
    it('leaves out what was switched off', () => {
      const kinds = r.documents.map((d) => d.doc['kind']);
      expect(kinds).not.toContain('ClusterRole');
      expect(kinds).not.toContain('ServiceAccount');
      expect(kinds).not.toContain('ValidatingAdmissionPolicy');
      expect(kinds).not.toContain('Service');
      expect(kinds).not.toContain('Job');
      expect(one(r, 'DaemonSet')['spec']['template']['spec']['serviceAccountName']).toBe('existing');
    });
    return;
  }

  const ds = one(r, 'DaemonSet');
  const pod = ds['spec']['template']['spec'];
  const c = pod['containers'][0];

  it('runs on every node, first to be kept, rolled 10% at a time', () => {
    expect(pod['tolerations']).toContainEqual({ operator: 'Exists' });
    // Whatever the values say, it tolerates the readiness taints it is there to take off.
    expect(pod['tolerations']).toContainEqual({ key: 'readiness.k8s.io/ebpf-ready', operator: 'Exists' });
    const kube = (r.values as Obj)['config']?.['kubernetes'] as Obj | undefined;
    if (kube?.['taint']) {
      const t = kube['taint'];
      expect(pod['tolerations']).toContainEqual({ key: typeof t === 'object' && t['key'] ? t['key'] : `${kube['labelPrefix'] ?? 'bpfready.io'}/not-ready`, operator: 'Exists' });
    }
    expect(pod['priorityClassName']).toBe('system-node-critical');
    expect(ds['spec']['updateStrategy']).toEqual({ type: 'RollingUpdate', rollingUpdate: { maxUnavailable: '10%' } });
    expect(pod['hostNetwork']).toBe(false);
    expect(pod['hostPID']).toBe(false);
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
    // values.yaml must say why for every capability it adds.
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
    // Mounts the host makes under /sys/fs later (a bpffs for tokens) reach the pod.
    const sysFs = (c['volumeMounts'] as Obj[]).find((m) => volumes.get(m['name'])?.['hostPath']?.['path'] === '/sys/fs');
    expect(sysFs?.['mountPropagation']).toBe('HostToContainer');
    // Every volume is used, and the names are unique.
    expect(new Set((c['volumeMounts'] as Obj[]).map((m) => m['name'])).size).toBe(volumes.size);
  });

  it('probes /healthz and /readyz on the port the daemon listens on', () => {
    const port = c['ports'][0];
    expect(port).toMatchObject({ name: 'http', containerPort: r.values['port'] });
    expect(c['livenessProbe']['httpGet']).toEqual({ path: '/healthz', port: 'http' });
    expect(c['readinessProbe']['httpGet']).toEqual({ path: '/readyz', port: 'http' });
  });

  it('gives the daemon a config src/config.ts accepts, with the env the DaemonSet sets', () => {
    const cm = docsOf(r, 'ConfigMap').find((d) => d['data']?.['config.yaml'] !== undefined)!;
    const file = cm['data']['config.yaml'] as string;
    const env: Record<string, string> = {};
    for (const e of c['env'] as Obj[]) if (typeof e['value'] === 'string') env[e['name']] = e['value'];
    env['NODE_NAME'] = 'node-a';
    const loaded = loadConfig({ argv: [], env, readFile: (p) => (p === env['BPFREADY_CONFIG'] ? file : '') });
    if (loaded.help) throw new Error('help');
    expect(loaded.config.hostRoot).toBe('/host');
    expect(loaded.config.listen).toEqual({ host: '::', port: r.values['port'] });
    expect(loaded.config.kubernetes.nodeName).toBe('node-a');
    const want = (r.values['config'] as Obj)['kubernetes']['labelPrefix'];
    expect(loaded.config.kubernetes.labelPrefix).toBe(want);
    expect(Object.keys(loaded.config.profiles).length).toBeGreaterThan(0);
    // The config volume is the ConfigMap, mounted where BPFREADY_CONFIG points.
    const vol = (pod['volumes'] as Obj[]).find((v) => v['configMap']?.['name'] === cm['metadata']['name']);
    const mount = (c['volumeMounts'] as Obj[]).find((m) => m['name'] === vol?.['name']);
    expect(`${mount?.['mountPath']}/config.yaml`).toBe(env['BPFREADY_CONFIG']);
  });

  it('grants nodes get/list/watch/patch and nodes/status patch, nothing else', () => {
    const role = one(r, 'ClusterRole');
    expect(role['rules']).toEqual([
      { apiGroups: [''], resources: ['nodes'], verbs: ['get', 'list', 'watch', 'patch'] },
      { apiGroups: [''], resources: ['nodes/status'], verbs: ['patch'] },
    ]);
    const binding = one(r, 'ClusterRoleBinding');
    const sa = one(r, 'ServiceAccount');
    expect(binding['subjects']).toEqual([{ kind: 'ServiceAccount', name: sa['metadata']['name'], namespace: 'bpfready' }]);
    expect(pod['serviceAccountName']).toBe(sa['metadata']['name']);
  });

  it('has an uninstall hook: every object of it hook-annotated, its RBAC and policy created before the Job', () => {
    const hooks = r.documents.filter((d) => isHook(d.doc)).map((d) => d.doc as Obj);
    expect(hooks.map((d) => d['kind']).sort()).toEqual(
      (name === 'pruneNoPolicy' ? [] : ['ValidatingAdmissionPolicy', 'ValidatingAdmissionPolicyBinding']).concat(['ClusterRole', 'ClusterRoleBinding', 'ConfigMap', 'Job', 'ServiceAccount']).sort(),
    );
    const job = hooksOf(r, 'Job')[0]!;
    const weight = (d: Obj): number => Number(d['metadata']['annotations']['helm.sh/hook-weight']);
    for (const d of hooks) {
      expect(d['metadata']['annotations']['helm.sh/hook'], d['kind']).toBe('post-delete');
      expect(d['metadata']['annotations']['helm.sh/hook-delete-policy'], d['kind']).toBe('before-hook-creation,hook-succeeded');
      if (d !== job) expect(weight(d), d['kind']).toBeLessThan(weight(job));
    }
  });

  it('gives the prune Job its own account with nodes get/list/patch and nodes/status patch only', () => {
    const [sa] = hooksOf(r, 'ServiceAccount');
    const [role] = hooksOf(r, 'ClusterRole');
    const [binding] = hooksOf(r, 'ClusterRoleBinding');
    const job = hooksOf(r, 'Job')[0]!;
    expect(role!['rules']).toEqual([
      { apiGroups: [''], resources: ['nodes'], verbs: ['get', 'list', 'patch'] },
      { apiGroups: [''], resources: ['nodes/status'], verbs: ['patch'] },
    ]);
    expect(binding!['roleRef']).toEqual({ apiGroup: 'rbac.authorization.k8s.io', kind: 'ClusterRole', name: role!['metadata']['name'] });
    expect(binding!['subjects']).toEqual([{ kind: 'ServiceAccount', name: sa!['metadata']['name'], namespace: 'bpfready' }]);
    expect(sa!['metadata']['name']).not.toBe(pod['serviceAccountName']);
    expect(job['spec']['template']['spec']['serviceAccountName']).toBe(sa!['metadata']['name']);
    for (const p of hooksOf(r, 'ValidatingAdmissionPolicy')) {
      expect(p['spec']['matchConditions'][0]['expression']).toBe(`request.userInfo.username == 'system:serviceaccount:bpfready:${sa!['metadata']['name']}'`);
    }
  });

  it('runs prune --all-nodes non-root, read-only, without capabilities, bounded in time', () => {
    const job = hooksOf(r, 'Job')[0]!;
    const jp = job['spec']['template']['spec'];
    const jc = jp['containers'][0];
    expect(jc['image']).toBe(c['image']);
    expect(jc['args']).toEqual(['prune', '--all-nodes']);
    expect(jp['restartPolicy']).toBe('Never');
    expect(jp['securityContext']).toMatchObject({ runAsNonRoot: true, seccompProfile: { type: 'RuntimeDefault' } });
    expect(jp['securityContext']['runAsUser']).toBeGreaterThan(0);
    expect(jc['securityContext']).toEqual({ allowPrivilegeEscalation: false, readOnlyRootFilesystem: true, capabilities: { drop: ['ALL'] } });
    expect(jp['hostNetwork'] ?? false).toBe(false);
    expect((jp['volumes'] as Obj[]).every((v) => v['hostPath'] === undefined)).toBe(true);
    for (const k of ['backoffLimit', 'activeDeadlineSeconds', 'ttlSecondsAfterFinished']) expect(job['spec'][k], k).toEqual(expect.any(Number));
    const pv = r.values['prune'] as Obj;
    expect(jp['tolerations']).toEqual(pv['tolerations'].length ? pv['tolerations'] : undefined);
    expect(jp['nodeSelector']).toEqual(Object.keys(pv['nodeSelector']).length ? pv['nodeSelector'] : undefined);
    // Not picked up by the Service or the DaemonSet's selector.
    const sel = ds['spec']['selector']['matchLabels'] as Obj;
    const labels = job['spec']['template']['metadata']['labels'] as Obj;
    expect(Object.entries(sel).every(([k, v]) => labels[k] === v)).toBe(false);
  });

  it('tells prune the label prefix and taint the daemon uses (src/config.ts reads both files alike)', () => {
    const job = hooksOf(r, 'Job')[0]!;
    const jc = job['spec']['template']['spec']['containers'][0];
    const cm = hooksOf(r, 'ConfigMap')[0]!;
    const vol = (job['spec']['template']['spec']['volumes'] as Obj[]).find((v) => v['configMap']?.['name'] === cm['metadata']['name']);
    const mount = (jc['volumeMounts'] as Obj[]).find((m) => m['name'] === vol?.['name']);
    const env = Object.fromEntries((jc['env'] as Obj[]).map((e) => [e['name'], e['value']])) as Record<string, string>;
    expect(`${mount?.['mountPath']}/config.yaml`).toBe(env['BPFREADY_CONFIG']);
    const daemonCm = docsOf(r, 'ConfigMap').find((d) => d['data']?.['config.yaml'] !== undefined)!;
    const load = (file: string) => {
      const l = loadConfig({ argv: [], env: { BPFREADY_CONFIG: '/c' }, readFile: () => file });
      if (l.help) throw new Error('help');
      return l.config.kubernetes;
    };
    const pruneK = load(cm['data']['config.yaml']);
    const daemonK = load(daemonCm['data']['config.yaml']);
    expect(pruneK.labelPrefix).toBe(daemonK.labelPrefix);
    expect(pruneK.taint).toEqual(daemonK.taint);
  });

  it('binds the admission policy to this service account and this prefix', () => {
    const hookPolicies = hooksOf(r, 'ValidatingAdmissionPolicy').map((p) => p['metadata']['name']);
    expect(hooksOf(r, 'ValidatingAdmissionPolicyBinding').map((b) => b['spec']['policyName'])).toEqual(hookPolicies);
    if (name === 'pruneNoPolicy') {
      expect(r.documents.filter((d) => d.doc['kind'] === 'ValidatingAdmissionPolicy')).toEqual([]);
      return;
    }
    const policy = docsOf(r, 'ValidatingAdmissionPolicy').find((p) => p['metadata']['name'].endsWith('-node-writes'))!;
    const bindings = docsOf(r, 'ValidatingAdmissionPolicyBinding').map((b) => b['spec']['policyName']);
    expect(bindings.sort()).toEqual(docsOf(r, 'ValidatingAdmissionPolicy').map((p) => p['metadata']['name']).sort());
    expect(policy['spec']['matchConditions'][0]['expression']).toContain(`system:serviceaccount:bpfready:${pod['serviceAccountName']}'`);
    const prefix = (r.values['config'] as Obj)['kubernetes']['labelPrefix'];
    const vars = Object.fromEntries((policy['spec']['variables'] as Obj[]).map((v) => [v['name'], v['expression']]));
    expect(vars['prefix']).toBe(`'${prefix}/'`);
  });

  it('selects its own pods from the Service and the ServiceMonitor', () => {
    const sel = ds['spec']['selector']['matchLabels'];
    expect(ds['spec']['template']['metadata']['labels']).toMatchObject(sel);
    expect(one(r, 'Service')['spec']['selector']).toEqual(sel);
    for (const sm of docsOf(r, 'ServiceMonitor')) expect(sm['spec']['selector']['matchLabels']).toEqual(sel);
  });
});

describe('chart variations', () => {
  const taintKey = (values: Record<string, unknown>): string => {
    const policy = docsOf(renderChart(CHART_DIR, { values }), 'ValidatingAdmissionPolicy')[0]!;
    return (policy['spec']['variables'] as Obj[]).find((v) => v['name'] === 'taintKey')!['expression'];
  };

  it('tells the admission policy which taint is ours, as src/config.ts resolves it', () => {
    expect(taintKey({})).toBe("''");
    expect(taintKey(VARIATIONS['taintTrue']!)).toBe("'bpfready.io/not-ready'");
    expect(taintKey(VARIATIONS['taintMap']!)).toBe("'readiness.k8s.io/ebpf-ready'");
    expect(taintKey({ config: { kubernetes: { taint: { effect: 'NoExecute' } } } })).toBe("'bpfready.io/not-ready'");
  });

  it('grants nodefeatures in the release namespace only with kubernetes.nfd, and guards them per node', () => {
    expect(docsOf(renderChart(CHART_DIR), 'Role')).toEqual([]);
    const r = renderChart(CHART_DIR, { values: VARIATIONS['nfd']! });
    const role = one(r, 'Role');
    expect(role['metadata']['namespace']).toBe('bpfready');
    expect(role['rules']).toEqual([{ apiGroups: ['nfd.k8s-sigs.io'], resources: ['nodefeatures'], verbs: ['get', 'create', 'update'] }]);
    expect(one(r, 'RoleBinding')['roleRef']['name']).toBe(role['metadata']['name']);
    expect(docsOf(r, 'ValidatingAdmissionPolicy').map((p) => p['metadata']['name'])).toEqual(['bpfready-node-writes', 'bpfready-nodefeatures']);
  });

  it('pins the image by digest when one is given', () => {
    const r = renderChart(CHART_DIR, { values: VARIATIONS['digestAndPrefix']! });
    expect(one(r, 'DaemonSet')['spec']['template']['spec']['containers'][0]['image']).toBe(`ghcr.io/bpfready/bpfready@sha256:${'a'.repeat(64)}`);
    expect(one(r, 'DaemonSet')['metadata']['name']).toBe('ebpf-ready');
  });

  it('rolls the pods when the config changes', () => {
    const annotation = (values: Record<string, unknown>): string => one(renderChart(CHART_DIR, { values }), 'DaemonSet')['spec']['template']['metadata']['annotations']['checksum/config'];
    expect(annotation({})).toMatch(/^[0-9a-f]{64}$/);
    expect(annotation({ config: { logLevel: 'debug' } })).not.toBe(annotation({}));
  });

  it('puts the Grafana dashboard in a sidecar-labelled ConfigMap, byte for byte', () => {
    const r = renderChart(CHART_DIR, { values: { grafanaDashboard: { enabled: true } } });
    const cm = docsOf(r, 'ConfigMap').find((d) => d['metadata']['name'].endsWith('-dashboard'))!;
    expect(cm['metadata']['labels']['grafana_dashboard']).toBe('1');
    expect(cm['data']['bpfready-dashboard.json']).toBe(readFileSync(join(CHART_DIR, 'dashboards/bpfready-dashboard.json'), 'utf8'));
  });
});

describe('the renderer refuses what it does not implement', () => {
  it('names the template and line of an unsupported function', () => {
    expect(() => renderChart(join(import.meta.dirname, 'fixtures/unsupported-chart'))).toThrow(RenderError);
    expect(() => renderChart(join(import.meta.dirname, 'fixtures/unsupported-chart'))).toThrow(/templates\/bad\.yaml:3: function "lookup"/);
  });
});

describe('priority-class quota', () => {
  const quotas = (ns: string, values: Record<string, unknown> = {}) => docsOf(renderChart(CHART_DIR, { values, releaseName: 'bpfready', namespace: ns }), 'ResourceQuota');
  it('comes with system-node-critical pods outside kube-system, scoped to that class, and not otherwise', () => {
    const [q] = quotas('bpfready');
    expect(q?.['spec']['scopeSelector']).toEqual({ matchExpressions: [{ operator: 'In', scopeName: 'PriorityClass', values: ['system-node-critical'] }] });
    expect(quotas('kube-system')).toEqual([]);
    expect(quotas('bpfready', { priorityClassName: '' })).toEqual([]);
    expect(quotas('bpfready', { priorityClassQuota: { enabled: false } })).toEqual([]);
  });
});
