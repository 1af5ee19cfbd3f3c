// Scale simulation: N publishers (default 1,000), each with its own Node, against ONE API-server
// double, through the real client library and real HTTP. Measures what the API server would see:
// requests per node at start, peak requests/s of a start storm with and without jitter, requests/s
// at steady state (re-publishing unchanged facts), and writes per node per change. Extrapolated
// linearly to 5,000 nodes (every figure here is per-node work, so it scales with N).
//
//   node_modules/.bin/node bench/kube-scale.ts [--nodes 1000] [--jitter 10] [--steady 20]
import { parseArgs } from 'node:util';
import pino from 'pino';
import { createNodeApi } from '../src/publish/client.ts';
import { createPublisher, type NodePublisher } from '../src/publish/index.ts';
import { ApiServerDouble } from '../test/publish/apiserver-double.ts';
import { checksBad, checksOk, foreignNode, report } from '../test/publish/fixtures.ts';

const { values } = parseArgs({
  options: {
    nodes: { type: 'string', default: '1000' },
    jitter: { type: 'string', default: '10' },
    steady: { type: 'string', default: '20' },
  },
});
const N = Number(values.nodes);
const JITTER = Number(values.jitter);
const STEADY = Number(values.steady);
const EXTRAPOLATE = 5000;
const logger = pino({ level: 'silent' });
const sleep = (ms: number): Promise<void> => new Promise((r) => setTimeout(r, ms));

interface Window {
  requests: number;
  nonWatch: number;
  writes: number;
  seconds: number;
  peakPerSecond: number;
}

function window(server: ApiServerDouble, from: number, to: number, writes: number): Window {
  const rs = server.requests.filter((r) => r.at >= from && r.at <= to);
  const buckets = new Map<number, number>();
  for (const r of rs) if (!r.watch) buckets.set(Math.floor(r.at / 1000), (buckets.get(Math.floor(r.at / 1000)) ?? 0) + 1);
  return {
    requests: rs.length,
    nonWatch: rs.filter((r) => !r.watch).length,
    writes,
    seconds: (to - from) / 1000,
    peakPerSecond: Math.max(0, ...buckets.values()),
  };
}

async function scenario(jitterSeconds: number): Promise<Record<string, number | string>> {
  const server = new ApiServerDouble({ historyLimit: 4 * N });
  await server.start();
  for (let i = 0; i < N; i++) server.addNode(foreignNode(`node-${i}`));
  const kc = server.kubeConfig();
  const pubs: NodePublisher[] = [];
  const r = report();

  // 1. Start storm: every node starts at once (a DaemonSet created on a running cluster).
  const t0 = Date.now();
  const w0 = server.writes;
  for (let i = 0; i < N; i++) {
    const p = createPublisher({
      nodeName: `node-${i}`,
      labelPrefix: 'bpfready.io',
      heartbeatSeconds: 0,
      logger,
      api: createNodeApi(kc),
      startJitterSeconds: jitterSeconds,
    });
    p.publish(r, checksOk);
    pubs.push(p);
  }
  await Promise.all(pubs.map((p) => p.whenInSync()));
  const t1 = Date.now();
  const start = window(server, t0, t1, server.writes - w0);
  const failures = pubs.reduce((a, p) => a + p.stats().failures, 0);
  const errors = [...new Set(pubs.map((p) => p.stats().lastError).filter(Boolean))].slice(0, 3);
  const statuses = new Map<number, number>();
  for (const q of server.requests) statuses.set(q.status, (statuses.get(q.status) ?? 0) + 1);
  if (failures > 0)
    console.error(
      `jitter ${jitterSeconds}s: ${failures} failed requests during the start storm (retried): ${errors.join(' | ')}; statuses ${JSON.stringify([...statuses])}`,
    );

  // 2. Steady state: the probe loop re-publishes unchanged facts every second.
  await sleep(500);
  const s0 = Date.now();
  const sw = server.writes;
  for (let s = 0; s < STEADY; s++) {
    for (const p of pubs) p.publish(r, checksOk);
    await sleep(1000);
  }
  const s1 = Date.now();
  const steady = window(server, s0, s1, server.writes - sw);

  // 3. One change on every node (a profile stops holding): writes per node per change.
  const c0 = Date.now();
  const cw = server.writes;
  for (const p of pubs) p.publish(r, checksBad);
  await Promise.all(pubs.map((p) => p.whenInSync()));
  await sleep(500);
  const c1 = Date.now();
  const change = window(server, c0, c1, server.writes - cw);

  // 4. The API server restarts: every watch breaks at once. Nodes re-watch from their last
  //    resourceVersion (no GET needed), spread by the random first delay.
  const r0 = Date.now();
  const gets = server.count('GET node');
  server.dropConnections();
  const rewatches = (): number => server.requests.filter((q) => q.at >= r0 && q.watch).length;
  for (let i = 0; i < 300 && rewatches() < N; i++) await sleep(100);
  const r1 = Date.now();
  const rewatch = server.requests.filter((q) => q.at >= r0 && q.watch);
  const perSecond = new Map<number, number>();
  for (const q of rewatch) perSecond.set(Math.floor((q.at - r0) / 1000), (perSecond.get(Math.floor((q.at - r0) / 1000)) ?? 0) + 1);

  const watches = server.watchCount;
  for (const p of pubs) await p.close();
  await server.close();
  return {
    jitterSeconds,
    startSeconds: +start.seconds.toFixed(1),
    startRequestsPerNode: +(start.nonWatch / N).toFixed(2),
    startWatchesPerNode: +((start.requests - start.nonWatch) / N).toFixed(2),
    startWritesPerNode: +(start.writes / N).toFixed(2),
    startPeakRps: start.peakPerSecond,
    startFailures: failures,
    steadyRps: +(steady.requests / steady.seconds).toFixed(2),
    steadyWritesPerSecond: +(steady.writes / steady.seconds).toFixed(2),
    changeWritesPerNode: +(change.writes / N).toFixed(2),
    changeRequestsPerNode: +(change.nonWatch / N).toFixed(2),
    openWatches: watches,
    restartRewatchSeconds: +((r1 - r0) / 1000).toFixed(1),
    restartRewatchPeakRps: Math.max(0, ...perSecond.values()),
    restartGets: server.count('GET node') - gets,
  };
}

const results = [];
for (const j of [0, JITTER]) results.push(await scenario(j));
console.log(`# ${N} publishers against one API-server double (node ${process.version}, ${new Date().toISOString()})`);
console.table(results);

const jit = results[1]!;
const x = EXTRAPOLATE / N;
console.log(`\n# extrapolated to ${EXTRAPOLATE} nodes (per-node work × ${x})`);
console.log(
  `start storm, no jitter : all ${EXTRAPOLATE * Number(results[0]!.startRequestsPerNode)} requests arrive as fast as nodes start (peak here ${results[0]!.startPeakRps}/s was bounded by this one process)`,
);
console.log(
  `start storm, ${JITTER}s jitter: ≈ ${Math.round((EXTRAPOLATE * Number(jit.startRequestsPerNode)) / JITTER)} requests/s for ${JITTER}s (measured peak ${jit.startPeakRps}/s at ${N} → ≈ ${Math.round(Number(jit.startPeakRps) * x)}/s)`,
);
console.log(
  `steady state           : ${(Number(jit.steadyRps) * x).toFixed(2)} requests/s, ${(Number(jit.steadyWritesPerSecond) * x).toFixed(2)} writes/s (+ one watch re-establishment per node per 300–600 s watch timeout: ${(EXTRAPOLATE / 450).toFixed(1)}/s on average)`,
);
console.log(
  `heartbeat (if enabled) : ${(EXTRAPOLATE / 300).toFixed(1)} status writes/s at 300 s, ${(EXTRAPOLATE / 900).toFixed(1)}/s at 900 s`,
);
console.log(
  `one change everywhere  : ${jit.changeWritesPerNode} writes per node → ${Math.round(EXTRAPOLATE * Number(jit.changeWritesPerNode))} writes in total`,
);
console.log(
  `API server restart     : ${EXTRAPOLATE} re-watches spread over ≈5 s → ≈ ${EXTRAPOLATE / 5}/s (measured peak ${jit.restartRewatchPeakRps}/s at ${N} → ≈ ${Math.round(Number(jit.restartRewatchPeakRps) * x)}/s), ${jit.restartGets} GETs`,
);
