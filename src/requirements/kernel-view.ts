// The two kernel views of check() that are not files to read (docs/requirements.md): which
// tracepoints exist (tracefs, mounted privately when it is not mounted here) and whether a helper is
// GPL-only (the verifier's own answer to a real load under a non-GPL license). Both are asked only
// for what an object's requirements name, once per check.
import { spawnSync } from 'node:child_process';
import { existsSync, mkdtempSync, rmdirSync } from 'node:fs';
import { release } from 'node:os';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { readMounts } from '../kernel/statfs-mounts.ts';
import { progLoad } from '../native/bpf.ts';
import { callHelper, encode, exit, mov64Imm } from '../native/insn.ts';
import { errnoName } from '../native/libc.ts';
import { HELPER_NAMES, PROG_TYPE_NAMES } from '../native/uapi-names.ts';
import { notPermitted, probeError, type ProbeResult } from '../contract/result.ts';

/** Which of `names` ("category/name") are tracefs events of the running kernel, or why unknown. */
export function tracepointsPresent(hostRoot: string, names: readonly string[]): ReadonlySet<string> | string {
  const valid = names.filter((n) => /^[\w.-]+\/[\w.-]+$/.test(n));
  if (!valid.length) return new Set();
  // Tracepoints are global to the kernel: any tracefs mount shows them all.
  const mounted = readMounts(hostRoot).byFs.tracefs[0]?.path;
  if (mounted && hostRoot === '/') return new Set(valid.filter((n) => existsSync(join(mounted, 'events', n))));
  const found = inPrivateTracefs('for n; do [ -d "$n" ] && echo "$n"; done; true', valid, 10_000);
  return typeof found === 'string' ? found : new Set(found);
}

/**
 * Runs a shell fragment in the events directory of a tracefs mounted privately, in a mount namespace
 * of its own that ends with the call: for a node where tracefs is not mounted (or not visible under the
 * host root). `args` are the fragment's "$@". Its output lines, or why it could not run.
 */
export function inPrivateTracefs(fragment: string, args: readonly string[], timeoutMs: number): string[] | string {
  const dir = mkdtempSync(join(tmpdir(), 'bpfready-tracefs-'));
  try {
    // The fragment in braces: a `; true` of its own must not hide a failed mount or cd.
    const script = `mount -t tracefs nodev "$0" && cd "$0/events" && { ${fragment}; }`;
    const r = spawnSync('unshare', ['-m', '--propagation', 'private', 'sh', '-c', script, dir, ...args], {
      encoding: 'utf8',
      timeout: timeoutMs,
      maxBuffer: 64 << 20,
    });
    if (r.status !== 0)
      return `tracefs is not mounted and could not be mounted privately (${(r.stderr || r.error?.message || `exit ${r.status}`).trim()})`;
    return r.stdout.split('\n').filter(Boolean);
  } finally {
    rmdirSync(dir);
  }
}

// Program types that load `call <helper>; r0 = 0; exit` with no attach target: between them they
// offer nearly every helper. The program's own type goes first when it is one of them.
const SIMPLE_TYPES = [
  'kprobe',
  'socket_filter',
  'sched_cls',
  'xdp',
  'tracepoint',
  'raw_tracepoint',
  'perf_event',
  'cgroup_skb',
  'sched_act',
  'lwt_in',
];

function versionCode(): number {
  const m = /^(\d+)\.(\d+)(?:\.(\d+))?/.exec(release());
  return m ? (Number(m[1]) << 16) + (Number(m[2]) << 8) + Math.min(255, Number(m[3] ?? 0)) : 0;
}

/**
 * Whether the kernel treats a helper as GPL-only: load a one-call program with the license
 * "Proprietary". The verifier looks the helper up, then refuses a GPL-only one in a program that is
 * not GPL-compatible before it checks any argument; so a refusal naming the GPL says yes, any other
 * outcome of a found helper says no, and "unknown func"/"cannot use helper" means try another type.
 */
export function makeGplProbe(): (helper: string, progType: string | undefined) => ProbeResult & { value?: boolean } {
  const cache = new Map<string, ProbeResult & { value?: boolean }>();
  return (helper, progType) => {
    const id = HELPER_NAMES.indexOf(helper.replace(/^bpf_/, ''));
    if (id <= 0) return probeError(undefined, `not probed: unknown helper ${helper}`);
    const hit = cache.get(helper);
    if (hit) return hit;
    const types = [...new Set([...(progType && SIMPLE_TYPES.includes(progType) ? [progType] : []), ...SIMPLE_TYPES])];
    const insns = encode([callHelper(id), mov64Imm(0, 0), exit()]);
    let denied: ProbeResult | undefined;
    let answer: (ProbeResult & { value?: boolean }) | undefined;
    for (const t of types) {
      const r = progLoad({
        progType: PROG_TYPE_NAMES.indexOf(t),
        insns,
        license: 'Proprietary',
        logLevel: 1,
        kernVersion: versionCode(),
        name: 'bpfready_gpl',
      });
      if (r.ok) {
        r.fd.close();
        answer = { status: 'supported', value: false, detail: `loaded in a ${t} program licensed "Proprietary"` };
        break;
      }
      if (r.errno === 1 || r.errno === 13) {
        denied ??= notPermitted(
          errnoName(r.errno),
          `a ${t} program licensed "Proprietary" calling bpf_${helper} was refused with ${errnoName(r.errno)}; availability unknown`,
        );
        if (!r.log) continue;
      }
      if (/GPL/.test(r.log)) {
        answer = { status: 'supported', value: true, detail: `verifier, ${t} program licensed "Proprietary": ${lastLine(r.log)}` };
        break;
      }
      if (/unknown func|invalid func|cannot use helper|not supported for program type/.test(r.log) || !r.log) continue;
      // The helper was found and the GPL check passed; the verifier stopped later, at an argument.
      answer = {
        status: 'supported',
        value: false,
        detail: `verifier, ${t} program licensed "Proprietary", got past the license check: ${lastLine(r.log)}`,
      };
      break;
    }
    const out =
      answer ?? denied ?? probeError(undefined, `not probed: no program type bpfready loads without a target offers bpf_${helper}`);
    // Answers that depend on privilege are not kept (docs/requirements.md).
    if (out.status === 'supported') cache.set(helper, out);
    return out;
  };
}

function lastLine(log: string): string {
  return (
    log
      .trim()
      .split('\n')
      .filter((l) => !l.startsWith('processed ') && !l.startsWith('verification time'))
      .at(-1) ?? ''
  );
}
