// docs/tutorial-workload.md, step by step, with a real object (libbpf-tools' opensnoop, built by
// Debian) and the real CLI: `check --elf --against`, `--emit profile`, the daemons publishing,
// `bpfready nodes`, `--emit node-affinity`, and where the pod may land.
//
// What stands in for what cannot run here (named, and kept to the wire protocol):
//   - the API server: the API-server double of test/publish;
//   - three nodes (this VM's 6.18, Debian 6.1 amd64 and cloud): each node's daemon is the real
//     publisher, fed the node's saved report (fixtures/reports/, probed on those kernels); the
//     emitted profile is checked against that report as `check --against` checks it, because those
//     kernels are not the one running here;
//   - the scheduler: nodeAffinity's `In` over node labels, which is all the emitted affinity uses.
import { spawn } from 'node:child_process';
import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { parse } from 'yaml';
import { parseProfiles } from '../../src/requirements/profiles.ts';
import { evaluateReport } from '../../src/requirements/against.ts';
import { createConfigMapApi, createNodeApi } from '../../src/publish/client.ts';
import { createPublisher, type NodePublisher } from '../../src/publish/index.ts';
import { packKernelView } from '../../src/publish/reports.ts';
import type { ProfileCheck } from '../../src/requirements/profile-checks.ts';
import { loadReports } from '../../src/requirements/reports.ts';
import { requirementId } from '../../src/requirements/model.ts';
import { ApiServerDouble } from '../publish/apiserver-double.ts';
import { RecordingClock } from '../publish/clock.ts';
import { foreignNode, quietLogger } from '../publish/fixtures.ts';
import { BIN } from './process.ts';

const OBJ = join(import.meta.dirname, '../corpus/libbpf-tools/opensnoop.bpf.o');
const NS = 'bpfready';
const NODES: Record<string, string> = {
  'node-vm': '6.18.44-fc-v1147',
  'node-debian': 'debian-6.1.0-57-amd64',
  'node-cloud': 'debian-6.1.0-57-cloud-amd64',
};

function run(args: string[], env: NodeJS.ProcessEnv = process.env): Promise<{ code: number | null; stdout: string; stderr: string }> {
  return new Promise((resolve) => {
    const c = spawn(BIN, args, { env });
    let stdout = '';
    let stderr = '';
    c.stdout.on('data', (b: Buffer) => (stdout += b.toString()));
    c.stderr.on('data', (b: Buffer) => (stderr += b.toString()));
    c.on('close', (code) => resolve({ code, stdout, stderr }));
  });
}

/** The scheduler's reading of a required nodeAffinity (stand-in: only `In`, only matchExpressions). */
function admits(
  affinity: {
    nodeAffinity: {
      requiredDuringSchedulingIgnoredDuringExecution: {
        nodeSelectorTerms: { matchExpressions: { key: string; operator: string; values: string[] }[] }[];
      };
    };
  },
  labels: Record<string, string>,
): boolean {
  return affinity.nodeAffinity.requiredDuringSchedulingIgnoredDuringExecution.nodeSelectorTerms.some((t) =>
    t.matchExpressions.every((e) => {
      if (e.operator !== 'In') throw new Error(`the stand-in scheduler knows only In, not ${e.operator}`);
      return e.key in labels && e.values.includes(labels[e.key]!);
    }),
  );
}

describe('tutorial: ship an eBPF workload only to nodes that can run it', () => {
  const server = new ApiServerDouble();
  const publishers: NodePublisher[] = [];
  let env: NodeJS.ProcessEnv;
  beforeAll(async () => {
    await server.start();
    const dir = mkdtempSync(join(tmpdir(), 'bpfready-tutorial-'));
    const kubeconfig = join(dir, 'kubeconfig');
    const kc = server.kubeConfig();
    kc.contexts[0] = { ...kc.contexts[0]!, namespace: NS };
    writeFileSync(kubeconfig, kc.exportConfig());
    env = { ...process.env, KUBECONFIG: kubeconfig };
  });
  afterAll(async () => {
    for (const p of publishers) await p.close();
    await server.close();
  });

  it('from check --elf to the pod landing on the right nodes', async () => {
    // 1. Before any cluster: the object against the kernels we care about.
    const against = await run(['check', '--elf', OBJ, '--json', ...Object.values(NODES).flatMap((n) => ['--against', n])]);
    expect(against.stderr).toBe('');
    const verdicts = JSON.parse(against.stdout) as { against: { name: string; ok: boolean }[] };
    const readyByReport = Object.fromEntries(verdicts.against.map((r) => [r.name, r.ok]));

    // 2. The profile for the chart's values.
    const emitted = await run(['check', '--elf', OBJ, '--emit', 'profile']);
    expect(emitted.code).toBe(0);
    const values = parse(emitted.stdout) as { config: { profiles: Record<string, string[]> } };
    const profiles = parseProfiles(values.config.profiles, 'emitted profile');
    expect(Object.keys(profiles)).toEqual(['opensnoop']);

    // 3. The daemons publish: labels and conditions on their Nodes, their reports as ConfigMaps.
    for (const [node, name] of Object.entries(NODES)) {
      server.addNode(foreignNode(node));
      const report = loadReports(name)[0]!.report;
      const v = evaluateReport({ requirements: profiles['opensnoop']! }, report);
      const checks: ProfileCheck[] = [
        {
          profile: 'opensnoop',
          satisfied: v.ok,
          unmet: v.unmet.map((u) => ({ requirement: requirementId(u.requirement), status: u.status, remediation: u.remediation })),
        },
      ];
      const p = createPublisher({
        nodeName: node,
        labelPrefix: 'bpfready.io',
        heartbeatSeconds: 0,
        startJitterSeconds: 0,
        logger: quietLogger(),
        api: createNodeApi(server.kubeConfig()),
        clock: new RecordingClock(),
        reports: {
          api: createConfigMapApi(server.kubeConfig(), NS),
          buildDigest: async () => report.kernelView!.build.digest,
          kernelView: async () => packKernelView(report.kernelView!),
        },
      });
      publishers.push(p);
      p.publish(report, checks);
      await p.whenInSync();
    }

    // 4. Which nodes can run it, from what the daemons published.
    const listed = await run(['nodes', '--elf', OBJ, '--json'], env);
    expect(listed.stderr).toBe('');
    const doc = JSON.parse(listed.stdout) as { nodes: { node: string; ready: boolean }[] };
    const readyByNodes = Object.fromEntries(doc.nodes.map((n) => [n.node, n.ready]));

    // 5. The pod's affinity on the profile's label, and where the scheduler may put the pod.
    const aff = await run(['check', '--elf', OBJ, '--emit', 'node-affinity']);
    const affinity = (parse(aff.stdout) as { affinity: Parameters<typeof admits>[0] }).affinity;
    const landsOn = Object.keys(NODES).filter((n) => admits(affinity, server.node(n).metadata.labels ?? {}));

    // One answer, three ways: the saved reports, the published reports, the scheduler's.
    expect(Object.keys(NODES).map((n) => readyByReport[NODES[n]!])).toEqual(Object.keys(NODES).map((n) => readyByNodes[n]));
    expect(landsOn.sort()).toEqual(
      Object.keys(NODES)
        .filter((n) => readyByNodes[n])
        .sort(),
    );
    // And the answer has both sides on these kernels: this VM without tracefs mounted cannot.
    expect(landsOn.length).toBeGreaterThan(0);
    expect(landsOn.length).toBeLessThan(Object.keys(NODES).length);
  });
});
