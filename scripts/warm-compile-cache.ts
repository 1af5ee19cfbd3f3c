// Fills Node's compile cache (NODE_COMPILE_CACHE) with every module of src/, without running
// anything: `bin/bpfready warm-compile-cache` starts this once with the one-shot commands' node flags
// and once with serve/daemon's (Node keeps a cache per set of flags). The container image runs it at
// build time: without a cache, Node strips the TypeScript at start-up, and the type stripper stays
// in memory for the life of the daemon (~20–40 MiB more RSS, docs/daemon.md).
import { readdirSync } from 'node:fs';
import { flushCompileCache, getCompileCacheDir } from 'node:module';
import { join, relative } from 'node:path';

const src = join(import.meta.dirname, '../src');
// Entry points run when imported: the worker files start probing and load-main.ts loads an ELF. Their
// threads and processes are short-lived, so compiling them at run time costs no resident memory. The
// CLI itself is warmed last, by running `bpfready help`.
const ENTRY_POINTS = new Set(['cli.ts', 'probes/helper-worker.ts', 'probes/attach-worker.ts', 'attach/netns-worker.ts', 'requirements/load-main.ts']);

if (!getCompileCacheDir()) {
  console.error('warm-compile-cache: NODE_COMPILE_CACHE is not set (or the directory cannot be used)');
  process.exit(2);
}
const files = readdirSync(src, { recursive: true, encoding: 'utf8' })
  .filter((f) => f.endsWith('.ts') && !f.endsWith('.test.ts') && !ENTRY_POINTS.has(f))
  .sort();
for (const f of files) await import(join(src, f));
console.log(`warm-compile-cache: ${files.length + 1} modules of ${relative(process.cwd(), src) || '.'} into ${getCompileCacheDir()}`);
flushCompileCache();
process.argv.splice(2, Infinity, 'help');
await import(join(src, 'cli.ts')); // prints the usage; Node writes cli.ts's entry at exit
