// bpfready prune: remove what bpfready published on this node (src/publish/prune.ts), and nothing
// else. Meant for a Helm post-delete hook; safe to run twice (the second run changes nothing).
import { stderr, stdout } from 'node:process';
import type { KubeConfig } from '@kubernetes/client-node';
import { configHelp, loadConfig } from '../config.ts';
import { BpfreadyError, UsageError } from '../errors.ts';
import { createNodeApi } from '../publish/client.ts';
import { defaultKubeConfig } from '../publish/index.ts';
import { validatePrefix } from '../publish/labels.ts';
import { pruneNode } from '../publish/prune.ts';

export async function run(argv: string[]): Promise<number> {
  let nodeName: string;
  let prefix: string;
  let taintKeys: string[];
  let kc: KubeConfig;
  try {
    const loaded = loadConfig({ argv, env: process.env });
    if (loaded.help) {
      stdout.write(configHelp('prune'));
      return 0;
    }
    const k = loaded.config.kubernetes;
    if (!k.nodeName) throw new UsageError('--node-name / NODE_NAME: bpfready prune needs the name of the Node to clean');
    nodeName = k.nodeName;
    prefix = validatePrefix(k.labelPrefix);
    taintKeys = k.taint ? [k.taint.key] : [];
    kc = defaultKubeConfig();
  } catch (e) {
    if (e instanceof BpfreadyError) {
      stderr.write(`bpfready prune: ${e.message}\n`);
      return 2;
    }
    throw e;
  }
  try {
    const api = createNodeApi(kc);
    const r = await pruneNode(api, nodeName, { prefix, taintKeys });
    stdout.write(
      `node ${nodeName}: removed ${r.labels.length} label(s), ${r.annotation ? 'the ownership annotation' : 'no annotation'}, ` +
        `${r.conditions.length} condition(s) [${r.conditions.join(', ')}], ${r.taints.length} taint(s) [${r.taints.join(', ')}]\n`,
    );
    return 0;
  } catch (e) {
    stderr.write(`bpfready prune: ${e instanceof Error ? e.message : String(e)}\n`);
    return 1;
  }
}
