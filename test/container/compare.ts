// Two `bpfready probe --json` reports of one node, compared result by result: one from the host, one
// from the pod. What may differ is only what docs/json.md lists as per-process ("Per-process fields"):
// this process's own context, capabilities and namespaces, the timing, and the paths a file was read
// at. Everything else is a fact of the node, and a difference is a defect.
import { isDeepStrictEqual } from 'node:util';

/** Sections that describe the process, not the node (docs/json.md). */
export const PER_PROCESS_SECTIONS = ['context', 'capabilities', 'namespaces'] as const;
/** Top-level fields of the run itself. */
export const RUN_FIELDS = ['generatedAt', 'durationMs'] as const;
/** Facts whose value is the file this process read (under the host root in a pod); status is still compared. */
export const READ_AT_VALUES = ['config.source', 'btf.vmlinux', 'mounts.mountinfo'] as const;

type Json = unknown;
interface Result {
  status: string;
  value?: Json;
  errno?: string;
}

const STATUSES = new Set(['supported', 'unsupported', 'not-permitted', 'error']);

/** Every result (an object with a contract status) by its dotted path. */
export function results(doc: Json, prefix = '', out = new Map<string, Result>()): Map<string, Result> {
  if (doc && typeof doc === 'object') {
    const o = doc as Record<string, Json>;
    if (!Array.isArray(doc) && typeof o['status'] === 'string' && STATUSES.has(o['status'])) out.set(prefix, o as unknown as Result);
    for (const [k, v] of Object.entries(o)) results(v, prefix ? `${prefix}.${k}` : k, out);
  }
  return out;
}

export interface Difference {
  path: string;
  host: Json;
  pod: Json;
  what: 'missing' | 'status' | 'value' | 'field';
}

const perProcess = (path: string) => PER_PROCESS_SECTIONS.some((s) => path === s || path.startsWith(`${s}.`));

/** Differences between the host's and the pod's report that no documented per-process field explains. */
export function differences(host: Record<string, Json>, pod: Record<string, Json>): { compared: number; differences: Difference[] } {
  const out: Difference[] = [];
  const h = results(host);
  const p = results(pod);
  let compared = 0;
  for (const path of new Set([...h.keys(), ...p.keys()])) {
    if (perProcess(path)) continue;
    const a = h.get(path);
    const b = p.get(path);
    if (!a || !b) {
      out.push({ path, host: a?.status, pod: b?.status, what: 'missing' });
      continue;
    }
    compared++;
    if (a.status !== b.status || a.errno !== b.errno)
      out.push({
        path,
        host: `${a.status}${a.errno ? ` ${a.errno}` : ''}`,
        pod: `${b.status}${b.errno ? ` ${b.errno}` : ''}`,
        what: 'status',
      });
    else if (!(READ_AT_VALUES as readonly string[]).includes(path) && !isDeepStrictEqual(stripLocal(a.value), stripLocal(b.value))) {
      out.push({ path, host: a.value, pod: b.value, what: 'value' });
    }
  }
  // Plain fields outside the results: the kernel section and the bpffs list.
  for (const key of Object.keys({ ...host, ...pod })) {
    if ((RUN_FIELDS as readonly string[]).includes(key) || perProcess(key)) continue;
    if (key === 'kernel' && !isDeepStrictEqual(host[key], pod[key])) out.push({ path: key, host: host[key], pod: pod[key], what: 'field' });
    if (key === 'bpffs' && !isDeepStrictEqual(stripLocal(host[key]), stripLocal(pod[key])))
      out.push({ path: key, host: host[key], pod: pod[key], what: 'field' });
    const mount = (d: Json) => (d && typeof d === 'object' ? (d as Record<string, Json>)['mount'] : undefined);
    if (key === 'token' && mount(host[key]) !== mount(pod[key]))
      out.push({ path: 'token.mount', host: mount(host[key]), pod: mount(pod[key]), what: 'field' });
  }
  return { compared, differences: out };
}

/** localPath (where the pod reached a bpffs) is per-process; the rest of a bpffs entry is the node's. */
function stripLocal(v: Json): Json {
  if (Array.isArray(v)) return v.map(stripLocal);
  if (v && typeof v === 'object')
    return Object.fromEntries(
      Object.entries(v)
        .filter(([k]) => k !== 'localPath')
        .map(([k, x]) => [k, stripLocal(x)]),
    );
  return v;
}
