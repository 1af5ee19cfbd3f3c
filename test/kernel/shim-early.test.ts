// The early helper batch (src/collect/shim-early.ts, docs/native-shim.md) against the real kernel:
// `bpfready probe` sends it before it knows which program types load and with which recipe. The probe
// takes the answers of exactly the rows it would have sent itself; its tables are then the in-process
// ones, as root and with fewer capabilities; a row whose recipe is not the one the probe uses is not
// taken, and an early batch that fails costs time, not results.
import { spawnSync } from 'node:child_process';
import { readdirSync, readFileSync, rmSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { probeTables, type Tables } from '../../src/collect/index.ts';
import { LOAD_SHIM, loadShimPath } from '../../src/collect/shim-path.ts';
import { discardSpeculation, speculateHelperLoads, speculativeRows } from '../../src/collect/shim-early.ts';
import { ATTACH_TYPE_NAMES, PROG_TYPE_NAMES } from '../../src/native/uapi-names.ts';
import { rootOnly } from '../helpers/root.ts';
import { expectSameTables, scriptFolder } from '../helpers/stand-in.ts';

const skip = rootOnly('test/kernel/shim-early.test.ts (loads programs)');
const { dir, script } = scriptFolder('bpfready-shim-early-');

/** The program types of a saved batch's rows (the wire format of docs/native-shim.md). */
function batchTypes(file: string): string[] {
  const b = readFileSync(file);
  const rows = b.readUInt32LE(4);
  const out: string[] = [];
  let o = 24;
  for (let r = 0; r < rows; r++) {
    out.push(PROG_TYPE_NAMES[b.readUInt32LE(o)]!);
    o += 24 + ((b.readUInt32LE(o + 20) + 3) & ~3);
  }
  return out;
}

const typeOf = (progType: number) => PROG_TYPE_NAMES[progType]!;
// Stand-ins, chosen per batch by the environment the shim is started with: the real shim (saving
// each batch), a shim whose answers are all "loaded" (test/kernel/fake-loads-shim.ts), or a crash.
const saved = join(dir, 'batches');
const dispatch = script(
  'dispatching-shim',
  [
    `case "$BPFREADY_TEST_SHIM" in`,
    `  fake) exec ${process.execPath} ${join(import.meta.dirname, 'fake-loads-shim.ts')} ;;`,
    `  crash) kill -SEGV $$ ;;`,
    `esac`,
    `mkdir -p ${saved}; f=$(mktemp ${saved}/batch.XXXXXX); cat > "$f"`,
    `exec ${LOAD_SHIM} "$@" < "$f"`,
  ].join('\n'),
);
/** Send the early batch to `dispatch` as the stand-in `kind` (or the real shim). */
function speculate(kind: 'fake' | 'crash' | undefined, rows?: ReturnType<typeof speculativeRows>) {
  if (kind) process.env.BPFREADY_TEST_SHIM = kind;
  try {
    return speculateHelperLoads(dispatch, rows ? { rows } : {});
  } finally {
    delete process.env.BPFREADY_TEST_SHIM;
  }
}

describe.skipIf(skip || !loadShimPath())('the early helper batch (real kernel)', () => {
  it('gives every table the in-process loads give, as root; the probe took its rows and sent none of them again', async () => {
    rmSync(saved, { recursive: true, force: true });
    const early = speculate(undefined);
    const errors: string[] = [];
    const viaShim = await probeTables({ loadShim: dispatch, onShimError: (e) => errors.push(e.message) });
    const inProcess = await probeTables({ workers: 0 });
    expect(errors).toEqual([]);
    expectSameTables(viaShim, inProcess, 'as root');
    const loading = early.batch.rows.map((r) => typeOf(r.spec.progType)).filter((t) => viaShim.programTypes[t]?.status === 'supported');
    expect(loading.length).toBeGreaterThan(20);
    expect([...early.used].map((i) => typeOf(early.batch.rows[i]!.spec.progType)).sort()).toEqual(loading.sort());
    // The early batch and then one more, of the rows it could not guess (BTF targets).
    const batches = readdirSync(saved).map((f) => batchTypes(join(saved, f)));
    expect(batches).toHaveLength(2);
    const later = batches.find((b) => b.length !== early.batch.rows.length)!;
    expect(later.filter((t) => loading.includes(t))).toEqual([]);
    expect(later).toContain('tracing');
  });

  // Fewer capabilities, in a process of their own: the shim inherits exactly them (what loads, and
  // so which rows are taken, depends on them); with none, no row is taken.
  it.each(['cap_bpf', 'cap_bpf,cap_perfmon', 'cap_bpf,cap_perfmon,cap_net_admin', 'none'])('gives the same tables with only %s', (keep) => {
    const run = spawnSync(LOAD_SHIM, ['caps', '--keep', keep, '--', process.execPath, 'test/kernel/shim-early-runner.ts'], {
      maxBuffer: 64 << 20,
    });
    expect(run.status, run.stderr.toString()).toBe(0);
    const { shim, inProcess, errors, used } = JSON.parse(run.stdout.toString()) as {
      shim: Tables;
      inProcess: Tables;
      errors: string[];
      used: number;
    };
    expect(errors).toEqual([]);
    expectSameTables(shim, inProcess, `with ${keep}`);
    const loading = speculativeRows().filter((r) => shim.programTypes[typeOf(r.spec.progType)]?.status === 'supported');
    expect(used).toBe(loading.length);
    if (keep === 'none') expect(used).toBe(0);
    else expect(used).toBeGreaterThan(0);
  });

  it('does not take a row whose recipe is not the one the probe uses', async () => {
    // Two guesses answered "loaded" for every helper: xdp's as the probe loads it, and cgroup_sock's
    // with another expected attach type than its recipe's.
    const rows = speculativeRows();
    const xdp = rows.find((r) => typeOf(r.spec.progType) === 'xdp')!;
    const sock = rows.find((r) => typeOf(r.spec.progType) === 'cgroup_sock')!;
    const changed = { ...sock, spec: { ...sock.spec, expectedAttachType: ATTACH_TYPE_NAMES.indexOf('cgroup_inet4_post_bind') } };
    const early = speculate('fake', [xdp, changed]);
    const errors: string[] = [];
    const families = ['programTypes', 'helpers'] as const;
    const tables = await probeTables({ loadShim: dispatch, onShimError: (e) => errors.push(e.message), families });
    const reference = await probeTables({ workers: 0, families });
    expect(errors).toEqual([]);
    expect([...early.used]).toEqual([0]);
    expect(tables.helpers.cgroup_sock).toEqual(reference.helpers.cgroup_sock);
    // The row that was taken has the stand-in's answers (so the comparison above can tell)...
    const xdpHelpers = Object.entries(tables.helpers.xdp!).filter(([, r]) => !r.notProbed);
    expect(xdpHelpers.every(([, r]) => r.status === 'supported')).toBe(true);
    expect(Object.values(reference.helpers.xdp!).some((r) => r.status === 'unsupported')).toBe(true);
    // ...and every other row is the in-process one.
    const others = (t: Tables) => JSON.stringify({ ...t.helpers, xdp: undefined });
    expect(others(tables)).toBe(others(reference));
    expect(JSON.stringify(tables.programTypes)).toBe(JSON.stringify(reference.programTypes));
  });

  it('names an early batch that failed and makes its loads in process instead', async () => {
    speculate('crash');
    const errors: string[] = [];
    const families = ['programTypes', 'helpers'] as const;
    const tables = await probeTables({ loadShim: dispatch, onShimError: (e) => errors.push(e.message), families });
    const reference = await probeTables({ workers: 0, families });
    expect(errors).toHaveLength(1);
    expect(errors[0]).toMatch(/dispatching-shim loads killed by SIGSEGV/);
    expect(JSON.stringify(tables.helpers)).toBe(JSON.stringify(reference.helpers));
  });

  it('stops an early batch nobody took', async () => {
    const early = speculateHelperLoads(script('slow-shim', 'exec sleep 600'));
    discardSpeculation();
    await expect(early.answers(0n)).rejects.toThrow(/killed by SIGKILL/);
  });
});
