// The minimized BTF of a kernel view answers CO-RE as the kernel's own BTF does: every relocation of
// every corpus object resolves to the same value (or fails the same way) against both, for this
// kernel's vmlinux and for the Debian 6.1 kernels' views saved from qemu (fixtures/reports/).
import { readdirSync, readFileSync } from 'node:fs';
import { join, resolve } from 'node:path';
import { describe, expect, it } from 'vitest';
import { Btf, BtfKind, loadVmlinuxBtf } from '../../../src/kernel/btf.ts';
import { minimizeBtf } from '../../../src/kernel/btf-minimize.ts';
import { parseBpfObject } from '../../../src/kernel/elf-bpf.ts';
import { resolveCore } from '../../../src/kernel/elf-core.ts';
import { loadReports } from '../../../src/requirements/reports.ts';
import { savedKernelOptions } from '../../../src/requirements/saved-view.ts';

const CORPUS = resolve(import.meta.dirname, '../../corpus/libbpf-tools');
const objects = readdirSync(CORPUS)
  .filter((f) => f.endsWith('.bpf.o'))
  .map((f) => ({ name: f, ...parseBpfObject(readFileSync(join(CORPUS, f)), f) }));
const answers = (btf: Btf): string[] =>
  objects.flatMap((o) =>
    o.programs.flatMap((p) =>
      p.core.map((r) => {
        const x = resolveCore(r.kind, r.spec, btf);
        return `${o.name}/${p.name}#${r.insn}: ${x.ok ? String(x.value) : `fail ${x.reason ?? ''}`}`;
      }),
    ),
  );

describe('minimizeBtf', () => {
  it('this kernel: every corpus CO-RE relocation resolves the same against the minimized vmlinux; FUNCs are left out, named types kept', () => {
    const full = loadVmlinuxBtf();
    const min = minimizeBtf(full);
    const small = Btf.parse(min.vmlinux, { input: 'minimized' });
    expect(min.vmlinux.length).toBeLessThan(full.typeCount * 40);
    const a = answers(full);
    expect(a.length).toBeGreaterThan(500);
    expect(answers(small)).toEqual(a);
    expect(small.findId(BtfKind.FUNC, 'vfs_read')).toBeUndefined();
    expect(full.findId(BtfKind.FUNC, 'vfs_read')).toBeDefined();
    expect(small.structMembers(small.findId(BtfKind.STRUCT, 'task_struct')!).map((m) => m.name)).toEqual(
      full.structMembers(full.findId(BtfKind.STRUCT, 'task_struct')!).map((m) => m.name),
    );
    expect(small.findId(BtfKind.TYPEDEF, 'btf_trace_sched_switch')).toBeDefined();
  });

  it('a saved kernel view: fentry targets come from the function list, which knows BTF functions from kallsyms-only ones', () => {
    const [saved] = loadReports('debian-6.1.0-57-amd64');
    const opts = savedKernelOptions(saved!.report);
    const btf = opts.btf!()!;
    expect(btf.findId(BtfKind.FUNC, 'vfs_read')).toBeDefined();
    expect(btf.findId(BtfKind.FUNC, 'no_such_function_here')).toBeUndefined();
    const fns = opts.kernel!.functions!();
    expect(typeof fns).not.toBe('string');
    expect((fns as Set<string>).has('vfs_read')).toBe(true);
    const core = opts.kernel!.coreBtf!();
    expect(typeof core).not.toBe('string');
  });
});
