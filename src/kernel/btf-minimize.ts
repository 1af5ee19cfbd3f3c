// A smaller kernel BTF that answers what check() asks of BTF (docs/json.md, "kernelView"): CO-RE
// relocations (every named type with all its members, enumerators and what they point to), and
// which functions, typedefs and structs exist (fentry/lsm/iter targets, btf_trace_<tp>). What CO-RE
// never reads is left out: DATASEC, DECL_TAG, and function prototypes that only FUNCs use — a FUNC
// keeps its name and points at one shared empty prototype — and the parameter names of the
// prototypes kept. The output is raw BTF again, read by the same parser as /sys/kernel/btf/vmlinux,
// so resolveCore() runs unchanged on a saved report.
//
// Module BTF (split on vmlinux) becomes one split blob on the minimized base: libbpf looks for CO-RE
// candidates in vmlinux first and in all modules together otherwise, which one merged blob keeps.
import { Btf, BtfKind } from './btf.ts';

const K = BtfKind;
// Kinds whose size_or_type word is a type id.
const REFERS = new Set<number>([K.PTR, K.TYPEDEF, K.VOLATILE, K.CONST, K.RESTRICT, K.FUNC, K.FUNC_PROTO, K.VAR, K.TYPE_TAG]);
const KEEP_FUNCS = process.env.KF === '1';
const DROPPED = new Set<number>([K.DATASEC, K.DECL_TAG]);

class StringTable {
  readonly #at = new Map<string, number>();
  readonly #parts: Buffer[] = [];
  #len = 0;
  readonly baseLen: number;
  constructor(baseLen: number) {
    this.baseLen = baseLen;
    if (baseLen === 0) this.add('');
  }
  add(s: string): number {
    if (s === '' && this.baseLen > 0) return 0;
    let off = this.#at.get(s);
    if (off === undefined) {
      off = this.baseLen + this.#len;
      const b = Buffer.from(`${s}\0`, 'utf8');
      this.#parts.push(b);
      this.#len += b.length;
      this.#at.set(s, off);
    }
    return off;
  }
  get length(): number {
    return this.#len;
  }
  bytes(): Buffer {
    return Buffer.concat(this.#parts);
  }
}

function blob(types: number[], strings: StringTable): Buffer {
  const hdr = Buffer.alloc(24);
  const typeLen = types.length * 4;
  hdr.writeUInt16LE(0xeb9f, 0);
  hdr.writeUInt8(1, 2);
  hdr.writeUInt32LE(24, 4);
  hdr.writeUInt32LE(0, 8);
  hdr.writeUInt32LE(typeLen, 12);
  hdr.writeUInt32LE(typeLen, 16);
  hdr.writeUInt32LE(strings.length, 20);
  const t = Buffer.alloc(typeLen);
  types.forEach((w, i) => t.writeUInt32LE(w >>> 0, i * 4));
  return Buffer.concat([hdr, t, strings.bytes()]);
}

/** Type ids of `btf` (own ones only) that the minimized blob keeps, given what the base keeps. */
function reachable(btf: Btf): Set<number> {
  const keep = new Set<number>();
  const stack: number[] = [];
  const visit = (id: number): void => {
    if (id >= btf.firstId && !keep.has(id)) {
      keep.add(id);
      stack.push(id);
    }
  };
  for (let id = btf.firstId; id <= btf.typeCount; id++) {
    const k = btf.kind(id);
    if (!DROPPED.has(k) && k !== K.FUNC_PROTO && (KEEP_FUNCS || k !== K.FUNC)) visit(id);
  }
  while (stack.length) {
    const id = stack.pop()!;
    const k = btf.kind(id);
    const w = btf.rawWords(id);
    if (k === K.FUNC) continue;
    if (REFERS.has(k)) visit(w[2]!);
    if (k === K.ARRAY) {
      visit(w[3]!);
      visit(w[4]!);
    } else if (k === K.STRUCT || k === K.UNION) {
      for (let i = 3; i < w.length; i += 3) visit(w[i + 1]!);
    } else if (k === K.FUNC_PROTO) {
      for (let i = 3; i < w.length; i += 2) visit(w[i + 1]!);
    }
  }
  return keep;
}

interface Minimized {
  bytes: Buffer;
  typeCount: number;
  strLen: number;
  map: Map<number, number>;
}

/** One type's record with its type ids and names rewritten for the new blob. */
function rewrite(btf: Btf, id: number, ref: (id: number) => number, strings: StringTable, proto: number): number[] {
  const k = btf.kind(id);
  const w = btf.rawWords(id);
  const str = (off: number): number => strings.add(btf.stringAt(off) ?? '');
  const out = [str(w[0]!), w[1]!, k === K.FUNC ? proto : REFERS.has(k) ? ref(w[2]!) : w[2]!];
  if (k === K.ARRAY) out.push(ref(w[3]!), ref(w[4]!), w[5]!);
  else if (k === K.STRUCT || k === K.UNION) for (let i = 3; i < w.length; i += 3) out.push(str(w[i]!), ref(w[i + 1]!), w[i + 2]!);
  else if (k === K.ENUM) for (let i = 3; i < w.length; i += 2) out.push(str(w[i]!), w[i + 1]!);
  else if (k === K.ENUM64) for (let i = 3; i < w.length; i += 3) out.push(str(w[i]!), w[i + 1]!, w[i + 2]!);
  else if (k === K.FUNC_PROTO) for (let i = 3; i < w.length; i += 2) out.push(0, ref(w[i + 1]!));
  else out.push(...w.slice(3));
  return out;
}

/** Appends the kept types of each blob in `btfs`, numbered on from `first`, to `words`. */
function renumber(
  btfs: readonly Btf[],
  first: number,
  base: Minimized | undefined,
  strings: StringTable,
  proto: number,
  words: number[],
): Minimized {
  let next = first;
  let map = new Map<number, number>();
  for (const btf of btfs) {
    map = new Map<number, number>();
    const ids = [...reachable(btf)].sort((a, b) => a - b);
    for (const id of ids) map.set(id, next++);
    const own = map;
    const ref = (id: number): number => (id === 0 ? 0 : id < btf.firstId ? (base?.map.get(id) ?? 0) : (own.get(id) ?? 0));
    for (const id of ids) words.push(...rewrite(btf, id, ref, strings, proto));
  }
  return { bytes: blob(words, strings), typeCount: next - 1, strLen: (base?.strLen ?? 0) + strings.length, map };
}

export interface MinimizedBtf {
  vmlinux: Buffer;
  /** All modules' BTF as one split blob on `vmlinux`; absent when there are none. */
  modules?: Buffer;
}

export function minimizeBtf(vmlinux: Btf, modules: readonly Btf[] = []): MinimizedBtf {
  // id 1 of the base: a FUNC_PROTO returning void with no parameters, the prototype of every FUNC.
  const words = [0, (K.FUNC_PROTO << 24) >>> 0, 0];
  const base = renumber([vmlinux], 2, undefined, new StringTable(0), 1, words);
  if (!modules.length) return { vmlinux: base.bytes };
  const mods = renumber(modules, base.typeCount + 1, base, new StringTable(base.strLen), 1, []);
  return { vmlinux: base.bytes, modules: mods.bytes };
}
