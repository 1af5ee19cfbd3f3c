// Steady state of `bpfready serve` after the first probe: resident memory and idle CPU while
// Prometheus-style scrapes arrive, with the default re-probe interval and mount-table checks.
// Targets: RSS ≤ 80 MiB.
// Run: node_modules/.bin/node bench/daemon-steady.ts [seconds] [scrape-seconds] [--daemon]
// --daemon measures `bpfready daemon` instead, publishing to the API-server double of test/kube (a
// real HTTP server; the Kubernetes client library and the watch on our Node are then in the process).
import { mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { ApiServerDouble } from '../test/kube/apiserver-double.ts';
import { foreignNode } from '../test/kube/fixtures.ts';
import { start } from '../test/e2e/process.ts';
import { cpuSeconds, fdCount, median, mib, requireRoot, rssAnonBytes, rssBytes, serve, sleep, stop, waitReady } from './daemon-common.ts';

requireRoot();
const positional = process.argv.slice(2).filter((a) => !a.startsWith('--'));
const asDaemon = process.argv.includes('--daemon');
const seconds = Number(positional[0] ?? 60);
const scrapeEvery = Number(positional[1] ?? 15);
let api: ApiServerDouble | undefined;
let s;
if (asDaemon) {
  api = new ApiServerDouble();
  await api.start();
  api.addNode(foreignNode('bench-node'));
  const kubeconfig = join(mkdtempSync(join(tmpdir(), 'bpfready-bench-')), 'kubeconfig');
  writeFileSync(kubeconfig, api.kubeConfig().exportConfig());
  s = await start('daemon', ['--log-level', 'info'], { ...process.env, KUBECONFIG: kubeconfig, NODE_NAME: 'bench-node' });
  s.child.stderr?.pipe(process.stderr);
} else {
  s = await serve();
}
await waitReady(s.url);
const pid = s.child.pid;
if (!pid) throw new Error('no pid');
// Let start-up garbage be collected and the first scrape's lazy work happen before measuring.
await fetch(`${s.url}/metrics`).then((r) => r.text());
await sleep(5000);
const rss: number[] = [];
const anon: number[] = [];
const cpu0 = cpuSeconds(pid);
const t0 = performance.now();
let scrapes = 0;
for (let elapsed = 0; elapsed < seconds; elapsed += 1) {
  if (elapsed % scrapeEvery === 0) {
    await fetch(`${s.url}/metrics`).then((r) => r.text());
    scrapes++;
  }
  rss.push(rssBytes(pid));
  anon.push(rssAnonBytes(pid));
  await sleep(1000);
}
const wall = (performance.now() - t0) / 1000;
const cpu = cpuSeconds(pid) - cpu0;
const fds = fdCount(pid);
const hwm = Number(/^VmHWM:\s+(\d+) kB$/m.exec(readFileSync(`/proc/${pid}/status`, 'utf8'))?.[1] ?? NaN) * 1024;
const code = await stop(s.child);
console.log(`bpfready ${asDaemon ? 'daemon (publishing to the API-server double)' : 'serve'}, ${wall.toFixed(0)} s after ready, ${scrapes} scrapes of /metrics, default probe interval 60 s ± 10%`);
console.log(`  RSS    median ${mib(median(rss))}, min ${mib(Math.min(...rss))}, max ${mib(Math.max(...rss))}   (target ≤ 80 MiB)`);
console.log(`  peak   ${mib(hwm)} (VmHWM: the most resident at any time, i.e. during the first probe)`);
console.log(`  anon   median ${mib(median(anon))} (RSS without the file-backed pages of node and its libraries)`);
console.log(`  CPU    ${cpu.toFixed(2)} s in ${wall.toFixed(0)} s = ${((100 * cpu) / wall).toFixed(2)} % of one core`);
console.log(`  fds    ${fds} open at the end`);
console.log(`  SIGTERM → exit code ${code}`);
await api?.close();
