// Start to ready: from spawning `bpfready serve` (Node start-up included) to /readyz answering 200,
// which is when the first full probe has finished. Target ≤ 1.5 s.
// Run: node_modules/.bin/node bench/daemon-ready.ts [runs]
import { median, requireRoot, serve, stop, waitReady } from './daemon-common.ts';

requireRoot();
const runs = Number(process.argv[2] ?? 7);
const listening: number[] = [];
const ready: number[] = [];
for (let i = 0; i < runs; i++) {
  const s = await serve(['--probe-interval', '1h']);
  await waitReady(s.url);
  ready.push(performance.now() - s.startedAt);
  listening.push(s.listeningMs);
  const code = await stop(s.child);
  if (code !== 0) throw new Error(`exit code ${code} after SIGTERM`);
}
const f = (xs: number[]): string =>
  `median ${median(xs).toFixed(0)} ms, min ${Math.min(...xs).toFixed(0)} ms, max ${Math.max(...xs).toFixed(0)} ms`;
console.log(`bpfready serve, ${runs} cold starts`);
console.log(`  spawn → listening  ${f(listening)}`);
console.log(`  spawn → /readyz 200 ${f(ready)}   (target ≤ 1500 ms)`);
