// Where the daemon's memory goes before it does anything: RSS of a fresh node (with the daemon's node
// flags, bin/bpfready) after importing one more package at each step and a full GC, each step in a
// process of its own. The Kubernetes client last: as installed in a checkout, and as bundled for the
// image (bench/image-tree.ts, when a tree is given).
// Run: node_modules/.bin/node bench/imports.ts [IMAGE_TREE_DIR]
import { spawnSync } from 'node:child_process';
import { join } from 'node:path';
import { pathToFileURL } from 'node:url';
import { daemonNodeFlags } from './daemon-common.ts';

const root = join(import.meta.dirname, '..');
const mod = (p: string) => pathToFileURL(join(root, p)).href;

export interface ImportStep {
  name: string;
  rssMiB: number;
  anonMiB: number;
}

// Cumulative: each step imports everything above it too.
const STEPS: [string, string[]][] = [
  ['node, nothing imported', []],
  ['+ fastify', ['fastify']],
  ['+ prom-client', ['prom-client']],
  ['+ koffi', ['koffi']],
  ['+ pino', ['pino']],
  ['+ ajv, yaml', ['ajv', 'yaml']],
  ["+ bpfready's serve code (src/daemon/wiring.ts)", [mod('src/daemon/wiring.ts')]],
];

function measureStep(imports: string[], cwd: string, env: NodeJS.ProcessEnv = process.env): { rss: number; anon: number } {
  const code = `for (const m of ${JSON.stringify(imports)}) await import(m.startsWith('file:') || m.startsWith('/') ? m : (await import('node:module')).createRequire(process.cwd() + '/package.json').resolve(m));
globalThis.gc(); await new Promise((r) => setTimeout(r, 100)); globalThis.gc();
const s = (await import('node:fs')).readFileSync('/proc/self/status', 'utf8');
const kb = (k) => Number(new RegExp('^' + k + ':\\\\s+(\\\\d+)', 'm').exec(s)[1]);
console.log(JSON.stringify({ rss: kb('VmRSS') / 1024, anon: kb('RssAnon') / 1024 }));`;
  const args = [...daemonNodeFlags(), '--disable-warning=ExperimentalWarning', '--input-type=module', '-e', code];
  // Twice: the first run fills the compile cache for these modules (a cold one measures the type
  // stripper, not the modules), the second is measured.
  let r = spawnSync(process.execPath, args, { cwd, env: { MALLOC_ARENA_MAX: '2', ...env }, encoding: 'utf8' });
  if (r.status === 0) r = spawnSync(process.execPath, args, { cwd, env: { MALLOC_ARENA_MAX: '2', ...env }, encoding: 'utf8' });
  if (r.status !== 0) throw new Error(`imports ${imports.join(', ')}: ${r.stderr}`);
  return JSON.parse(r.stdout.trim().split('\n').at(-1)!) as { rss: number; anon: number };
}

export function importBreakdown(imageTree?: { dir: string; env: NodeJS.ProcessEnv }): ImportStep[] {
  const out: ImportStep[] = [];
  const acc: string[] = [];
  const env = {
    ...process.env,
    NODE_COMPILE_CACHE: process.env['NODE_COMPILE_CACHE'] ?? `${process.env['TMPDIR'] ?? '/tmp'}/bpfready-node-compile-cache`,
  };
  for (const [name, mods] of STEPS) {
    acc.push(...mods);
    const m = measureStep(acc, root, env);
    out.push({ name, rssMiB: m.rss, anonMiB: m.anon });
  }
  const withClient = measureStep([...acc, '@kubernetes/client-node'], root, env);
  out.push({ name: '+ @kubernetes/client-node, as installed', rssMiB: withClient.rss, anonMiB: withClient.anon });
  if (imageTree) {
    const t = (p: string) => pathToFileURL(join(imageTree.dir, p)).href;
    const treeMods = [
      ...STEPS.flatMap(([, m]) =>
        m.map((x) => (x.startsWith('file:') ? x.replace(pathToFileURL(root).href, pathToFileURL(imageTree.dir).href) : x)),
      ),
    ];
    const base = measureStep(treeMods, imageTree.dir, imageTree.env);
    out.push({ name: 'the same, dependencies bundled as in the image', rssMiB: base.rss, anonMiB: base.anon });
    const bundled = measureStep([...treeMods, t('node_modules/@kubernetes/client-node/index.js')], imageTree.dir, imageTree.env);
    out.push({ name: '+ @kubernetes/client-node, bundled as in the image', rssMiB: bundled.rss, anonMiB: bundled.anon });
  }
  return out;
}

if (import.meta.main) {
  const dir = process.argv[2];
  const steps = importBreakdown(dir ? { dir, env: { ...process.env, NODE_COMPILE_CACHE: join(dir, '.compile-cache') } } : undefined);
  let prev: number | undefined;
  for (const s of steps) {
    console.log(
      `  ${s.name.padEnd(52)} RSS ${s.rssMiB.toFixed(1).padStart(6)} MiB${prev !== undefined ? ` (${s.rssMiB - prev >= 0 ? '+' : ''}${(s.rssMiB - prev).toFixed(1)})` : ''}   anon ${s.anonMiB.toFixed(1)} MiB`,
    );
    prev = s.rssMiB;
  }
}
