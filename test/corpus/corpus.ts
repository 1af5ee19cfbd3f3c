// The corpus of real objects built by others (test/corpus/README.md): the truth file's format, the
// class the kernel's answers give each object and program, and what counts as a right verdict. Pure;
// shared by the truth generator (scripts/corpus-truth.ts) and the test that holds our verdicts to the
// truth (test/requirements/corpus.test.ts).
import type { ObjectCheckResult } from '../../src/requirements/model.ts';
import type { Status } from '../../src/contract/result.ts';

/** A kernel answer, in the result contract. */
export interface Outcome {
  status: Status;
  errno?: string;
  detail?: string;
}

export interface ProgramTruth {
  section: string;
  /** bpfready's loader, this program alone (its maps created, CO-RE applied). */
  load: Outcome;
  /** Attached on its own right after loading (and detached), with tracefs mounted privately if needed. */
  attach?: Outcome;
  /** A kprobe-section label program attached as a uprobe instead (gethostlatency's handlers). */
  attachUprobe?: Outcome;
  /** The attach target chosen for a run-time target (the tool table's, as the tool sets it). */
  target?: string;
}

export interface ToolRun {
  args: string[];
  /** 'node': private mount and network namespace, the node's mounts as they are; 'tracefs': plus a private tracefs. */
  mounts: 'node' | 'tracefs';
  /** Still running at the deadline, holding at least one BPF program: it ran. */
  ran: boolean;
  exit: number | null;
  signal?: string | null;
  programs: number;
  links: number;
  stderr: string[];
}

export interface ObjectTruth {
  sha256: string;
  programs: Record<string, ProgramTruth>;
  /** `bpftool -d prog loadall` (libbpf): every program of the object as it stands. */
  bpftool?: { exit: number; error: string[]; core: { fn: string; insn: number; value: string }[] };
  /** The real tool, started for a few seconds, then interrupted. */
  tool?: { runs: ToolRun[]; environment?: string };
}

export interface TruthFile {
  kernel: { release: string; version: string };
  generatedAt: string;
  generator: string;
  bpftool?: string;
  /** What the node has mounted: libbpf finds tracepoint ids through tracefs. */
  node: { tracefs: boolean };
  objects: Record<string, ObjectTruth>;
}

export type TruthClass = 'runs' | 'refused' | 'not-permitted' | 'unknown';

const isPermission = (o: Outcome): boolean => o.status === 'not-permitted' || o.errno === 'EPERM' || o.errno === 'EACCES';

/** A program's class, as the node is: loaded and attached (through tracefs only if the node has it). */
export function programClass(p: ProgramTruth, node: { tracefs: boolean }, tracepoint: boolean): TruthClass {
  if (p.load.status !== 'supported') return p.load.status === 'error' ? 'unknown' : isPermission(p.load) ? 'not-permitted' : 'refused';
  if (tracepoint && !node.tracefs) return 'refused';
  const attaches = [p.attach, p.attachUprobe].filter((a): a is Outcome => a !== undefined);
  if (!attaches.length || attaches.some((a) => a.status === 'supported')) return 'runs';
  if (attaches.some((a) => isPermission(a))) return 'not-permitted';
  return attaches.every((a) => a.status === 'error') ? 'unknown' : 'refused';
}

const RANK: Record<TruthClass, number> = { runs: 0, 'not-permitted': 1, unknown: 2, refused: 3 };

/**
 * An object's class. The real tool decides when it ran (started, still running, holding programs):
 * `runs`. Otherwise the per-program classes decide, combined as the workload needs them: every
 * program, except that of alternatives (`groups`) one set must run — the worst unit wins, refusals
 * above permission above unknown.
 */
export function objectClass(t: ObjectTruth, node: { tracefs: boolean }, groups: readonly { alternatives: string[][] }[], tracepoints: ReadonlySet<string>): TruthClass {
  if (t.tool?.runs.some((r) => r.ran && r.mounts === 'node')) return 'runs';
  const cls = (n: string): TruthClass => programClass(t.programs[n]!, node, tracepoints.has(n));
  const worstOf = (cs: TruthClass[]): TruthClass => cs.reduce<TruthClass>((w, c) => (RANK[c] > RANK[w] ? c : w), 'runs');
  const bestOf = (cs: TruthClass[]): TruthClass => cs.reduce<TruthClass>((b, c) => (RANK[c] < RANK[b] ? c : b), 'refused');
  const grouped = new Set(groups.flatMap((g) => g.alternatives.flat()));
  const units = [
    ...Object.keys(t.programs).filter((n) => !grouped.has(n)).map(cls),
    ...groups.map((g) => bestOf(g.alternatives.map((a) => worstOf(a.map(cls))))),
  ];
  return worstOf(units);
}

/** The verdict class of our check: ready, or unmet with the object's status. */
export function verdictClass(r: Pick<ObjectCheckResult, 'ok' | 'status'>): TruthClass {
  if (r.ok) return 'runs';
  return r.status === 'unsupported' ? 'refused' : r.status === 'not-permitted' ? 'not-permitted' : 'unknown';
}

/**
 * Right, per docs/requirements.md ("The corpus"): ready exactly when the truth runs; refused when the
 * kernel refused (for a reason no privilege changes); not-permitted when the best the kernel said was
 * EPERM as root (availability unknown); an unknown truth is right with any verdict but ready.
 */
export function isRight(truth: TruthClass, verdict: TruthClass): boolean {
  if (truth === 'unknown') return verdict !== 'runs';
  return truth === verdict;
}

/**
 * Does a program's unmet verdict name a cause the kernel showed? The program must have failed in the
 * truth in the same way: permission for not-permitted, a refusal for unsupported, anything but
 * running for error.
 */
export function causeShown(status: Status, program: ProgramTruth | undefined, node: { tracefs: boolean }, tracepoint: boolean): boolean {
  if (!program) return false;
  const c = programClass(program, node, tracepoint);
  if (status === 'supported') return true;
  if (status === 'not-permitted') return c === 'not-permitted';
  if (status === 'unsupported') return c === 'refused';
  return c !== 'runs';
}
