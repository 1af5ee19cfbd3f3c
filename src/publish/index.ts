// The Kubernetes publisher: report + profile checks → desired Node state → NodeWriter.
// Side effects start only when src/daemon/wiring.ts calls createPublisher (nothing at import time).
import { KubeConfig } from '@kubernetes/client-node';
import type { Logger } from 'pino';
import { UsageError } from '../base/errors.ts';
import type { ProbeReport } from '../contract/report.ts';
import { createConfigMapApi, createNodeApi, type ConfigMapApi, type NodeApi } from './client.ts';
import { projectConditions, summaryConditionType, verdict } from './conditions.ts';
import { labelNameProblem, labelValueProblem, prefixProblem, projectLabels, validatePrefix } from './labels.ts';
import { systemClock, type Clock, type DesiredState, type ProfileCheck, type Publisher, type TaintSpec } from './types.ts';
import { featureDomain, NodeFeatureWriter, projectNodeFeature } from './nodefeature.ts';
import { ReportWriter, type ReportWriterOptions } from './reports.ts';
import { NodeWriter, type WriterStats } from './writer.ts';

export type { ProfileCheck, Publisher, TaintSpec, UnmetRequirement } from './types.ts';

export interface PublisherOptions {
  nodeName: string;
  labelPrefix: string;
  /** 0 = off. Kubernetes' own NodeStatus and NPD use 5 minutes; node-readiness-controller ignores heartbeats. */
  heartbeatSeconds: number;
  /** Managed readiness taint: on the node while the summary condition is not True. */
  taint?: TaintSpec;
  /**
   * node-feature-discovery interop: publish the label facts as a NodeFeature object instead of Node
   * labels (conditions and the taint stay on the Node). Needs kubeConfig (or the default one).
   */
  nfd?: boolean;
  /** Namespace of the NodeFeature; default: the kubeconfig context's (in-cluster: the pod's). */
  nfdNamespace?: string;
  /**
   * The node's report for `bpfready nodes` (ConfigMaps in the kubeconfig context's namespace, or
   * `namespace`; docs/kubernetes.md): how to name the running kernel's build and collect its view,
   */
  reports?: Pick<ReportWriterOptions, 'buildDigest' | 'kernelView'> & { namespace?: string; api?: ConfigMapApi };
  /**
   * Called after a pass of a writer that did work (labels and conditions written, a kernel view
   * collected, a node report packed): the daemon returns the memory it took (src/daemon/memory.ts).
   */
  afterWork?: () => void;
  logger: Logger;
  /** Default: KubeConfig.loadFromDefault() (KUBECONFIG, ~/.kube/config, then in-cluster). */
  kubeConfig?: KubeConfig;
  /** Injected API (tests, the scale simulation); overrides kubeConfig. */
  api?: NodeApi;
  clock?: Clock;
  random?: () => number;
  /** Default 10 s: 5,000 nodes starting together arrive at ≤ 500 requests/s instead of all at once. */
  startJitterSeconds?: number;
  backoff?: { baseMs: number; maxMs: number };
}

/** The Kubernetes publisher: the daemon's Publisher, plus what tests and the status page read. */
export interface NodePublisher extends Publisher {
  stats(): WriterStats;
  /** Resolves once the node shows the latest published state (and the report writer is idle). */
  whenInSync(): Promise<void>;
}

export function validateTaint(t: TaintSpec): TaintSpec {
  const slash = t.key.lastIndexOf('/');
  const prefix = slash >= 0 ? t.key.slice(0, slash) : undefined;
  const name = slash >= 0 ? t.key.slice(slash + 1) : t.key;
  // readiness.k8s.io/ is the namespace node-readiness-controller requires for its taints; allow it
  // even though it is under k8s.io, so a rule and bpfready can share one key during a migration.
  const problem =
    (prefix !== undefined && !prefix.startsWith('readiness.k8s.io') ? prefixProblem(prefix) : undefined) ??
    labelNameProblem(name) ??
    (t.value ? labelValueProblem(t.value) : undefined);
  if (problem) throw new UsageError(`kubernetes.taint.key "${t.key}": ${problem}`);
  if (!['NoSchedule', 'PreferNoSchedule', 'NoExecute'].includes(t.effect)) {
    throw new UsageError(`kubernetes.taint.effect "${t.effect}" must be NoSchedule, PreferNoSchedule or NoExecute`);
  }
  return t;
}

export function desiredState(
  prefix: string,
  report: ProbeReport,
  checked: readonly ProfileCheck[],
  taint: TaintSpec | undefined,
): DesiredState {
  const checks = checked.map(verdict);
  const conditions = projectConditions(prefix, checks);
  const summary = conditions.find((c) => c.type === summaryConditionType(prefix));
  const d: DesiredState = { labels: projectLabels(prefix, report, checks), conditions };
  if (taint && summary?.status !== 'True') d.taint = taint;
  return d;
}

export function createPublisher(opts: PublisherOptions): NodePublisher {
  const prefix = validatePrefix(opts.labelPrefix);
  if (!opts.nodeName) throw new UsageError('kubernetes.nodeName is empty: set NODE_NAME (downward API) or --node-name');
  const taint = opts.taint ? validateTaint(opts.taint) : undefined;
  const needsConfig = !opts.api || opts.nfd || (opts.reports && !opts.reports.api);
  const kc = needsConfig ? (opts.kubeConfig ?? defaultKubeConfig()) : undefined;
  const api = opts.api ?? createNodeApi(kc!);
  const clock = opts.clock ?? systemClock;
  const random = opts.random ?? Math.random;
  const logger = opts.logger.child({ component: 'publisher', node: opts.nodeName });
  const nfd = opts.nfd
    ? new NodeFeatureWriter(kc!, {
        nodeName: opts.nodeName,
        logger,
        clock,
        random,
        ...(opts.nfdNamespace ? { namespace: opts.nfdNamespace } : {}),
      })
    : undefined;
  const writer = new NodeWriter({
    api,
    nodeName: opts.nodeName,
    prefix,
    logger,
    clock,
    random,
    heartbeatSeconds: opts.heartbeatSeconds,
    startJitterMs: (opts.startJitterSeconds ?? 10) * 1000,
    ...(taint ? { taint } : {}),
    ...(opts.backoff ? { backoff: opts.backoff } : {}),
    ...(opts.afterWork ? { afterWrites: opts.afterWork } : {}),
  });
  const r = opts.reports;
  const reports = r
    ? new ReportWriter({
        api: r.api ?? createConfigMapApi(kc!, r.namespace ?? kc!.getContextObject(kc!.getCurrentContext())?.namespace ?? 'default'),
        nodeName: opts.nodeName,
        nodeUid: async () => {
          const uid = (await api.read(opts.nodeName)).metadata?.uid;
          if (!uid) throw new Error(`node ${opts.nodeName} has no uid`);
          return uid;
        },
        buildDigest: r.buildDigest,
        kernelView: r.kernelView,
        ...(opts.afterWork ? { afterWork: opts.afterWork } : {}),
        logger,
        clock,
        random,
        ...(opts.backoff ? { backoff: opts.backoff } : {}),
      })
    : undefined;
  writer.start();
  nfd?.start(Math.floor(random() * (opts.startJitterSeconds ?? 10) * 1000));
  reports?.start(Math.floor(random() * (opts.startJitterSeconds ?? 10) * 1000));
  return {
    publish: (report, checks) => {
      const d = desiredState(prefix, report, checks, taint);
      if (nfd) {
        nfd.set(projectNodeFeature(featureDomain(prefix), report, checks.map(verdict)));
        // With NFD, nfd-master owns node labels; ours (if any were published before) are removed.
        d.labels = {};
      }
      writer.setDesired(d);
      reports?.set(report);
    },
    close: async () => {
      nfd?.close();
      reports?.close();
      await writer.close();
    },
    stats: () => ({ ...writer.stats }),
    whenInSync: async () => {
      await writer.whenInSync();
      await reports?.idle();
    },
  };
}

const WHERE = 'cluster configuration (KUBECONFIG, ~/.kube/config, or the in-cluster service account)';

/** The cluster the way kubectl finds it; a missing or unreadable config is a usage error, not a retry loop. */
export function defaultKubeConfig(): KubeConfig {
  const kc = new KubeConfig();
  try {
    kc.loadFromDefault();
  } catch (e) {
    throw new UsageError(`${WHERE}: ${e instanceof Error ? e.message : String(e)}`, { cause: e });
  }
  // client-node falls back to an unauthenticated http://localhost:8080 when it finds nothing; that
  // is never the cluster a DaemonSet means.
  const cluster = kc.getCurrentCluster();
  if (!cluster || (cluster.name === 'cluster' && cluster.server === 'http://localhost:8080')) {
    throw new UsageError(`${WHERE}: none found`);
  }
  return kc;
}
