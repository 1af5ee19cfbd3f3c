// Fills Node's compile cache (NODE_COMPILE_CACHE) with every module of src/, without running
// anything: `bin/bpfready warm-compile-cache` starts this once with the one-shot commands' node flags
// and once with serve/daemon's (Node keeps a cache per set of flags). The container image runs it at
// build time: without a cache, Node strips the TypeScript at start-up, and the type stripper stays
// in memory for the life of the daemon (~20–40 MiB more RSS, docs/daemon.md).
import { mkdtempSync, readdirSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { pathToFileURL } from 'node:url';
import { flushCompileCache, getCompileCacheDir } from 'node:module';
import { dirname, join, relative } from 'node:path';

const src = join(import.meta.dirname, '../src');
// Entry points run when imported: the worker files start probing and load-main.ts loads an ELF. They
// are compiled without running them: a module that imports them and a name that does not exist fails
// to link, after Node has compiled (and cached) the whole graph and before it evaluates any of it.
// That matters: a worker that strips TypeScript loads the stripper's WebAssembly, whose compiled code
// outlives the worker (~10 MiB more RSS in a daemon whose cache is read-only). The CLI itself is
// warmed last, by running `bpfready help`.
const ENTRY_POINTS = new Set(['main.ts', 'collect/helper-worker.ts', 'attach/netns-worker.ts', 'requirements/load-main.ts']);

if (!getCompileCacheDir()) {
  console.error('warm-compile-cache: NODE_COMPILE_CACHE is not set (or the directory cannot be used)');
  process.exit(2);
}
const files = readdirSync(src, { recursive: true, encoding: 'utf8' })
  .filter((f) => f.endsWith('.ts') && !f.endsWith('.test.ts') && !ENTRY_POINTS.has(f))
  .sort();
for (const f of files) await import(join(src, f));
const entries = [...ENTRY_POINTS].filter((f) => f !== 'main.ts');
const linker = join(mkdtempSync(join(tmpdir(), 'bpfready-warm-')), 'compile-only.mjs');
writeFileSync(
  linker,
  `${entries.map((f) => `import ${JSON.stringify(pathToFileURL(join(src, f)).href)};`).join('\n')}\nimport { noSuchExport } from 'node:fs';\n`,
);
try {
  await import(pathToFileURL(linker).href);
  throw new Error('warm-compile-cache: the compile-only module linked, so the entry points ran');
} catch (err) {
  if (!(err instanceof SyntaxError && /noSuchExport/.test(err.message))) throw err;
} finally {
  rmSync(dirname(linker), { recursive: true, force: true });
}
console.log(
  `warm-compile-cache: ${files.length + entries.length + 1} modules of ${relative(process.cwd(), src) || '.'} into ${getCompileCacheDir()}`,
);
flushCompileCache();
process.argv.splice(2, Infinity, 'help');
process.stdout.write = () => true; // `bpfready help` prints the usage
await import(join(src, 'main.ts')); // Node writes main.ts's entry at exit
