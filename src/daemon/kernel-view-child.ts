// The kernel view's collector as a process of its own, started by the daemon (src/daemon/kernel-view.ts
// has why and the protocol): collect the view of the kernel under the host root, pack it, write it
// to stdout, exit. Errors: one line on stderr, exit 1. Run only as an entry file (import.meta.main):
// importing it (the compile cache's warm-up, scripts/warm-compile-cache.ts) runs nothing.
import { packKernelView } from '../publish/packed-view.ts';
import { collectKernelView } from '../requirements/saved-view.ts';
import { encodeFrame, type ChildRequest } from './kernel-view.ts';

function request(arg: string | undefined): ChildRequest {
  const r = JSON.parse(arg ?? 'null') as ChildRequest | null;
  const k = r?.kernel;
  if (typeof r?.hostRoot !== 'string' || typeof k?.release !== 'string' || typeof k.version !== 'string' || typeof k.machine !== 'string')
    throw new Error('usage: kernel-view-child.ts \'{"hostRoot": DIR, "kernel": {"release", "version", "machine"}}\'');
  return r;
}

async function main(): Promise<void> {
  const r = request(process.argv[2]);
  const packed = packKernelView(collectKernelView(r.hostRoot, { kernel: r.kernel }));
  for (const b of encodeFrame(packed)) await new Promise<void>((ok, fail) => process.stdout.write(b, (e) => (e ? fail(e) : ok())));
}

if (import.meta.main) {
  try {
    await main();
  } catch (e) {
    process.stderr.write(`bpfready kernel view: ${(e instanceof Error ? e.message : String(e)).replace(/\s*\n\s*/g, ' ')}\n`);
    process.exitCode = 1;
  }
}
