// node-feature-discovery interop: our facts as a NodeFeature object (nfd.k8s-sigs.io/v1alpha1), so a
// cluster running NFD can match them in NodeFeatureRules and let nfd-master do all Node writes.
// The object is namespaced and carries nfd.node.kubernetes.io/node-name, which is how nfd-master
// finds third-party NodeFeatures for a node (docs/kubernetes.md). It is owned by its Node (an
// ownerReference with the Node's uid), as node-feature-discovery 0.19 makes its own: the garbage
// collector removes it with the Node, and nothing else does — an object owned by the pod or the
// DaemonSet vanished, with the labels nfd-master derived from it, whenever the DaemonSet was
// re-created.
import { ApiException, CoreV1Api, CustomObjectsApi, type KubeConfig, type V1OwnerReference } from '@kubernetes/client-node';
import type { Logger } from 'pino';
import { Backoff } from '../base/backoff.ts';
import type { ProbeReport } from '../contract/report.ts';
import { toKubeApiError } from './client.ts';
import { projectLabelNames } from './labels.ts';
import { SerialRunner } from './serial.ts';
import type { Clock, ProfileVerdict } from './types.ts';

export const NFD_GROUP = 'nfd.k8s-sigs.io';
export const NFD_VERSION = 'v1alpha1';
export const NFD_PLURAL = 'nodefeatures';
export const NFD_NODE_NAME_LABEL = 'nfd.node.kubernetes.io/node-name';

export interface NodeFeatureSpec {
  features: {
    flags: Record<string, never>;
    attributes: Record<string, { elements: Record<string, string> }>;
    instances: Record<string, never>;
  };
  labels: Record<string, string>;
}

/**
 * Attribute feature sets named `<prefix-domain>.<kind>` (e.g. `bpfready.program_type`), elements
 * `true`/`false` — the same conclusive-only values as the labels, so NodeFeatureRules use IsTrue /
 * IsFalse and an unknown result is simply absent. No node labels are requested: nfd-master rejects
 * label namespaces outside feature.node.kubernetes.io unless given -extra-label-ns.
 */
export function projectNodeFeature(domain: string, report: ProbeReport, checks: readonly ProfileVerdict[]): NodeFeatureSpec {
  const attributes: NodeFeatureSpec['features']['attributes'] = {};
  const kinds: Record<string, string> = { 'program-type': 'program_type', 'map-type': 'map_type', feature: 'feature', profile: 'profile' };
  for (const [name, value] of Object.entries(projectLabelNames(report, checks))) {
    const dot = name.indexOf('.');
    const kind = kinds[name.slice(0, dot)];
    if (!kind) continue;
    const set = (attributes[`${domain}.${kind}`] ??= { elements: {} });
    set.elements[name.slice(dot + 1)] = value;
  }
  return { features: { flags: {}, attributes, instances: {} }, labels: {} };
}

/** `bpfready.io` → `bpfready`: NFD feature names are `<domain>.<feature>` with a dot-free domain. */
export const featureDomain = (prefix: string): string => prefix.split('.')[0]!;

export interface NodeFeatureWriterOptions {
  nodeName: string;
  /** Default: the kubeconfig context's namespace (in-cluster: the pod's service-account namespace). */
  namespace?: string;
  logger: Logger;
  clock: Clock;
  random: () => number;
}

interface NodeFeatureObject {
  apiVersion: string;
  kind: string;
  metadata: {
    name: string;
    namespace: string;
    resourceVersion?: string;
    labels?: Record<string, string>;
    ownerReferences?: V1OwnerReference[];
  };
  spec: NodeFeatureSpec;
}

/** The reference that makes a NodeFeature the Node's: no blockOwnerDeletion (that needs nodes/finalizers update). */
export function nodeOwnerReference(name: string, uid: string): V1OwnerReference {
  return { apiVersion: 'v1', kind: 'Node', name, uid };
}

const isNodeRef = (r: V1OwnerReference): boolean => r.apiVersion === 'v1' && r.kind === 'Node';

/**
 * Keeps one NodeFeature in the desired state: written only when its spec differs from what we last
 * wrote or read; 404 → create; 409 (someone else wrote it) → re-read and retry with backoff.
 */
export class NodeFeatureWriter {
  private readonly api: CustomObjectsApi;
  private readonly core: CoreV1Api;
  /** The Node's uid, read once; again when our object is gone (the Node may have been re-created). */
  private nodeUid: string | undefined;
  private readonly name: string;
  private readonly namespace: string;
  private desired: NodeFeatureSpec | undefined;
  private written: string | undefined;
  private readonly backoff: Backoff;
  private readonly runner: SerialRunner;
  private readonly o: NodeFeatureWriterOptions;
  writes = 0;

  constructor(kc: KubeConfig, opts: NodeFeatureWriterOptions) {
    this.o = opts;
    this.runner = new SerialRunner(() => this.sync(), opts.clock);
    this.backoff = new Backoff({ baseMs: 500, maxMs: 60_000, jitter: 'equal' }, opts.random);
    this.api = kc.makeApiClient(CustomObjectsApi);
    this.core = kc.makeApiClient(CoreV1Api);
    this.name = `bpfready-${opts.nodeName}`;
    this.namespace = opts.namespace ?? kc.getContextObject(kc.getCurrentContext())?.namespace ?? 'default';
  }

  set(spec: NodeFeatureSpec): void {
    this.desired = spec;
    if (JSON.stringify(spec) === this.written) return;
    this.runner.kick();
  }

  /** First write after `delayMs` (the publisher's start jitter); set() before then only records. */
  start(delayMs: number): void {
    this.runner.retryIn(delayMs);
  }

  close(): void {
    this.runner.close();
  }

  private async sync(): Promise<void> {
    const spec = this.desired;
    if (!spec) return;
    const ref = { group: NFD_GROUP, version: NFD_VERSION, namespace: this.namespace, plural: NFD_PLURAL };
    try {
      let current: NodeFeatureObject | undefined;
      try {
        current = (await this.api.getNamespacedCustomObject({ ...ref, name: this.name })) as NodeFeatureObject;
      } catch (e) {
        if (!(e instanceof ApiException && e.code === 404)) throw e;
      }
      if (!current || !this.nodeUid) this.nodeUid = (await this.core.readNode({ name: this.o.nodeName })).metadata?.uid;
      if (!this.nodeUid) throw new Error(`node ${this.o.nodeName} has no uid`);
      const owner = nodeOwnerReference(this.o.nodeName, this.nodeUid);
      // Everything else in the object's metadata (annotations, others' ownerReferences, finalizers)
      // goes back as it is: a PUT replaces the whole object. A reference to another Node (an object
      // left from a re-created Node of the same name) is replaced by ours.
      const others = (current?.metadata.ownerReferences ?? []).filter((r) => !isNodeRef(r));
      const body: NodeFeatureObject = {
        apiVersion: `${NFD_GROUP}/${NFD_VERSION}`,
        kind: 'NodeFeature',
        metadata: {
          ...current?.metadata,
          name: this.name,
          namespace: this.namespace,
          labels: { ...current?.metadata.labels, [NFD_NODE_NAME_LABEL]: this.o.nodeName },
          ownerReferences: [...others, owner],
        },
        spec,
      };
      // The API server hands the spec back with its keys sorted (Go maps): compare in one key order.
      const owned = (current?.metadata.ownerReferences ?? []).filter(isNodeRef);
      const same =
        current &&
        canonicalJson(current.spec) === canonicalJson(spec) &&
        current.metadata.labels?.[NFD_NODE_NAME_LABEL] === this.o.nodeName &&
        owned.length === 1 &&
        canonicalJson(owned[0]) === canonicalJson(owner);
      if (!same) {
        this.writes++;
        if (!current) await this.api.createNamespacedCustomObject({ ...ref, body });
        else {
          // The resourceVersion makes this a compare-and-swap: 409 if it changed since our GET.
          body.metadata.resourceVersion = current.metadata.resourceVersion!;
          await this.api.replaceNamespacedCustomObject({ ...ref, name: this.name, body });
        }
      }
      this.written = JSON.stringify(spec);
      this.backoff.reset();
    } catch (e) {
      const err = toKubeApiError(`NodeFeature ${this.namespace}/${this.name}`, e);
      const delay = this.backoff.next(err.retryAfterMs);
      this.o.logger.warn({ err: err.message, retryInMs: Math.round(delay) }, 'NodeFeature update failed; will retry');
      this.runner.retryIn(delay);
    }
  }
}

/** JSON with every object's keys sorted: equal for equal values whatever order they were built in. */
export function canonicalJson(v: unknown): string {
  return JSON.stringify(v, (_k, x: unknown) =>
    x && typeof x === 'object' && !Array.isArray(x)
      ? Object.fromEntries(Object.entries(x as Record<string, unknown>).sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0)))
      : x,
  );
}
