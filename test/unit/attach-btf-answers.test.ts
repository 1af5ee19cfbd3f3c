// The attach section's vmlinux BTF answers (src/attach/btf-answers.ts): what the worker gets from the
// main thread answers as the parsed BTF does, and a question not asked ahead is an error, not "absent".
import { existsSync, readFileSync } from 'node:fs';
import { describe, expect, it } from 'vitest';
import { answeredBtf, ATTACH_BTF_QUERIES, askAttachBtf } from '../../src/attach/btf-answers.ts';
import { Btf, BtfKind } from '../../src/kernel/btf.ts';

const VMLINUX = '/sys/kernel/btf/vmlinux';
if (!existsSync(VMLINUX)) console.warn('SKIP attach BTF answers on vmlinux: this kernel exposes no /sys/kernel/btf/vmlinux');

describe('attach BTF answers', () => {
  it.runIf(existsSync(VMLINUX))('answer every attach question as vmlinux BTF does, also after a structured clone', () => {
    const bytes = readFileSync(VMLINUX);
    // The one-pass scan (a fresh parse has no name index) against the name index of another parse.
    const answers = structuredClone(askAttachBtf(Btf.parse(bytes, { input: VMLINUX })));
    const indexed = Btf.parse(bytes, { input: VMLINUX });
    const table = answeredBtf(answers);
    for (const [kind, name] of ATTACH_BTF_QUERIES) expect(table.findId(kind, name), name).toBe(indexed.findId(kind, name));
    expect(answers.ids.filter(([, , id]) => id !== null).length).toBeGreaterThan(3);
    for (const [id, size] of answers.sizes) expect(table.typeRef(id)).toBe(indexed.typeRef(id));
  });

  it('answer "absent" only for what was asked, and throw for anything else', () => {
    const table = answeredBtf({
      ids: [
        [BtfKind.FUNC, 'bpf_fentry_test1', 7],
        [BtfKind.STRUCT, 'bpf_struct_ops_tcp_congestion_ops', null],
      ],
      sizes: [[9, 64]],
    });
    expect(table.findId(BtfKind.FUNC, 'bpf_fentry_test1')).toBe(7);
    expect(table.findId(BtfKind.STRUCT, 'bpf_struct_ops_tcp_congestion_ops')).toBeUndefined();
    expect(table.typeRef(9)).toBe(64);
    expect(() => table.findId(BtfKind.STRUCT, 'bpf_fentry_test1')).toThrow(/not answered ahead: kind 4 bpf_fentry_test1/);
    expect(() => table.typeRef(7)).toThrow(/not answered ahead: size of type 7/);
  });
});
