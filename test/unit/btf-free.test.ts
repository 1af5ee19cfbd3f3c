// Btf.open and Btf.free (src/kernel/btf.ts): the probe parses vmlinux BTF in place, mapped from
// sysfs, and frees it as soon as the tables have asked their last question (docs/probes.md,
// "Memory"). The mapped parse must answer exactly as a parse of the bytes read(2) returns, cost
// no more than its own tables, and be gone from the address space once freed; a freed Btf must
// answer as if it defined no types (never read freed or unmapped bytes); bytes the Btf does not
// own whole are left alone.
import { existsSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it, onTestFinished } from 'vitest';
import { Btf, BtfKind } from '../../src/kernel/btf.ts';
import { btfQueries } from '../../src/probes/engine.ts';
import { buildBtf } from './parsers/btf-builder.ts';
import { BASE_TYPES } from './parsers/btf-samples.ts';

const VMLINUX = '/sys/kernel/btf/vmlinux';
if (!existsSync(VMLINUX)) console.warn('SKIP Btf.open on vmlinux: this kernel exposes no /sys/kernel/btf/vmlinux');

const mappings = () =>
  readFileSync('/proc/self/maps', 'utf8')
    .split('\n')
    .filter((l) => l.endsWith(VMLINUX)).length;
const rssKiB = () => {
  const s = readFileSync('/proc/self/status', 'utf8');
  return Number(/^VmRSS:\s+(\d+)/m.exec(s)![1]);
};

describe('Btf.open and Btf.free', () => {
  it.runIf(existsSync(VMLINUX))('parses vmlinux BTF in place as a read copy parses, and unmaps it on free', () => {
    const queries = btfQueries();
    const copy = Btf.parse(readFileSync(VMLINUX), { input: VMLINUX });
    const before = { maps: mappings(), rss: rssKiB() };
    const btf = Btf.open(VMLINUX);
    const grew = rssKiB() - before.rss;
    const mapped = mappings() === before.maps + 1;
    if (!mapped) console.warn(`Btf.open: this kernel does not map ${VMLINUX} (before 6.16); it was read`);
    const ids = btf.findIds(queries);
    expect(ids).toEqual(copy.findIds(queries));
    const attach = btf.findId(BtfKind.ENUM, 'bpf_attach_type') ?? btf.findId(BtfKind.ENUM64, 'bpf_attach_type');
    expect(attach).toBeDefined();
    expect(btf.enumValuesOf(attach!)).toEqual(copy.enumValuesOf(attach!));
    const ops = btf.findId(BtfKind.STRUCT, 'tcp_congestion_ops');
    expect(ops && btf.structMembers(ops)).toEqual(ops && copy.structMembers(ops));
    expect(btf.typeCount).toBe(copy.typeCount);
    copy.free();
    // Mapped, the file's ~5 MB are the kernel's pages, not ours: only the type tables (~1 MB) count.
    if (mapped) expect(grew, `RSS grew ${grew} KiB on opening a ${readFileSync(VMLINUX).length >> 10} KiB file`).toBeLessThan(3 * 1024);
    btf.free();
    expect(mappings()).toBe(before.maps);
    expect(btf.findIds(queries).every((x) => x === undefined)).toBe(true);
    const some = ids.find((x) => x !== undefined)!;
    expect([btf.kind(some), btf.name(some), btf.typeRef(some), btf.structMembers(some)]).toEqual([0, '', 0, []]);
    btf.free(); // twice is harmless
  });

  it('gives the bytes it read back at once on free', () => {
    const dir = mkdtempSync(join(tmpdir(), 'bpfready-btf-free-'));
    onTestFinished(() => rmSync(dir, { recursive: true, force: true }));
    const blob = buildBtf(Array.from({ length: 5000 }, () => BASE_TYPES).flat());
    writeFileSync(join(dir, 'blob'), blob);
    const btf = Btf.open(join(dir, 'blob'));
    expect(btf.findId(BtfKind.STRUCT, 'task_struct')).toBe(2);
    const held = process.memoryUsage().arrayBuffers;
    btf.free();
    expect(held - process.memoryUsage().arrayBuffers).toBeGreaterThanOrEqual(blob.length);
    expect(btf.findId(BtfKind.STRUCT, 'task_struct')).toBeUndefined();
  });

  it('leaves bytes alone that are part of a larger buffer', () => {
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
