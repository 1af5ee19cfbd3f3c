// Runs inside the guest, after `bpfready probe`: the helper matrix's raw kernel answers (errno and
// the tail of the verifier log), so test/unit/kernel-fixtures.test.ts can run today's interpreter
// (src/contract/interpret.ts) over a 6.1 kernel's words without booting it. Same requests as the
// engine: its recipe per program type, a `call <id>; r0 = 0; exit` program per helper. Also each
// attach type of src/probes/programs.ts HELPER_VARIANTS that loads, under "<type>/<attach>", whether
// the report has a row of its own for it or not: what proves the engine's classes (expect.ts).
import { ProgLoader } from '../../src/native/bpf.ts';
import { callHelper, encode, exit, mov64Imm } from '../../src/native/insn.ts';
import { HELPER_NAMES, PROG_TYPE_NAMES } from '../../src/native/uapi-names.ts';
import { probeAttachVariant, probeProgramType, type ProbeEnv } from '../../src/probes/engine.ts';
import { HELPER_VARIANTS, type ProgRecipe } from '../../src/probes/programs.ts';
import { buildEnv, prepareLoad } from '../../src/collect/index.ts';

/**
 * Per program type, one entry per helper id (HELPER_NAMES order; index 0 unused): 0 when the program
 * loaded, else [errno, index into `logs`]. A log is stored once with the helper's own
 * "bpf_<name>#<id>" replaced by HELPER_MARK, so rows that differ only in the helper share it; the
 * substitution is exact and undone by `helperLog`.
 */
export interface RawHelpers {
  helperNames: string[];
  logs: string[];
  rows: Record<string, Array<0 | [errno: number, log: number]>>;
}

export const HELPER_MARK = '$HELPER';

/**
 * The verifier's last words, without its statistics trailer: enough for the interpreter, which looks
 * for the absent-helper message, the `(85) call` line and `#<id>`. Whole logs would make each
 * fixture megabytes.
 */
export function logTail(log: string, lines = 2): string {
  return log
    .split('\n')
    .map((l) => l.trimEnd())
    .filter((l) => l && !l.startsWith('processed ') && !l.startsWith('verification time'))
    .slice(-lines)
    .join('\n');
}

const token = (helper: string, id: number) => `bpf_${helper}#${id}`;

export function helperLog(raw: RawHelpers, logIndex: number, id: number): string {
  const name = raw.helperNames[id];
  const log = raw.logs[logIndex];
  if (name === undefined || log === undefined) throw new Error(`raw helper record: no helper #${id} or log #${logIndex}`);
  return log.replaceAll(HELPER_MARK, token(name, id));
}

export function recordHelpers(): RawHelpers {
  const env = buildEnv();
  const raw: RawHelpers = { helperNames: [...HELPER_NAMES], logs: [], rows: {} };
  const logIndex = new Map<string, number>();
  const rows: [key: string, progType: string, recipe: ProgRecipe][] = [];
  for (const progType of PROG_TYPE_NAMES) {
    if (!progType) continue;
    const { result, recipe } = probeProgramType(progType, env);
    if (result.status !== 'supported' || !recipe) continue;
    rows.push([progType, progType, recipe]);
    for (const attach of (HELPER_VARIANTS[progType] ?? []).flat()) {
      if (attach === recipe.attach) continue; // the type's own row
      const v = probeAttachVariant(progType, attach, env);
      if (v.recipe) rows.push([`${progType}/${attach}`, progType, v.recipe]);
    }
  }
  for (const [key, progType, recipe] of rows) record(raw, logIndex, key, progType, recipe, env);
  return raw;
}

function record(raw: RawHelpers, logIndex: Map<string, number>, key: string, progType: string, recipe: ProgRecipe, env: ProbeEnv): void {
  const prepared = prepareLoad(progType, recipe, env);
  if (!('spec' in prepared)) return;
  const loader = new ProgLoader({ ...prepared.spec, logLevel: 1 });
  const row: RawHelpers['rows'][string] = [0];
  for (const [id, helper] of HELPER_NAMES.entries()) {
    if (id === 0) continue;
    const r = loader.load(encode([callHelper(id), mov64Imm(0, 0), exit()]));
    if (r.ok) {
      r.fd.close();
      row.push(0);
      continue;
    }
    const log = logTail(r.log).replaceAll(token(helper, id), HELPER_MARK);
    let i = logIndex.get(log);
    if (i === undefined) {
      i = raw.logs.push(log) - 1;
      logIndex.set(log, i);
    }
    row.push([r.errno, i]);
  }
  for (const fd of prepared.deps) fd.close();
  raw.rows[key] = row;
}

if (import.meta.main) process.stdout.write(`${JSON.stringify(recordHelpers())}\n`);
