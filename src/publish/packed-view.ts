// A build's kernel view in the bytes it is stored as (src/publish/reports.ts lays them out in
// ConfigMaps): brotli of its JSON, named by build and by the hash of the bytes. Apart from reports.ts
// (which imports the Kubernetes client) so that the process that collects the view
// (src/daemon/kernel-view-child.ts) packs it without loading the client (docs/daemon.md, "Memory
// after the first publish").
import { createHash } from 'node:crypto';
import { brotliCompressSync, constants } from 'node:zlib';
import type { KernelViewSection } from '../contract/report.ts';

/**
 * The brotli of a node report's or a kernel view's JSON. Quality 5 with a 1 MiB window: quality 9
 * with a 16 MiB one made a node report (1.2 MB of JSON) 4 % smaller for ~25 MiB more peak memory
 * (its match finder's tables), and a kernel view, mostly base64 of brotli already, no smaller at
 * all (docs/daemon.md, "Memory after the first publish").
 */
export const pack = (s: string): Buffer =>
  brotliCompressSync(s, { params: { [constants.BROTLI_PARAM_QUALITY]: 5, [constants.BROTLI_PARAM_LGWIN]: 20 } });

/**
 * A build's kernel view as it is stored: the brotli of its JSON, and what names it. The daemon gets
 * it from a short-lived process (src/daemon/kernel-view.ts), so that it never holds the view itself.
 */
export interface PackedKernelView {
  /** The build's digest (the view's build.digest). */
  digest: string;
  release: string;
  /** pack(JSON.stringify(view)). */
  bytes: Uint8Array;
  /** The first 12 hex digits of the sha256 of `bytes`: the name of the parts' content. */
  set: string;
}

const setOf = (bytes: Uint8Array): string => createHash('sha256').update(bytes).digest('hex').slice(0, 12);

export function packKernelView(view: KernelViewSection): PackedKernelView {
  const bytes = pack(JSON.stringify(view));
  return { digest: view.build.digest, release: view.build.release, bytes, set: setOf(bytes) };
}

/** What is wrong with a packed view from elsewhere (another process), or undefined. */
export function packedViewProblem(p: PackedKernelView): string | undefined {
  if (!/^sha256:[0-9a-f]{64}$/.test(p.digest)) return `its build digest ${JSON.stringify(p.digest).slice(0, 80)} is not sha256:<64 hex>`;
  if (typeof p.release !== 'string' || !p.release) return 'it has no kernel release';
  if (!(p.bytes instanceof Uint8Array) || p.bytes.length === 0) return 'it has no bytes';
  if (setOf(p.bytes) !== p.set) return `its bytes do not hash to its set ${JSON.stringify(p.set).slice(0, 40)}`;
  return undefined;
}
