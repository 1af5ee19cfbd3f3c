// `npm run bench`: every benchmark, one after the other (they compete for the same 2 cores).
// Each script prints its own figures; a long soak is opt-in (BENCH_SOAK=1).
import { spawnSync } from 'node:child_process';
import { existsSync } from 'node:fs';

const here = new URL('.', import.meta.url).pathname;
const node = process.execPath;
const scripts: [string, string[]][] = [
  ['probe-vs-bpftool.ts', []],
  ['btf-parse.ts', []],
  ['daemon-ready.ts', []],
  ['kube-scale.ts', []],
  ...(process.env.BENCH_SOAK ? ([['soak.ts', []]] as [string, string[]][]) : []),
];
let failed = 0;
for (const [script, args] of scripts) {
  const path = `${here}${script}`;
  if (!existsSync(path)) continue;
  console.log(`\n=== bench/${script}`);
  const r = spawnSync(node, [path, ...args], { stdio: 'inherit' });
  if (r.status !== 0) failed++;
}
process.exit(failed ? 1 : 0);
