// A copy of this checkout laid out as the image's /app is (Dockerfile): src/ and bin/ as they are,
// node_modules bundled by scripts/image/bundle-deps.ts (docs/adr/0005-image-dependencies.md), the
// native shim, and a compile cache warmed for both sets of node flags. The daemon benchmarks run it
// with this checkout's pinned Node, so that `npm run bench` measures the memory the image's process
// has without podman. The in-pod test (test/container/) measures the image itself.
//   node bench/image-tree.ts        builds it under .cache/image-tree and prints its launcher
import { spawnSync } from 'node:child_process';
import { cpSync, existsSync, mkdirSync, readFileSync, rmSync } from 'node:fs';
import { join } from 'node:path';

const root = join(import.meta.dirname, '..');

export interface ImageTree {
  dir: string;
  bin: string;
  /** The environment the image sets (NODE_COMPILE_CACHE) and the Node to run it with. */
  env: NodeJS.ProcessEnv;
}

function sh(cmd: string, args: string[], env: NodeJS.ProcessEnv = process.env): void {
  const r = spawnSync(cmd, args, { stdio: ['ignore', 'inherit', 'inherit'], env });
  if (r.status !== 0) throw new Error(`${cmd} ${args.join(' ')} exited ${r.status}`);
}

export function imageTree(dir = join(root, '.cache/image-tree')): ImageTree {
  // esbuild, pinned by its own lockfile, as the Dockerfile's build stage installs it.
  if (!existsSync(join(root, 'scripts/image/node_modules/esbuild'))) {
    sh('npm', ['ci', '--prefix', join(root, 'scripts/image'), '--ignore-scripts', '--no-audit', '--no-fund', '--silent']);
  }
  rmSync(dir, { recursive: true, force: true });
  mkdirSync(dir, { recursive: true });
  for (const f of ['package.json', 'package-lock.json', 'bin', 'src', 'scripts/warm-compile-cache.ts', 'native-shim/build']) {
    cpSync(join(root, f), join(dir, f), { recursive: true, filter: (p) => !p.endsWith('.test.ts') });
  }
  // As `npm ci --omit=dev` leaves it: the lockfile marks what only the dev dependencies need.
  const lock = JSON.parse(readFileSync(join(root, 'package-lock.json'), 'utf8')) as { packages: Record<string, { dev?: boolean }> };
  const devOnly = new Set(
    Object.entries(lock.packages)
      .filter(([, p]) => p.dev)
      .map(([k]) => join(root, k)),
  );
  cpSync(join(root, 'node_modules'), join(dir, 'node_modules'), {
    recursive: true,
    verbatimSymlinks: true,
    filter: (p) => !devOnly.has(p) && !p.endsWith('/node_modules/.bin'),
  });
  const node = process.execPath;
  sh(node, [join(root, 'scripts/image/bundle-deps.ts'), dir]);
  const env = { ...process.env, BPFREADY_NODE: node, NODE_COMPILE_CACHE: join(dir, '.compile-cache'), NODE_ENV: 'production' };
  sh(join(dir, 'bin/bpfready'), ['warm-compile-cache'], env);
  return { dir, bin: join(dir, 'bin/bpfready'), env };
}

if (import.meta.main) console.log(imageTree().bin);
