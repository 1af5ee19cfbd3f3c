// Steady state of `bpfready serve` (or `daemon`) after the first probe: resident memory and idle CPU
// while Prometheus-style scrapes arrive, with re-probes and mount-table checks running.
// Targets: serve RSS ≤ 80 MiB; daemon RSS ≤ 90 MiB and peak (VmHWM) ≤ 130 MiB (issue 20).
// Run: node_modules/.bin/node bench/daemon-steady.ts [seconds] [scrape-seconds] [--daemon] [--image-deps]
// --daemon measures `bpfready daemon` instead, publishing to the API-server double of test/publish (a
// real HTTP server; the Kubernetes client library and the watch on our Node are then in the process);
// the window starts after its first publish, the kernel view included (kubernetes.reports, on by default).
// --image-deps runs it from a tree whose node_modules is bundled as the image's is (bench/image-tree.ts).
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { ApiServerDouble } from '../test/publish/apiserver-double.ts';
import { foreignNode } from '../test/publish/fixtures.ts';
import { BIN, start, type Running } from '../test/e2e/process.ts';
import { cpuSeconds, fdCount, median, mib, requireRoot, rssAnonBytes, rssBytes, sleep, stop, waitReady } from './daemon-common.ts';

export interface Steady {
  command: 'serve' | 'daemon';
  seconds: number;
  scrapes: number;
  rss: number[];
  anon: number[];
  /** VmHWM at the end: the most resident at any time (the first probe, or the first API call). */
  hwm: number;
  cpu: number;
  fds: number;
  exitCode: number | null;
  /** Whether the daemon's first writes (labels, node report, kernel view) reached the API-server double before the window. */
  published?: boolean;
  /** The daemon a second after its first publish: seconds since spawn, VmRSS, VmHWM (bytes). */
  firstPublish?: { seconds: number; rss: number; hwm: number };
}

const OBJECT = 'bpfready.io/object';
type Labelled = { labels?: Record<string, string> };
const hwmBytes = (pid: number): number =>
  Number(/^VmHWM:\s+(\d+) kB$/m.exec(readFileSync(`/proc/${pid}/status`, 'utf8'))?.[1] ?? NaN) * 1024;

export interface SteadyOptions {
  command: 'serve' | 'daemon';
  seconds: number;
  scrapeEvery?: number;
  /** Launcher of another tree (the image-like one); default this checkout's bin/bpfready. */
  bin?: string;
  /** Extra flags, e.g. a shorter --probe-interval so that the window holds re-probes. */
  args?: string[];
  env?: NodeJS.ProcessEnv;
}

export async function measureSteady(o: SteadyOptions): Promise<Steady> {
  const scrapeEvery = o.scrapeEvery ?? 15;
  let api: ApiServerDouble | undefined;
  let dir: string | undefined;
  let s: Running;
  const env = { ...process.env, ...o.env };
  if (o.command === 'daemon') {
    api = new ApiServerDouble();
    await api.start();
    api.addNode(foreignNode('bench-node'));
    dir = mkdtempSync(join(tmpdir(), 'bpfready-bench-'));
    const kubeconfig = join(dir, 'kubeconfig');
    writeFileSync(kubeconfig, api.kubeConfig().exportConfig());
    s = await start(
      'daemon',
      ['--log-level', 'info', ...(o.args ?? [])],
      { ...env, KUBECONFIG: kubeconfig, NODE_NAME: 'bench-node' },
      o.bin ?? BIN,
    );
  } else {
    s = await start('serve', ['--log-level', 'info', ...(o.args ?? [])], env, o.bin ?? BIN);
  }
  s.child.stderr?.pipe(process.stderr);
  try {
    await waitReady(s.url);
    const pid = s.child.pid!;
    // Let start-up garbage be collected, the publisher's first writes (after its 0–10 s start
    // jitter: the labels, the node report and, with kubernetes.reports on as by default, the
    // kernel build's view, whose index comes after its parts) and the first scrape's lazy work
    // happen before measuring.
    await fetch(`${s.url}/metrics`).then((r) => r.text());
    let published: boolean | undefined;
    let firstPublish: { seconds: number; rss: number; hwm: number } | undefined;
    if (api) {
      const labelled = () => Object.keys(api!.node('bench-node').metadata.labels ?? {}).some((k) => k.startsWith('bpfready.io/'));
      const objects = () => new Set(api!.objects('/v1/default/configmaps').map((c) => (c['metadata'] as Labelled).labels?.[OBJECT]));
      const done = () => labelled() && objects().has('kernel-index') && objects().has('node-report');
      const t0 = performance.now();
      while (!done() && performance.now() - t0 < 60_000) await sleep(50);
      published = done();
      // The pass that wrote them returns its memory right after (src/daemon/memory.ts).
      await sleep(1000);
      firstPublish = { seconds: (performance.now() - s.startedAt) / 1000, rss: rssBytes(pid), hwm: hwmBytes(pid) };
    }
    await sleep(5000);
    const rss: number[] = [];
    const anon: number[] = [];
    const cpu0 = cpuSeconds(pid);
    let scrapes = 0;
    for (let elapsed = 0; elapsed < o.seconds; elapsed += 1) {
      if (elapsed % scrapeEvery === 0) {
        await fetch(`${s.url}/metrics`).then((r) => r.text());
        scrapes++;
      }
      rss.push(rssBytes(pid));
      anon.push(rssAnonBytes(pid));
      await sleep(1000);
    }
    const cpu = cpuSeconds(pid) - cpu0;
    const fds = fdCount(pid);
    const hwm = hwmBytes(pid);
    const exitCode = await stop(s.child);
    return {
      command: o.command,
      seconds: o.seconds,
      scrapes,
      rss,
      anon,
      hwm,
      cpu,
      fds,
      exitCode,
      ...(published !== undefined ? { published } : {}),
      ...(firstPublish ? { firstPublish } : {}),
    };
  } finally {
    if (s.child.exitCode === null) s.child.kill('SIGKILL');
    await api?.close();
    if (dir) rmSync(dir, { recursive: true, force: true });
  }
}

if (import.meta.main) {
  requireRoot();
  const positional = process.argv.slice(2).filter((a) => !a.startsWith('--'));
  const command = process.argv.includes('--daemon') ? 'daemon' : 'serve';
  let bin: string | undefined;
  if (process.argv.includes('--image-deps')) bin = (await import('./image-tree.ts')).imageTree().bin;
  const r = await measureSteady({
    command,
    seconds: Number(positional[0] ?? 60),
    scrapeEvery: Number(positional[1] ?? 15),
    ...(bin ? { bin } : {}),
  });
  console.log(
    `bpfready ${command === 'daemon' ? 'daemon (publishing to the API-server double)' : 'serve'}${bin ? ', dependencies bundled as in the image' : ''}, ${r.seconds} s after ready, ${r.scrapes} scrapes of /metrics`,
  );
  console.log(`  RSS    median ${mib(median(r.rss))}, min ${mib(Math.min(...r.rss))}, max ${mib(Math.max(...r.rss))}`);
  console.log(`  peak   ${mib(r.hwm)} (VmHWM)`);
  console.log(`  anon   median ${mib(median(r.anon))} (RSS without the file-backed pages of node and its libraries)`);
  console.log(`  CPU    ${r.cpu.toFixed(2)} s in ${r.seconds} s = ${((100 * r.cpu) / r.seconds).toFixed(2)} % of one core`);
  console.log(`  fds    ${r.fds} open at the end`);
  if (r.published !== undefined)
    console.log(`  published to the double before the window (labels, node report, kernel view): ${r.published}`);
  if (r.firstPublish)
    console.log(
      `  first publish done ${r.firstPublish.seconds.toFixed(1)} s after spawn; a second later RSS ${mib(r.firstPublish.rss)}, peak ${mib(r.firstPublish.hwm)}`,
    );
  console.log(`  SIGTERM → exit code ${r.exitCode}`);
}
