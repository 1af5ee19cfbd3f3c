// bpfready nodes [--elf FILE [--program NAME]...] [--profile NAME]... [--require ID]... [--json]
//                [--namespace NS] [--limit N]
// Which nodes of the cluster can run this: reads what the daemons published (src/publish/reports.ts)
// with one paginated LIST, and judges each node's saved report as `check --against` does. Read-only:
// needs get/list on ConfigMaps in bpfready's namespace. Also `kubectl bpfready nodes` (bin/kubectl-bpfready).
// Exit 0 every node ready, 1 some not, 2 bad input, usage, or a cluster without bpfready reports.
import { parseArgs } from 'node:util';
import { stderr, stdout } from 'node:process';
import { BpfreadyError, UsageError } from '../base/errors.ts';
import { evaluateReport, type ReportVerdict } from '../requirements/against.ts';
import type { ObjectRequirements } from '../requirements/from-elf.ts';
import type { Requirement } from '../requirements/model.ts';
import { readSelection, SELECTION_OPTIONS } from './selection.ts';

const USAGE = `usage: bpfready nodes [--elf FILE [--program NAME]...] [--profile NAME]... [--require KIND:WHAT]...
                      [--json] [--namespace NS] [--limit N]

  per node of the cluster: ready, or the unmet requirements with their remediation, from the reports
  the bpfready daemons published (KUBECONFIG or ~/.kube/config; read-only)
  --namespace NS    where bpfready runs (default: the kubeconfig context's namespace, else bpfready)
  --limit N         LIST page size (default 500)
exit status: 0 every node ready, 1 some not, 2 bad input or no bpfready reports in the cluster
`;

export interface NodesDocument {
  ok: boolean;
  namespace: string;
  nodes: ({ node: string; ready: boolean } & (ReportVerdict | { error: string }))[];
  requests: number;
}

export async function run(argv: string[]): Promise<number> {
  let v;
  try {
    v = parseArgs({
      args: argv,
      options: {
        ...SELECTION_OPTIONS,
        json: { type: 'boolean' },
        namespace: { type: 'string' },
        limit: { type: 'string' },
        help: { type: 'boolean', short: 'h' },
      },
      strict: true,
      allowPositionals: false,
    }).values;
  } catch (e) {
    stderr.write(`bpfready nodes: ${(e as Error).message}\n\n${USAGE}`);
    return 2;
  }
  if (v.help) {
    stdout.write(USAGE);
    return 0;
  }
  const reqs: Requirement[] = [];
  let object: ObjectRequirements | undefined;
  let kc;
  let namespace: string;
  const limit = v.limit === undefined ? 500 : Number(v.limit);
  try {
    if (!(Number.isInteger(limit) && limit > 0)) throw new UsageError(`--limit must be a positive whole number, got "${v.limit}"`);
    const sel = readSelection(v);
    reqs.push(...sel.requirements);
    object = sel.objReqs;
    const { defaultKubeConfig } = await import('../publish/index.ts');
    kc = defaultKubeConfig();
    namespace = v.namespace ?? kc.getContextObject(kc.getCurrentContext())?.namespace ?? 'bpfready';
  } catch (e) {
    if (e instanceof BpfreadyError) {
      stderr.write(`bpfready nodes: ${e.message}\n`);
      return 2;
    }
    throw e;
  }
  const { createConfigMapApi } = await import('../publish/client.ts');
  const { readPublished, REPORTS_SELECTOR } = await import('../publish/reports.ts');
  const api = createConfigMapApi(kc, namespace);
  const items: Parameters<typeof readPublished>[0][number][] = [];
  let cont: string | undefined;
  let requests = 0;
  try {
    do {
      const page = await api.list({ labelSelector: REPORTS_SELECTOR, limit, ...(cont ? { continueToken: cont } : {}) });
      requests++;
      items.push(...(page.items as unknown as typeof items));
      cont = page.continueToken;
    } while (cont);
  } catch (e) {
    stderr.write(`bpfready nodes: listing ConfigMaps in namespace ${namespace} failed: ${(e as Error).message.split('\n')[0]}\n`);
    return 2;
  }
  const published = readPublished(items);
  if (!published.length) {
    stderr.write(
      `bpfready nodes: namespace ${namespace} has no bpfready node reports (${REPORTS_SELECTOR}): is the daemon installed there (--namespace)?\n`,
    );
    return 2;
  }
  const doc: NodesDocument = { ok: true, namespace, nodes: [], requests };
  // Nodes that probed alike share one stored report (reports.ts): one verdict for all of them.
  const verdicts = new Map<string, ReportVerdict>();
  for (const p of published) {
    if (typeof p.report === 'string') {
      doc.nodes.push({ node: p.node, ready: false, error: p.report });
      doc.ok = false;
      continue;
    }
    let verdict = verdicts.get(p.key);
    if (!verdict)
      verdicts.set(
        p.key,
        (verdict = evaluateReport({ requirements: reqs, ...(object ? { object } : {}), programs: v.program ?? [] }, p.report)),
      );
    doc.nodes.push({ node: p.node, ready: verdict.ok, ...verdict });
    if (!verdict.ok) doc.ok = false;
  }
  stdout.write(v.json ? `${JSON.stringify(doc, null, 2)}\n` : text(doc));
  return doc.ok ? 0 : 1;
}

function text(d: NodesDocument): string {
  const ready = d.nodes.filter((n) => n.ready).length;
  const out = [`bpfready nodes: ${ready} of ${d.nodes.length} nodes ready (namespace ${d.namespace})`];
  for (const n of d.nodes) {
    if ('error' in n) {
      out.push(`✗ ${n.node}: unknown — ${n.error}`);
      continue;
    }
    out.push(`${n.ready ? '✓' : '✗'} ${n.node} (${n.kernel.release}): ${n.ready ? 'ready' : `${n.unmet.length} unmet`}`);
    for (const u of n.unmet) {
      out.push(`    ✗ ${u.id}: ${u.status}${u.detail ? ` — ${u.detail}` : ''}`);
      for (const r of u.remediation) out.push(`        → ${r}`);
    }
  }
  return `${out.join('\n')}\n`;
}
