// CPU-side facts that change what BPF costs or allows: spectre mitigations (the verifier adds
// speculation barriers and rejects some pointer arithmetic for unprivileged programs) and the
// preemption model (sleepable programs and some kfuncs behave differently under PREEMPT_RT/full).
import { ParseError } from '../base/errors.ts';
import { readHostText } from './hostroot.ts';

export const PREEMPT_MODELS = ['none', 'voluntary', 'full', 'lazy', 'rt'] as const;
export type PreemptModel = (typeof PREEMPT_MODELS)[number];

/**
 * debugfs sched/preempt (PREEMPT_DYNAMIC, 5.12+) lists the models on offer with the current one in
 * parentheses: "none voluntary (full) lazy".
 */
export function parseSchedPreempt(text: string, input = 'sched/preempt'): PreemptModel {
  const words = text.trim().split(/\s+/).filter(Boolean);
  const current = words.filter((w) => w.startsWith('(') && w.endsWith(')')).map((w) => w.slice(1, -1));
  if (current.length !== 1) throw new ParseError(input, `expected exactly one parenthesised model, found ${current.length}`);
  const model = current[0]!;
  if (!(PREEMPT_MODELS as readonly string[]).includes(model))
    throw new ParseError(input, `unknown preemption model ${JSON.stringify(model.slice(0, 40))}`);
  return model as PreemptModel;
}

/** `preempt=` on the kernel command line (overrides the build default with PREEMPT_DYNAMIC). */
export function cmdlinePreempt(cmdline: string): PreemptModel | undefined {
  const m = /(?:^|\s)preempt=(\S+)/.exec(cmdline);
  const v = m?.[1];
  return v && (PREEMPT_MODELS as readonly string[]).includes(v) ? (v as PreemptModel) : undefined;
}

export interface PreemptState {
  model?: PreemptModel;
  dynamic: boolean;
  source: string;
}

/**
 * The running preemption model: debugfs when mounted; otherwise the command line or the config's
 * default (CONFIG_PREEMPT_{NONE,VOLUNTARY,,LAZY,RT}); uname -v says "PREEMPT_DYNAMIC"/"PREEMPT_RT".
 */
export function readPreempt(hostRoot: string, config: Map<string, string> | undefined, unameVersion: string): PreemptState {
  const dynamic = config?.get('PREEMPT_DYNAMIC') === 'y' || /\bPREEMPT_DYNAMIC\b/.test(unameVersion);
  const dbg = readHostText(hostRoot, '/sys/kernel/debug/sched/preempt');
  if (dbg.ok) {
    try {
      return { model: parseSchedPreempt(dbg.value, dbg.path), dynamic: true, source: dbg.path };
    } catch {
      // fall through to the static sources
    }
  }
  if (config?.get('PREEMPT_RT') === 'y' || /\bPREEMPT_RT\b/.test(unameVersion))
    return { model: 'rt', dynamic, source: 'CONFIG_PREEMPT_RT' };
  if (dynamic) {
    const cmd = readHostText(hostRoot, '/proc/cmdline');
    const fromCmd = cmd.ok ? cmdlinePreempt(cmd.value) : undefined;
    if (fromCmd) return { model: fromCmd, dynamic, source: `${cmd.path} preempt=` };
  }
  if (config) {
    const options: [string, PreemptModel][] = [
      ['PREEMPT_NONE', 'none'],
      ['PREEMPT_VOLUNTARY', 'voluntary'],
      ['PREEMPT', 'full'],
      ['PREEMPT_LAZY', 'lazy'],
    ];
    for (const [opt, model] of options)
      if (config.get(opt) === 'y') return { model, dynamic, source: `CONFIG_${opt}${dynamic ? ' (boot default)' : ''}` };
  }
  return { dynamic, source: 'unknown: no debugfs sched/preempt, no kernel config' };
}

export const MITIGATIONS = ['spectre_v1', 'spectre_v2'] as const;

export function readVulnerability(hostRoot: string, name: string) {
  return readHostText(hostRoot, `/sys/devices/system/cpu/vulnerabilities/${name}`);
}
