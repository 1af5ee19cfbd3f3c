// Btf.free() (src/kernel/btf.ts): the probe frees vmlinux BTF as soon as the tables have asked
// their last question (docs/probes.md, "Memory"). The memory must come back at once, not at a
// later garbage collection, and a freed Btf must answer as if it defined no types (never read
// freed bytes); bytes the Btf does not own whole are left alone.
import { existsSync } from 'node:fs';
import { describe, expect, it } from 'vitest';
import { Btf, BtfKind, readBtfFile } from '../../src/kernel/btf.ts';
import { btfQueries } from '../../src/probes/engine.ts';
import { buildBtf } from './parsers/btf-builder.ts';
import { BASE_TYPES } from './parsers/btf-samples.ts';

const VMLINUX = '/sys/kernel/btf/vmlinux';
if (!existsSync(VMLINUX)) console.warn('SKIP Btf.free on vmlinux: this kernel exposes no /sys/kernel/btf/vmlinux');

describe('Btf.free', () => {
  it.runIf(existsSync(VMLINUX))('gives vmlinux BTF bytes and tables back at once, and then finds nothing', () => {
    const bytes = readBtfFile(VMLINUX);
    const btf = Btf.parse(bytes, { input: VMLINUX });
    const ids = btf.findIds(btfQueries());
    const some = ids.find((x) => x !== undefined)!;
    expect(btf.kind(some)).not.toBe(0);
    const before = process.memoryUsage().arrayBuffers;
    btf.free();
    const freed = before - process.memoryUsage().arrayBuffers;
    expect(freed).toBeGreaterThan(5 * 2 ** 20 * 0.9); // vmlinux BTF is ~5 MB here, and the tables on top
    expect(bytes.byteLength).toBe(0);
    expect(btf.findIds(btfQueries()).every((x) => x === undefined)).toBe(true);
    expect([btf.kind(some), btf.name(some), btf.typeRef(some), btf.structMembers(some)]).toEqual([0, '', 0, []]);
    expect(btf.findId(BtfKind.INT, 'int')).toBeUndefined();
    btf.free(); // twice is harmless
  });

  it('leaves bytes alone that are part of a larger buffer, and frees its own tables', () => {
    const blob = buildBtf(BASE_TYPES);
    const shared = new Uint8Array(blob.length + 16);
    shared.set(blob, 8);
    const view = shared.subarray(8, 8 + blob.length);
    const btf = Btf.parse(view);
    expect(btf.findId(BtfKind.STRUCT, 'task_struct')).toBe(2);
    btf.free();
    expect(shared.byteLength, 'the caller keeps its buffer').toBe(blob.length + 16);
    expect(view.byteLength).toBe(blob.length);
    expect(btf.findId(BtfKind.STRUCT, 'task_struct')).toBeUndefined();
    expect(btf.enumValues('small')).toBeUndefined();
    expect(btf.declTagged('bpf_kfunc')).toEqual([]);
  });
});
