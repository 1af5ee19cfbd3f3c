// The real probe report of this kernel, projected and published to the double: every label the real
// facts produce must pass the API server's validation, and only conclusive facts become labels.
import { describe, expect, it } from 'vitest';
import { probe } from '../../src/collect/index.ts';
import { createNodeApi } from '../../src/publish/client.ts';
import { createPublisher } from '../../src/publish/index.ts';
import { projectLabels } from '../../src/publish/labels.ts';
import { ApiServerDouble } from './apiserver-double.ts';
import { RecordingClock } from './clock.ts';
import { foreignNode, quietLogger } from './fixtures.ts';
import { rootOnly } from '../helpers/root.ts';

const isRoot = !rootOnly('test/publish/real-report.test.ts (the real probe)');

describe.skipIf(!isRoot)('publishing the real report of this kernel', () => {
  it('labels are valid, bounded and conclusive-only; the double accepts them', async () => {
    const report = await probe();
    const labels = projectLabels('bpfready.io', report, []);
    const n = Object.keys(labels).length;
    expect(n).toBeGreaterThan(50);
    expect(n).toBeLessThan(100);
    for (const [k, v] of Object.entries(labels)) {
      const [kind, name] = k.slice('bpfready.io/'.length).split(/\.(.*)/s);
      const src = kind === 'program-type' ? report.programTypes[name!] : kind === 'map-type' ? report.mapTypes[name!] : undefined;
      if (src) expect(v).toBe(src.status === 'supported' ? 'true' : 'false');
    }
    // facts this kernel cannot settle for us (e.g. lsm load EPERM as root) carry no label
    for (const [t, r] of Object.entries(report.programTypes)) {
      if (r.status === 'not-permitted' || r.status === 'error') expect(labels).not.toHaveProperty(`bpfready.io/program-type.${t}`);
    }
    const server = new ApiServerDouble();
    await server.start();
    try {
      server.addNode(foreignNode('real'));
      const p = createPublisher({
        nodeName: 'real',
        labelPrefix: 'bpfready.io',
        heartbeatSeconds: 0,
        logger: quietLogger(),
        api: createNodeApi(server.kubeConfig()),
        clock: new RecordingClock(),
        startJitterSeconds: 0,
      });
      p.publish(report, [
        {
          profile: 'demo',
          satisfied: false,
          unmet: [{ requirement: 'program type lsm', status: 'not-permitted', errno: 'EPERM', remediation: ['see docs/attach.md'] }],
        },
      ]);
      await p.whenInSync();
      await p.close();
      expect(server.requests.filter((r) => r.status === 422)).toEqual([]);
      const node = server.node('real');
      for (const [k, v] of Object.entries(labels)) expect(node.metadata.labels?.[k]).toBe(v);
      expect(node.status?.conditions?.find((c) => c.type === 'bpfready.io/EBPFReady')?.status).toBe('Unknown');
      console.log(
        `real report: ${n} labels, ownership annotation ${node.metadata.annotations?.['bpfready.io/owned-labels']?.length} bytes`,
      );
    } finally {
      await server.close();
    }
  });
});
