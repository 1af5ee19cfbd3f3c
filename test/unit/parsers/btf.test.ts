import { execFileSync } from 'node:child_process';
import { existsSync, readFileSync } from 'node:fs';
import { describe, expect, it } from 'vitest';
import { ParseError } from '../../../src/base/errors.ts';
import { Btf, BtfKind, BTF_KIND_NAMES, loadVmlinuxBtf } from '../../../src/kernel/btf.ts';
import { buildBtf, type RawType } from './btf-builder.ts';
import { BASE_TYPES, MINIMAL } from './btf-samples.ts';
import { skipUnless } from '../../helpers/skip.ts';

const fixture = (name: string) => readFileSync(new URL(`../../fixtures/kernel/${name}`, import.meta.url));

describe('Btf.parse', () => {
  it('reads libbpf’s minimal blob', () => {
    const btf = Btf.parse(MINIMAL);
    expect(btf.typeCount).toBe(1);
    expect(btf.kind(1)).toBe(BtfKind.INT);
    expect(btf.name(1)).toBe('int');
    expect(btf.findId(BtfKind.INT, 'int')).toBe(1);
    expect(btf.findId(BtfKind.STRUCT, 'int')).toBeUndefined();
    expect(btf.kind(0)).toBe(0);
    expect(btf.kind(2)).toBe(0);
    expect(btf.name(99)).toBe('');
  });

  it.each(['el', 'eb'])('reads a clang-built object’s .BTF (%s) in its own byte order', (e) => {
    const btf = Btf.parse(fixture(`btf-sample.${e}.btf`), { input: `btf-sample.${e}.btf` });
    expect(btf.littleEndian).toBe(e === 'el');
    expect(btf.typeCount).toBe(27);
    const sample = btf.findId(BtfKind.STRUCT, 'sample')!;
    expect(btf.structMembers(sample).map((m) => [m.name, btf.kind(m.type), m.bitOffset])).toEqual([
      ['a', BtfKind.TYPEDEF, 0],
      ['flag', BtfKind.INT, 32],
      ['b', BtfKind.CONST, 64],
      ['u', BtfKind.UNION, 128],
      ['col', BtfKind.ENUM, 160],
      ['bg', BtfKind.ENUM, 192],
      ['up', BtfKind.PTR, 256],
    ]);
    expect(btf.enumValues('colour')).toEqual(
      new Map([
        ['RED', 1n],
        ['GREEN', 0xfffffffen],
      ]),
    );
    expect(btf.declTagged('bpf_kfunc')).toEqual([{ id: btf.findId(BtfKind.FUNC, 'tagged_fn'), name: 'tagged_fn' }]);
    expect(btf.declTagged('bpf_fastcall')).toEqual([]);
    const fn = btf.findId(BtfKind.FUNC, 'tagged_fn')!;
    expect(btf.funcParams(fn).map((p) => p.name)).toEqual(['s', 'x']);
    expect(btf.findId(BtfKind.TYPE_TAG, 'user')).toBeDefined();
    expect(btf.findId(BtfKind.DATASEC, '.data')).toBeDefined();
    expect(btf.structMembers(fn)).toEqual([]);
  });

  it.each([true, false])('reads ENUM64 and signed enums (littleEndian=%s)', (littleEndian) => {
    const btf = Btf.parse(buildBtf(BASE_TYPES, { littleEndian }));
    expect(btf.enumValues('big')).toEqual(
      new Map([
        ['NEG', -2n],
        ['HI', -0x8000000000000000n],
      ]),
    );
    expect(btf.enumValues('small')).toEqual(new Map([['MINUS', -5n]]));
    expect(btf.enumValues('nope')).toBeUndefined();
  });

  it('reads split BTF whose ids and strings continue after the base', () => {
    const baseBytes = buildBtf(BASE_TYPES);
    const base = Btf.parse(baseBytes);
    const strBase = new DataView(baseBytes.buffer).getUint32(20, true);
    const split = Btf.parse(
      buildBtf(
        [
          { name: 'mod_fn_proto', kind: BtfKind.FUNC_PROTO, vlen: 1, ref: 1, tail: [{ str: 'task' }, 6] },
          { name: 'mod_fn', kind: BtfKind.FUNC, vlen: 1, ref: 5 },
          { name: 'int', kind: BtfKind.PTR, ref: 2 },
          { name: 'bpf_kfunc', kind: BtfKind.DECL_TAG, ref: 6, tail: [-1] },
          { name: 'bpf_kfunc', kind: BtfKind.DECL_TAG, ref: 6, tail: [0] },
        ],
        { strBase },
      ),
      { base, input: 'mod' },
    );
    expect(split.firstId).toBe(5);
    expect(split.typeCount).toBe(9);
    expect(split.name(6)).toBe('mod_fn');
    expect(split.name(2)).toBe('task_struct');
    expect(split.kind(7)).toBe(BtfKind.PTR);
    expect(split.findId(BtfKind.STRUCT, 'task_struct')).toBe(2);
    expect(split.findId(BtfKind.FUNC, 'mod_fn')).toBe(6);
    expect(split.funcParams(6)).toEqual([{ name: 'task', type: 6 }]);
    expect(split.declTagged('bpf_kfunc', { ownOnly: true })).toEqual([{ id: 6, name: 'mod_fn' }]);
    expect(split.enumValues('big')?.get('NEG')).toBe(-2n);
  });

  const bad: [string, Uint8Array, RegExp][] = [
    ['empty', new Uint8Array(), /too short/],
    ['bad magic', Uint8Array.from([0, 0, ...MINIMAL.subarray(2)]), /bad magic/],
    ['version 2', Uint8Array.from(MINIMAL, (b, i) => (i === 2 ? 2 : b)), /version 2/],
    ['truncated strings', MINIMAL.subarray(0, 44), /string section/],
    ['truncated type', buildBtf([{ kind: BtfKind.STRUCT, vlen: 3, ref: 4 }]), /runs past the type section/],
    ['unknown kind', buildBtf([{ kind: 20 }]), /unknown kind 20/],
    ['dangling ref', buildBtf([{ kind: BtfKind.PTR, ref: 7 }]), /refers to id 7/],
    ['name offset', buildBtf([{ kind: BtfKind.FWD, name: 'x' }]).map((b, i) => (i === 24 ? 200 : b)), /name offset 200/],
  ];
  it.each(bad)('rejects %s with a ParseError naming the input', (_, bytes, msg) => {
    expect(() => Btf.parse(bytes, { input: 'blob.btf' })).toThrow(ParseError);
    expect(() => Btf.parse(bytes, { input: 'blob.btf' })).toThrow(msg);
    expect(() => Btf.parse(bytes, { input: 'blob.btf' })).toThrow(/^blob\.btf: /);
  });
});

const VMLINUX = '/sys/kernel/btf/vmlinux';
describe.skipIf(
  skipUnless(existsSync(VMLINUX), 'test/unit/parsers/btf.test.ts vmlinux BTF', `no ${VMLINUX} (a kernel without CONFIG_DEBUG_INFO_BTF)`),
)('vmlinux BTF of the running kernel', () => {
  it('agrees with bpftool on every type id, kind and name', () => {
    let dump: string;
    try {
      dump = execFileSync('bpftool', ['btf', 'dump', 'file', VMLINUX], { maxBuffer: 1 << 30, encoding: 'utf8' });
    } catch (e) {
      console.warn(`skipping bpftool comparison: bpftool unavailable (${(e as Error).message})`);
      return;
    }
    const btf = loadVmlinuxBtf();
    let count = 0;
    for (const m of dump.matchAll(/^\[(\d+)\] (\w+) '([^']*)'/gm)) {
      const id = Number(m[1]);
      const name = m[3] === '(anon)' ? '' : m[3];
      if (BTF_KIND_NAMES[btf.kind(id)] !== m[2]!.toLowerCase() || btf.name(id) !== name) {
        expect([id, BTF_KIND_NAMES[btf.kind(id)], btf.name(id)]).toEqual([id, m[2]!.toLowerCase(), name]);
      }
      count = id;
    }
    expect(btf.typeCount).toBe(count);
    const kfuncs = [...dump.matchAll(/DECL_TAG 'bpf_kfunc' type_id=(\d+) component_idx=-1/g)].map((m) => Number(m[1]));
    expect(
      btf
        .declTagged('bpf_kfunc')
        .map((k) => k.id)
        .sort((a, b) => a - b),
    ).toEqual([...new Set(kfuncs)].sort((a, b) => a - b));
  });

  it('caches the parse per path and mtime', () => {
    expect(loadVmlinuxBtf('/')).toBe(loadVmlinuxBtf('/'));
  });

  it('finds well-known attach targets', () => {
    const btf = loadVmlinuxBtf();
    expect(btf.findId(BtfKind.STRUCT, 'task_struct')).toBeDefined();
    expect(btf.enumValues('bpf_prog_type')?.get('BPF_PROG_TYPE_SOCKET_FILTER')).toBe(1n);
  });
});
