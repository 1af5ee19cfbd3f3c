// bpfready prune: remove what bpfready published (src/publish/prune.ts), and nothing else — from this
// node (--node-name / NODE_NAME), or from every node (--all-nodes: the chart's uninstall hook, where no
// daemon is left to clean up after itself). Safe to run twice: the second run changes nothing.
import { stderr, stdout } from 'node:process';
import type { KubeConfig } from '@kubernetes/client-node';
import { configHelp, loadConfig } from '../config.ts';
import { BpfreadyError, UsageError } from '../base/errors.ts';
import { createConfigMapApi, createNodeApi } from '../publish/client.ts';
import { defaultKubeConfig } from '../publish/index.ts';
import { validatePrefix } from '../publish/labels.ts';
import { pruneAllNodes, pruneNode, pruneReports, type NodePruneOutcome, type PruneResult } from '../publish/prune.ts';

const ALL_NODES_HELP = `  ${'--all-nodes'.padEnd(20)} prune every Node in the cluster (the uninstall hook); excludes --node-name\n`;
// Of the shared flags, the ones prune uses; the others (--listen, --probe-interval ...) would be
// accepted and silently ignored.
const PRUNE_FLAGS = ['--config', '--node-name', '--label-prefix'];

export async function run(argv: string[]): Promise<number> {
  let nodeName: string | undefined;
  let prefix: string;
  let taintKeys: string[];
  let kc: KubeConfig;
  let reports: boolean;
  try {
    // --all-nodes is prune's own flag; the shared flags it would only ignore are refused.
    const loaded = loadConfig({ argv, env: process.env, command: 'prune', only: PRUNE_FLAGS, switches: ['--all-nodes'] });
    if (loaded.help) {
      stdout.write(configHelp('prune', PRUNE_FLAGS).replace('  --help', `${ALL_NODES_HELP}  --help`));
      return 0;
    }
    const allNodes = loaded.given.has('--all-nodes');
    const k = loaded.config.kubernetes;
    if (allNodes && loaded.given.has('--node-name')) {
      throw new UsageError('--all-nodes and --node-name: name one node or ask for all of them, not both');
    }
    if (!allNodes && !k.nodeName)
      throw new UsageError('--node-name / NODE_NAME: bpfready prune needs the name of the Node to clean (or --all-nodes)');
    nodeName = allNodes ? undefined : k.nodeName;
    prefix = validatePrefix(k.labelPrefix);
    taintKeys = k.taint ? [k.taint.key] : [];
    reports = k.reports;
    kc = defaultKubeConfig();
  } catch (e) {
    if (e instanceof BpfreadyError) {
      stderr.write(`bpfready prune: ${e.message}\n`);
      return 2;
    }
    throw e;
  }
  const api = createNodeApi(kc);
  // kubernetes.reports: the report ConfigMaps in our namespace (the context's: in-cluster, the pod's).
  const sweepReports = async (node: string | undefined): Promise<boolean> => {
    if (!reports) return true;
    const namespace = kc.getContextObject(kc.getCurrentContext())?.namespace ?? 'default';
    try {
      const gone = await pruneReports(createConfigMapApi(kc, namespace), node === undefined ? {} : { node });
      stdout.write(`reports: removed ${gone.length} ConfigMap(s) in namespace ${namespace}\n`);
      return true;
    } catch (e) {
      stderr.write(`bpfready prune: reports in namespace ${namespace}: ${e instanceof Error ? e.message : String(e)}\n`);
      return false;
    }
  };
  if (nodeName !== undefined) {
    try {
      stdout.write(`${summary(nodeName, await pruneNode(api, nodeName, { prefix, taintKeys }))}\n`);
    } catch (e) {
      stderr.write(`bpfready prune: ${e instanceof Error ? e.message : String(e)}\n`);
      return 1;
    }
    return (await sweepReports(nodeName)) ? 0 : 1;
  }
  const r = await pruneAllNodes(api, { prefix, taintKeys, concurrency: 8, onNode: (o) => stdout.write(`${line(o)}\n`) });
  const failed = r.nodes.filter((o) => o.error !== undefined).length;
  const changed = r.nodes.filter((o) => o.result && !isClean(o.result)).length;
  stdout.write(
    `total: ${r.nodes.length} node(s), ${changed} pruned, ${r.nodes.length - changed - failed} already clean, ${failed} failed\n`,
  );
  if (r.listError) stderr.write(`bpfready prune: listing nodes: ${r.listError}\n`);
  const swept = await sweepReports(undefined);
  return failed > 0 || r.listError || !swept ? 1 : 0;
}

const isClean = (r: PruneResult): boolean => r.labels.length === 0 && !r.annotation && r.conditions.length === 0 && r.taints.length === 0;

function summary(node: string, r: PruneResult): string {
  return (
    `node ${node}: removed ${r.labels.length} label(s), ${r.annotation ? 'the ownership annotation' : 'no annotation'}, ` +
    `${r.conditions.length} condition(s) [${r.conditions.join(', ')}], ${r.taints.length} taint(s) [${r.taints.join(', ')}]`
  );
}

const line = (o: NodePruneOutcome): string =>
  o.result ? summary(o.node, o.result) : `node ${o.node}: FAILED: ${o.error ?? 'unknown error'}`;
