// A probe cycle is a burst: the helper matrix's worker threads, the vmlinux BTF file (~6 MiB) and a
// fresh report come and go, then the daemon idles for a minute. V8 and glibc both keep what the
// burst freed (a large old generation until V8's idle heuristics shrink it; free malloc pages in the
// arenas the workers used), and Node holds the compile-cache entries of every loaded module until
// it writes them at exit. So whenever the probe loop goes idle we write the compile cache out (where
// it is writable), collect once and hand free malloc pages back to the kernel.
// Measured in bench/daemon-steady.ts; docs/daemon.md has the figures.
import { flushCompileCache } from 'node:module';
import { mallocTrim } from '../native/libc.ts';

type Gc = (options?: { type?: 'major' | 'minor'; execution?: 'sync' | 'async' }) => void;

/** Flush the compile cache, run a full collection (when node runs with --expose-gc, as bin/bpfready starts serve and daemon), then malloc_trim(0). */
export function releaseMemory(): void {
  flushCompileCache();
  const gc = (globalThis as { gc?: Gc }).gc;
  if (typeof gc === 'function') gc({ type: 'major', execution: 'sync' });
  mallocTrim();
}
