// releaseMemory() against the real allocator: memory that V8 freed but glibc kept mapped is handed
// back to the kernel. Runs in a child node with --expose-gc, as bin/bpfready starts serve/daemon, and
// with --single-threaded-gc: V8 then frees the buffers' backing stores inside gc() itself instead of on
// a background thread, so the child measures right after it without waiting on a clock.
import { execFileSync } from 'node:child_process';
import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';

const NODE = join(import.meta.dirname, '../../node_modules/node/bin/node');
const MEMORY = join(import.meta.dirname, '../../src/daemon/memory.ts');

describe('releaseMemory', () => {
  it('gives freed malloc memory back: resident anonymous memory falls after a collection alone does not', () => {
    const script = join(mkdtempSync(join(tmpdir(), 'bpfready-mem-')), 'release.ts');
    writeFileSync(
      script,
      `import { readFileSync } from 'node:fs';
import { releaseMemory } from ${JSON.stringify(MEMORY)};
const anonMiB = () => Number(/RssAnon:\\s+(\\d+)/.exec(readFileSync('/proc/self/status', 'utf8'))[1]) / 1024;
// 32 MiB in 16 KiB buffers: each is one malloc below the mmap threshold, so it lives in the heap.
let held = Array.from({ length: 2048 }, () => Buffer.alloc(16 * 1024, 1));
const allocated = anonMiB();
held = null;
globalThis.gc();
const collected = anonMiB();
releaseMemory();
console.log(JSON.stringify({ allocated, collected, released: anonMiB() }));
`,
    );
    const out = execFileSync(NODE, ['--expose-gc', '--single-threaded-gc', '--disable-warning=ExperimentalWarning', script], {
      encoding: 'utf8',
    });
    const m = JSON.parse(out) as { allocated: number; collected: number; released: number };
    // The collection frees the buffers into malloc, which keeps the pages; malloc_trim returns them.
    expect(m.collected).toBeGreaterThan(m.allocated - 8);
    expect(m.released).toBeLessThan(m.collected - 24);
  });
});
