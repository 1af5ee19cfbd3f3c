// The helper matrix row of one program type: a `call <id>` program per helper, interpreted. Kept
// apart from the engine so the helper worker threads import only what they run (their start-up is
// on the critical path of the first probe).
import { ProgLoader } from '../native/bpf.ts';
import { callHelper, encode, exit, mov64Imm } from '../native/insn.ts';
import { HELPER_NAMES } from '../native/uapi-names.ts';
import { SIDE_EFFECT_HELPERS } from './marks.ts';
import { progTypeCaps } from '../contract/capabilities.ts';
import { explainDenied, outcome, progTypeId, type ProbeEnv } from '../contract/probe-env.ts';
import { helperAbsence, interpretHelper, type RawOutcome } from '../contract/interpret.ts';
import { helperLookupBlind, hiddenHelper } from './privilege.ts';
import type { ProgLoadSpec } from '../native/bpf.ts';
import { notPermitted, notProbed, type ProbeResult, type ResultMap } from '../contract/result.ts';

// Hidden by kernel lockdown (security_locked_down() in the helpers' proto lookup): writing user
// memory from integrity on, reading kernel memory from confidentiality on. `types`: the program
// types whose helper table has the helper at all (the tracing family's, bpf_tracing_func_proto());
// elsewhere its absence is a fact whatever the lockdown. probe_read_kernel* are in every type's
// base table.
// (ext programs take their target's table, which is not of this family here.)
const TRACING_FAMILY = ['kprobe', 'tracepoint', 'perf_event', 'raw_tracepoint', 'raw_tracepoint_writable', 'tracing', 'lsm', 'syscall'];
const LOCKDOWN_HELPERS: Readonly<Record<string, { level: 'integrity' | 'confidentiality'; types?: readonly string[] }>> = {
  probe_write_user: { level: 'integrity', types: TRACING_FAMILY },
  probe_read: { level: 'confidentiality', types: TRACING_FAMILY },
  probe_read_str: { level: 'confidentiality', types: TRACING_FAMILY },
  probe_read_kernel: { level: 'confidentiality' },
  probe_read_kernel_str: { level: 'confidentiality' },
};

/**
 * Why an "absent helper" answer may be lockdown rather than the kernel; undefined: it is not.
 * (Capabilities are decided without a list, src/probes/privilege.ts.)
 */
function lockedDownBy(helper: string, progType: string, env: ProbeEnv): string | undefined {
  const lock = LOCKDOWN_HELPERS[helper];
  if (!lock || (lock.types && !lock.types.includes(progType))) return undefined;
  if (env.lockdown === undefined) return `kernel lockdown, which could not be read (securityfs), may hide bpf_${helper}`;
  if (env.lockdown === 'confidentiality' || env.lockdown === lock.level) return `kernel lockdown (${env.lockdown}) hides bpf_${helper}`;
  return undefined;
}

const MARKS = 'bpfready probe --full (daemon: fullProbe: true) probes it';
const SIDE_EFFECT_IDS = new Set(Object.keys(SIDE_EFFECT_HELPERS).map((h) => HELPER_NAMES.indexOf(h)));

/** Whether the default probe leaves this helper id alone (it would mark the node). */
export function leavesMark(id: number): boolean {
  return SIDE_EFFECT_IDS.has(id);
}

/** The result for a helper the default probe does not try. */
export function sideEffectResult(id: number): ProbeResult {
  const helper = HELPER_NAMES[id]!;
  return notProbed('side-effect', `a load that may call bpf_${helper} marks the node: ${SIDE_EFFECT_HELPERS[helper]}; ${MARKS}`);
}

const helperPrograms = HELPER_NAMES.map((_, id) => encode([callHelper(id), mov64Imm(0, 0), exit()]));

/** The `call <id>; r0 = 0; exit` program of every helper id, encoded (index = helper id). */
export function helperProgramTable(): readonly Uint8Array[] {
  return helperPrograms;
}

/** The ids of a row that are loaded (the rest are side-effect helpers the default probe skips). */
export function loadedHelperIds(ids: readonly number[], env: Pick<ProbeEnv, 'full'>): number[] {
  return env.full ? [...ids] : ids.filter((id) => !leavesMark(id));
}

/** The log level helper loads ask for: BPF_LOG_STATS (4) where the kernel takes it, else 1. */
export const helperLogLevel = (env: Pick<ProbeEnv, 'statsLog'>): number => (env.statsLog ? 4 : 1);

/** The program type of a helper row's key: "tracing" for "tracing/trace_iter" (programs.ts HELPER_VARIANTS). */
export const rowType = (key: string): string => key.split('/')[0]!;

/**
 * The full helper row for one loadable program type (or `<type>/<attach>` row): a `call <id>` program
 * per helper. `answers`: the loads' outcomes made elsewhere (the native shim, by helper id), for the
 * ids loadedHelperIds() names; without them the loads are made here.
 */
export function probeHelpers(
  row: string,
  prepared: { spec: ProgLoadSpec },
  env: ProbeEnv,
  ids?: readonly number[],
  answers?: ReadonlyMap<number, RawOutcome>,
): ResultMap {
  const progType = rowType(row);
  const out: ResultMap = {};
  const list = ids ?? HELPER_NAMES.map((_, i) => i).slice(1);
  // One attr for the whole row; only the instructions change. Always with a log: about half the
  // loads fail, and those need the verifier's words, so a log-less first pass costs more than it saves.
  // BPF_LOG_STATS (4) alone: the verifier's error messages without its per-instruction trace, a
  // third cheaper for the loads that succeed (5.2+; older kernels get level 1, see env.ts).
  const loader = answers ? undefined : new ProgLoader({ ...prepared.spec, logLevel: helperLogLevel(env) });
  const blind = helperLookupBlind(env);
  for (const id of list) {
    const helper = HELPER_NAMES[id]!;
    if (!env.full && leavesMark(id)) {
      out[`bpf_${helper}`] = sideEffectResult(id);
      continue;
    }
    let r: RawOutcome;
    if (loader) {
      const l = loader.load(helperPrograms[id]);
      if (l.ok) l.fd.close();
      r = l;
    } else {
      const a = answers!.get(id);
      if (!a) throw new Error(`no load answer for helper ${id} of ${row}`);
      r = a;
    }
    let res = interpretHelper(outcome(r), id);
    if (res.status === 'unsupported' && helperAbsence(outcome(r), id) === 'not-offered') {
      const locked = lockedDownBy(helper, progType, env);
      if (blind.length) res = hiddenHelper(res, helper, blind, locked);
      else if (locked)
        res = notPermitted(res.errno ?? 'EINVAL', `${locked}; availability unknown${res.detail ? ` (kernel: ${res.detail})` : ''}`);
    } else if (res.status === 'not-permitted') {
      res = explainDenied(res, env, { cmd: 'prog_load', progType: progTypeId(progType) }, 'program type', progType, progTypeCaps(progType));
    }
    out[`bpf_${helper}`] = res;
  }
  return out;
}

/** Every helper of a program type (or attach type, `what`) that did not load shares its result. */
export function inheritHelpers(progType: string, typeResult: ProbeResult, what = `program type ${progType}`): ResultMap {
  const out: ResultMap = {};
  const detail = `${what} is ${typeResult.status}${typeResult.detail ? `: ${typeResult.detail}` : ''}`;
  for (const helper of HELPER_NAMES.slice(1)) {
    out[`bpf_${helper}`] = { status: typeResult.status, ...(typeResult.errno ? { errno: typeResult.errno } : {}), detail };
  }
  return out;
}
