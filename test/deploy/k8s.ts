// What the API server would refuse in a manifest, checked offline (kubectl cannot validate without a
// server): the OpenAPI schemas of the kinds (kubernetes-models and @kubernetes-models/
// prometheus-operator, validators generated from the upstream OpenAPI documents), unknown fields
// refused as `kubectl apply --validate=strict` does, and the name and label rules the schemas do not
// carry (apimachinery's validation). Also: Helm for the tests, or why it is missing.
import { Model } from '@kubernetes-models/base';
import { helmMissing } from '../../scripts/chart.ts';

type Obj = Record<string, any>;
type ModelClass = new (data: unknown) => Model<unknown>;

/** apiVersion → the module whose exports are the model classes, by kind. */
const MODULES: Record<string, string> = {
  v1: 'kubernetes-models/v1',
  'apps/v1': 'kubernetes-models/apps/v1',
  'batch/v1': 'kubernetes-models/batch/v1',
  'rbac.authorization.k8s.io/v1': 'kubernetes-models/rbac.authorization.k8s.io/v1',
  'admissionregistration.k8s.io/v1': 'kubernetes-models/admissionregistration.k8s.io/v1',
  'networking.k8s.io/v1': 'kubernetes-models/networking.k8s.io/v1',
  'monitoring.coreos.com/v1': '@kubernetes-models/prometheus-operator/monitoring.coreos.com/v1',
};

// devDependencies: a missing one is a broken install and fails here, it never skips.
const loaded = new Map<string, Record<string, ModelClass>>();
for (const [apiVersion, spec] of Object.entries(MODULES)) loaded.set(apiVersion, (await import(spec)) as Record<string, ModelClass>);

/**
 * The objects a validator reads: for each one, the properties it looked at and whether it
 * enumerated the keys (a map, like labels, or additionalProperties). The generated validators test
 * every property their schema declares (`data.x !== undefined`), so a key nobody looked at in an
 * object that was not enumerated is a field the schema does not have.
 */
interface Seen {
  read: Set<string | symbol>;
  enumerated: boolean;
}

function watched(target: Obj, seen: WeakMap<object, Seen>, proxies: WeakMap<object, object>): Obj {
  const cached = proxies.get(target);
  if (cached) return cached as Obj;
  const s: Seen = { read: new Set(), enumerated: false };
  seen.set(target, s);
  const p = new Proxy(target, {
    get(t, k) {
      s.read.add(k);
      const v = Reflect.get(t, k);
      return v && typeof v === 'object' ? watched(v as Obj, seen, proxies) : v;
    },
    has(t, k) {
      s.read.add(k);
      return Reflect.has(t, k);
    },
    ownKeys(t) {
      s.enumerated = true;
      return Reflect.ownKeys(t);
    },
    getOwnPropertyDescriptor(t, k) {
      s.read.add(k);
      return Reflect.getOwnPropertyDescriptor(t, k);
    },
  });
  proxies.set(target, p);
  return p;
}

function unknownFields(v: unknown, seen: WeakMap<object, Seen>, path: string, out: string[]): void {
  if (!v || typeof v !== 'object') return;
  if (Array.isArray(v)) {
    v.forEach((x, i) => unknownFields(x, seen, `${path}[${i}]`, out));
    return;
  }
  const s = seen.get(v);
  if (!s) return;
  for (const [k, child] of Object.entries(v)) {
    if (!s.enumerated && !s.read.has(k)) out.push(`${path}.${k}`);
    unknownFields(child, seen, `${path}.${k}`, out);
  }
}

/** The schema errors and unknown fields of one document; [] when the API server would take it. */
export function schemaProblems(doc: Obj): string[] {
  const model = loaded.get(doc['apiVersion'])?.[doc['kind']];
  if (!model) return [`no schema for ${doc['apiVersion']} ${doc['kind']}: add it to MODULES in test/deploy/k8s.ts`];
  const data = structuredClone(doc);
  const seen = new WeakMap<object, Seen>();
  const out: string[] = [];
  try {
    // The model's prototype validate() runs the generated validator on `this`: here, the watched copy.
    model.prototype.validate.call(watched(data, seen, new WeakMap()));
  } catch (e) {
    out.push((e as Error).message);
  }
  unknownFields(data, seen, '', out);
  return out.map((p) => (p.startsWith('.') ? `unknown field ${p.slice(1)}` : p));
}

// ---------------------------------------------------------------- names and labels (apimachinery)

const DNS1123_LABEL = /^[a-z0-9]([-a-z0-9]*[a-z0-9])?$/;
const DNS1123_SUBDOMAIN = /^[a-z0-9]([-a-z0-9]*[a-z0-9])?(\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*$/;
const DNS1035_LABEL = /^[a-z]([-a-z0-9]*[a-z0-9])?$/;
const LABEL_NAME = /^[A-Za-z0-9]([-A-Za-z0-9_.]*[A-Za-z0-9])?$/;

export function labelKeyProblem(k: string): string | undefined {
  const slash = k.lastIndexOf('/');
  const prefix = slash >= 0 ? k.slice(0, slash) : undefined;
  const name = slash >= 0 ? k.slice(slash + 1) : k;
  if (prefix !== undefined && (prefix.length > 253 || !DNS1123_SUBDOMAIN.test(prefix)))
    return `label key ${k}: prefix must be a DNS subdomain of at most 253 characters`;
  if (name.length > 63 || !LABEL_NAME.test(name)) return `label key ${k}: name must be 1-63 alphanumerics, '-', '_' or '.'`;
  return undefined;
}

export function labelValueProblem(k: string, v: unknown): string | undefined {
  if (typeof v !== 'string') return `label ${k}: value ${JSON.stringify(v)} is not a string`;
  if (v.length > 63 || (v !== '' && !LABEL_NAME.test(v)))
    return `label ${k}: value "${v}" must be at most 63 alphanumerics, '-', '_' or '.'`;
  return undefined;
}

/** How each kind's name is validated (pkg/apis/*\/validation): DNS labels where the name becomes a label or a hostname. */
const NAME_RULE: Record<string, [RegExp, number, string]> = {
  Service: [DNS1035_LABEL, 63, 'a DNS-1035 label'],
  Namespace: [DNS1123_LABEL, 63, 'a DNS-1123 label'],
  // A Job's name becomes the job-name label of its pods; a Pod's its hostname.
  Job: [DNS1123_LABEL, 63, 'a DNS-1123 label'],
  Pod: [DNS1123_SUBDOMAIN, 253, 'a DNS-1123 subdomain'],
};

function labelsProblems(labels: unknown, where: string, out: string[]): void {
  if (labels === undefined) return;
  if (!labels || typeof labels !== 'object') {
    out.push(`${where}: labels are not a mapping`);
    return;
  }
  for (const [k, v] of Object.entries(labels)) {
    const p = labelKeyProblem(k) ?? labelValueProblem(k, v);
    if (p) out.push(`${where}: ${p}`);
  }
}

/** Names, namespaces and every label map of a document (metadata, pod templates, selectors). */
export function nameProblems(doc: Obj): string[] {
  const out: string[] = [];
  const kind = String(doc['kind']);
  const name = doc['metadata']?.['name'];
  const [re, max, what] = NAME_RULE[kind] ?? [DNS1123_SUBDOMAIN, 253, 'a DNS-1123 subdomain'];
  if (typeof name !== 'string' || name.length > max || !re.test(name))
    out.push(`${kind} name ${JSON.stringify(name)} is not ${what} of at most ${max} characters`);
  // Every object we ship is also addressed in labels and selectors by tools that assume 63.
  else if (name.length > 63) out.push(`${kind} name ${name} is longer than 63 characters`);
  const ns = doc['metadata']?.['namespace'];
  if (ns !== undefined && (typeof ns !== 'string' || ns.length > 63 || !DNS1123_LABEL.test(ns)))
    out.push(`${kind} ${name}: namespace ${JSON.stringify(ns)} is not a DNS-1123 label`);
  const walk = (v: unknown, path: string): void => {
    if (!v || typeof v !== 'object') return;
    if (Array.isArray(v)) return v.forEach((x, i) => walk(x, `${path}[${i}]`));
    for (const [k, child] of Object.entries(v)) {
      if (k === 'labels' || k === 'matchLabels') labelsProblems(child, `${kind} ${name} ${path}.${k}`, out);
      else walk(child, `${path}.${k}`);
    }
  };
  walk(doc, '');
  return out;
}

/** Helm for a test file: undefined when it can run; otherwise the reason, and a failure under CI=true. */
export function helmSkip(): string | undefined {
  const missing = helmMissing();
  if (!missing) return undefined;
  const msg = `SKIP real-Helm tests: ${missing}`;
  console.warn(msg);
  if (process.env['CI']) throw new Error(`${msg} — but CI=true, and CI must run them`);
  return missing;
}
