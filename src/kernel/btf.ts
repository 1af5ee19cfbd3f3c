// Our own reader of raw BTF (include/uapi/linux/btf.h): /sys/kernel/btf/vmlinux, split module BTF
// (/sys/kernel/btf/<module>, ids and string offsets continue after the base) and the .BTF section of
// eBPF ELF objects, in either byte order. One pass records where each type starts; names are decoded
// and indexed only when first asked for, because vmlinux holds ~150k types and most callers look up a
// handful.
import { readFileSync, statSync } from 'node:fs';
import { join } from 'node:path';
import { ParseError } from '../base/errors.ts';
import { mapFile, type FileMapping } from '../native/libc.ts';

export const BtfKind = {
  INT: 1,
  PTR: 2,
  ARRAY: 3,
  STRUCT: 4,
  UNION: 5,
  ENUM: 6,
  FWD: 7,
  TYPEDEF: 8,
  VOLATILE: 9,
  CONST: 10,
  RESTRICT: 11,
  FUNC: 12,
  FUNC_PROTO: 13,
  VAR: 14,
  DATASEC: 15,
  FLOAT: 16,
  DECL_TAG: 17,
  TYPE_TAG: 18,
  ENUM64: 19,
} as const;

export const BTF_KIND_NAMES: readonly string[] = [
  'unknown',
  'int',
  'ptr',
  'array',
  'struct',
  'union',
  'enum',
  'fwd',
  'typedef',
  'volatile',
  'const',
  'restrict',
  'func',
  'func_proto',
  'var',
  'datasec',
  'float',
  'decl_tag',
  'type_tag',
  'enum64',
];

const BTF_MAGIC = 0xeb9f;
// struct btf_header up to str_len; newer kernels append layout_off/layout_len (hdr_len 32), which we skip.
const MIN_HDR_LEN = 24;
const TYPE_HDR = 12;
// Larger than any real BTF (vmlinux is ~6 MB); keeps a corrupt length from meaning "allocate 4 GB".
const MAX_TYPES = 1 << 22;
const decoder = new TextDecoder('utf-8', { fatal: false });
const HOST_LE = new Uint8Array(new Uint16Array([1]).buffer)[0] === 1;
// Bytes after the 12-byte header, per kind: a fixed part and a part per member (vlen); -1 = no such
// kind. KIND_REFERS: kinds whose size_or_type word is a type id.
const KIND_TAIL_FIXED = new Int8Array([-1, 4, 0, 12, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 4, 0, 0, 4, 0, 0]);
const KIND_TAIL_PER_MEMBER = new Uint8Array([0, 0, 0, 0, 12, 12, 8, 0, 0, 0, 0, 0, 0, 8, 0, 12, 0, 0, 0, 12]);
/**
 * A 16-bit hash of the first eight bytes at `at` (fewer when the string or the section ends first:
 * the NUL that ends a short name is one of them, so "ab" and "abc" differ).
 */
function nameHash(b: Uint8Array, at: number, avail: number): number {
  let h = 0x811c9dc5;
  const n = avail < 8 ? avail : 8;
  for (let k = 0; k < n; k++) {
    const c = b[at + k]!;
    h = Math.imul(h ^ c, 0x01000193);
    if (c === 0) break;
  }
  return (h ^ (h >>> 16)) & 0xffff;
}
const KIND_REFERS = new Uint8Array([0, 0, 1, 0, 0, 0, 0, 0, 1, 1, 1, 1, 1, 1, 1, 0, 0, 1, 1, 0]);
const latin1 = new TextDecoder('latin1');

export interface BtfMember {
  name: string;
  type: number;
  /** Bit offset within the struct (the bitfield's offset when the struct's kind_flag is set). */
  bitOffset: number;
  /** Bitfield width when the struct's kind_flag is set and the member is a bitfield; 0 otherwise. */
  bitfieldSize?: number;
}

/**
 * A type name without its `___flavour` suffix (libbpf's CO-RE naming rule: `task_struct___old` is a local
 * variant of `task_struct`). The suffix starts at the last "___" that has a non-underscore on each side.
 */
export function essentialName(name: string): string {
  for (let i = name.length - 5; i >= 0; i--) {
    if (name[i] !== '_' && name[i + 1] === '_' && name[i + 2] === '_' && name[i + 3] === '_' && name[i + 4] !== '_')
      return name.slice(0, i + 1);
  }
  return name;
}

const MODIFIERS = new Set<number>([8, 9, 10, 11, 18]); // typedef, volatile, const, restrict, type_tag

export interface BtfParseOptions {
  /** Names the blob in errors: a path, or "prog.o .BTF". */
  input?: string;
  /** For split BTF (kernel modules): the BTF whose type ids and strings this one continues. */
  base?: Btf;
}

// A file's BTF is parsed in place where the kernel lets us map it (Btf.open): no copy, and the
// kernel's pages are not charged to us. So no view of #bytes may leave this class (every method
// returns numbers and decoded strings), and free() swaps in empty tables before it unmaps: nothing
// can read the mapping once it is gone. A mapped Btf that is never freed is unmapped when it is
// garbage collected.
const unmapWhenCollected = new FinalizationRegistry<FileMapping>((m) => m.unmap());

export class Btf {
  readonly littleEndian: boolean;
  /** Highest type id, including the base's. */
  readonly typeCount: number;
  readonly base: Btf | undefined;
  /** First type id defined in this blob (1, or base.typeCount + 1 for split BTF). */
  readonly firstId: number;

  #view: DataView;
  #bytes: Uint8Array;
  readonly #strStart: number;
  readonly #strLen: number;
  /** String offsets below this belong to the base. */
  readonly #strBase: number;
  #offsets: Uint32Array;
  #kinds: Uint8Array;
  #declTags: number[];
  #index: Map<string, number>[] | undefined;
  #essential: Map<string, number[]> | undefined;
  #ascii: string | undefined;
  #decoded = 0;
  #freed = false;
  #mapping: FileMapping | undefined;

  private constructor(bytes: Uint8Array, input: string, base: Btf | undefined) {
    const fail = (msg: string): never => {
      throw new ParseError(input, msg);
    };
    if (bytes.byteLength < MIN_HDR_LEN) fail(`too short for a BTF header (${bytes.byteLength} bytes)`);
    const view = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
    const magic = view.getUint16(0, true);
    if (magic !== BTF_MAGIC && magic !== 0x9feb) fail(`bad magic 0x${magic.toString(16)} (want 0xeb9f)`);
    const le = magic === BTF_MAGIC;
    if (bytes[2] !== 1) fail(`unsupported BTF version ${bytes[2]}`);
    const hdrLen = view.getUint32(4, le);
    const typeOff = view.getUint32(8, le);
    const typeLen = view.getUint32(12, le);
    const strOff = view.getUint32(16, le);
    const strLen = view.getUint32(20, le);
    if (hdrLen < MIN_HDR_LEN || hdrLen > bytes.byteLength) fail(`bad header length ${hdrLen}`);
    const data = bytes.byteLength - hdrLen;
    if (typeOff + typeLen > data) fail(`type section [${typeOff}, +${typeLen}) runs past the end (${data} data bytes)`);
    if (strOff + strLen > data) fail(`string section [${strOff}, +${strLen}) runs past the end (${data} data bytes)`);
    if (typeOff % 4 !== 0 || typeLen % 4 !== 0) fail('type section is not 4-byte aligned');
    const strStart = hdrLen + strOff;
    // libbpf and the kernel: the section must end with NUL, and non-split BTF starts with the empty name.
    if (strLen > 0 && bytes[strStart + strLen - 1] !== 0) fail('string section does not end with NUL');
    if (!base && (strLen === 0 || bytes[strStart] !== 0)) fail('string section does not start with the empty name');

    this.littleEndian = le;
    this.base = base;
    this.firstId = base ? base.typeCount + 1 : 1;
    this.#view = view;
    this.#bytes = bytes;
    this.#strStart = strStart;
    this.#strLen = strLen;
    this.#strBase = base ? base.#strBase + base.#strLen : 0;
    const strEnd = this.#strBase + strLen;

    // Each type is at least 12 bytes, so typeLen / 12 bounds the count without a first pass.
    const cap = Math.min(Math.floor(typeLen / TYPE_HDR), MAX_TYPES);
    const offsets = new Uint32Array(cap);
    const kinds = new Uint8Array(cap);
    const declTags: number[] = [];
    let n = 0;
    let maxRef = 0;
    const end = hdrLen + typeOff + typeLen;
    // 32-bit words in place when the blob is in host order and aligned (vmlinux always is): the
    // loop below then reads no DataView and branches on table lookups only (~3x faster on 150k types).
    const words =
      le === HOST_LE && (bytes.byteOffset + hdrLen + typeOff) % 4 === 0
        ? new Uint32Array(bytes.buffer, bytes.byteOffset + hdrLen + typeOff, typeLen / 4)
        : undefined;
    const base4 = hdrLen + typeOff;
    for (let p = base4; p < end; ) {
      if (p + TYPE_HDR > end) fail(`type ${this.firstId + n} is truncated`);
      if (n >= cap) fail(`more than ${MAX_TYPES} types`);
      let nameOff: number, info: number, ref: number;
      if (words) {
        const w = (p - base4) >>> 2;
        nameOff = words[w]!;
        info = words[w + 1]!;
        ref = words[w + 2]!;
      } else {
        nameOff = view.getUint32(p, le);
        info = view.getUint32(p + 4, le);
        ref = view.getUint32(p + 8, le);
      }
      // Newest UAPI widens vlen to 24 bits and kind to 7; older kernels require those bits to be zero,
      // so reading the wide fields is right for both.
      const kind = (info >>> 24) & 0x7f;
      const vlen = info & 0xffffff;
      if (nameOff >= strEnd) fail(`type ${this.firstId + n} name offset ${nameOff} is outside the string section`);
      const fixed = kind < KIND_TAIL_FIXED.length ? KIND_TAIL_FIXED[kind]! : -1;
      if (fixed < 0) fail(`type ${this.firstId + n} has unknown kind ${kind}`);
      const tail = fixed + KIND_TAIL_PER_MEMBER[kind]! * vlen;
      if (p + TYPE_HDR + tail > end) fail(`type ${this.firstId + n} (${BTF_KIND_NAMES[kind]}) runs past the type section`);
      if (KIND_REFERS[kind] && ref > maxRef) maxRef = ref;
      if (kind === BtfKind.DECL_TAG) declTags.push(this.firstId + n);
      offsets[n] = p;
      kinds[n] = kind;
      n++;
      p += TYPE_HDR + tail;
    }
    this.#offsets = offsets.subarray(0, n);
    this.#kinds = kinds.subarray(0, n);
    this.#declTags = declTags;
    this.typeCount = this.firstId - 1 + n;
    if (maxRef > this.typeCount) fail(`a type refers to id ${maxRef}, beyond the last id ${this.typeCount}`);
  }

  /** Parse a raw BTF blob; throws ParseError naming `opts.input` when it is malformed. */
  static parse(bytes: Uint8Array, opts: BtfParseOptions = {}): Btf {
    return new Btf(bytes, opts.input ?? 'BTF', opts.base);
  }

  /**
   * Parse a BTF file, not cached. A sysfs file (the kernel's BTF, 6.16+) is parsed in place,
   * mapped read-only: one system call, no copy, and no memory of ours (docs/probes.md, "Memory");
   * free() unmaps it at once, else it goes when this Btf is garbage collected. Any other file is
   * read. fs errors (ENOENT, EACCES) propagate.
   */
  static open(path: string, opts: { base?: Btf; size?: number } = {}): Btf {
    const m = mapFile(path, opts.size ?? statSync(path).size);
    if (!m) return new Btf(readFileSync(path), path, opts.base);
    let btf: Btf;
    try {
      btf = new Btf(m.bytes, path, opts.base);
    } catch (e) {
      m.unmap();
      throw e;
    }
    btf.#mapping = m;
    unmapWhenCollected.register(btf, m, btf);
    return btf;
  }

  /**
   * Give this BTF's memory back now rather than at some later garbage collection (vmlinux: ~1 MB
   * of type tables, and its ~5 MB of bytes when they were read rather than mapped; docs/probes.md,
   * "Memory"): the mapping or the bytes (when they are a buffer of their own, as Btf.open's are),
   * and the tables parse() built. Only for a Btf its caller opened or parsed for itself, never one
   * from loadBtfFile's cache, which others may hold. Afterwards it defines no types: every lookup
   * answers as for an unknown id (so does a split BTF's lookup of its freed base's types).
   */
  free(): void {
    if (this.#freed) return;
    this.#freed = true;
    const bytes = this.#bytes;
    const own =
      !this.#mapping && bytes.buffer instanceof ArrayBuffer && bytes.byteOffset === 0 && bytes.byteLength === bytes.buffer.byteLength;
    for (const b of [own ? bytes.buffer : undefined, this.#offsets.buffer, this.#kinds.buffer])
      if (b instanceof ArrayBuffer && !b.detached) b.transfer(0);
    this.#bytes = new Uint8Array(0);
    this.#view = new DataView(this.#bytes.buffer);
    this.#offsets = new Uint32Array(0);
    this.#kinds = new Uint8Array(0);
    this.#declTags = [];
    this.#index = undefined;
    this.#essential = undefined;
    this.#ascii = undefined;
    // Only now that nothing here can reach the mapping.
    if (this.#mapping) {
      unmapWhenCollected.unregister(this);
      this.#mapping.unmap();
      this.#mapping = undefined;
    }
  }

  /** The blob that defines `id` (this one or a base), or undefined for void and unknown ids. */
  #owner(id: number): Btf | undefined {
    if (this.#freed || !Number.isInteger(id) || id < 1 || id > this.typeCount) return undefined;
    let b: Btf | undefined = this;
    while (b && id < b.firstId) b = b.base;
    return b;
  }

  /** The BTF kind of `id` (0 for void or an id this BTF does not define). */
  kind(id: number): number {
    const b = this.#owner(id);
    return b ? b.#kinds[id - b.firstId]! : 0;
  }

  /** The type's name ("" for anonymous types, void and unknown ids). */
  name(id: number): string {
    const b = this.#owner(id);
    return b ? this.#string(b.#u32(id, 0)) : '';
  }

  /** The type's size_or_type word: the referenced type for PTR/TYPEDEF/FUNC/VAR/..., the size otherwise. */
  typeRef(id: number): number {
    const b = this.#owner(id);
    return b ? b.#u32(id, 8) : 0;
  }

  /** vlen: member count, or the linkage for FUNC. */
  vlen(id: number): number {
    const b = this.#owner(id);
    return b ? b.#u32(id, 4) & 0xffffff : 0;
  }

  /** The first id with this kind and name, searching the base first (as the kernel resolves ids). */
  findId(kind: number, name: string): number | undefined {
    if (this.base) {
      const inBase = this.base.findId(kind, name);
      if (inBase !== undefined) return inBase;
    }
    this.#index ??= this.#buildIndex();
    return this.#index[kind]?.get(name);
  }

  /**
   * findId() for a few names at once without building the name index (~40 ms and ~12 MB for
   * vmlinux): pahole writes each string once, so a byte search for "\0name\0" finds its offset, and
   * one pass over the type headers finds the types that use it.
   */
  findIds(wanted: readonly (readonly [kind: number, name: string])[]): (number | undefined)[] {
    if (this.#index || this.base) return wanted.map(([k, n]) => this.findId(k, n));
    const out: (number | undefined)[] = wanted.map(() => undefined);
    // One pass over the type headers, comparing name bytes in place. A name's first eight bytes,
    // hashed into a 64 Ki-entry table, reject almost every type before any comparison (names short
    // of eight bytes are keyed by what they have, NUL included), and nothing is decoded.
    const encoded = wanted.map(([, n]) => new TextEncoder().encode(n));
    const bytes = this.#bytes;
    const base = this.#strStart;
    const strEnd = this.#strStart + this.#strLen;
    const byHash = new Map<number, number[]>();
    const filter = new Uint8Array(1 << 16);
    const kindWanted = new Uint8Array(256);
    let left = 0;
    encoded.forEach((e, i) => {
      if (!e.length) return;
      const h = nameHash(e, 0, e.length + 1);
      filter[h] = 1;
      const list = byHash.get(h);
      if (list) list.push(i);
      else byHash.set(h, [i]);
      kindWanted[wanted[i]![0]] = 1;
      left++;
    });
    const le = this.littleEndian;
    const view = this.#view;
    const offsets = this.#offsets;
    const kinds = this.#kinds;
    for (let i = 0; i < offsets.length && left > 0; i++) {
      if (!kindWanted[kinds[i]!]) continue;
      const at = base + view.getUint32(offsets[i]!, le);
      const h = nameHash(bytes, at, strEnd - at);
      if (!filter[h]) continue;
      for (const w of byHash.get(h) ?? []) {
        if (out[w] !== undefined || wanted[w]![0] !== kinds[i]) continue;
        const e = encoded[w]!;
        let j = 0;
        while (j < e.length && bytes[at + j] === e[j]) j++;
        if (j === e.length && bytes[at + j] === 0) {
          out[w] = this.firstId + i;
          left--;
        }
      }
    }
    return out;
  }

  /** FUNCs carrying DECL_TAG `tag` on the whole declaration (component_idx -1), e.g. 'bpf_kfunc'. */
  declTagged(tag: string, opts: { ownOnly?: boolean } = {}): { id: number; name: string }[] {
    const out = !opts.ownOnly && this.base ? this.base.declTagged(tag) : [];
    const seen = new Set<number>();
    for (const id of this.#declTags) {
      if (this.#view.getInt32(this.#offsets[id - this.firstId]! + TYPE_HDR, this.littleEndian) !== -1) continue;
      if (this.name(id) !== tag) continue;
      const target = this.typeRef(id);
      if (this.kind(target) !== BtfKind.FUNC || seen.has(target)) continue;
      seen.add(target);
      out.push({ id: target, name: this.name(target) });
    }
    return out;
  }

  /** Enumerators of the ENUM or ENUM64 named `name`, with their values. */
  enumValues(name: string): Map<string, bigint> | undefined {
    const [e32, e64] = this.findIds([
      [BtfKind.ENUM, name],
      [BtfKind.ENUM64, name],
    ]);
    const id = e32 ?? e64;
    return id === undefined ? undefined : this.enumValuesOf(id);
  }

  /** Enumerators of the ENUM or ENUM64 with this id (see enumValues). */
  enumValuesOf(id: number): Map<string, bigint> | undefined {
    const k = this.kind(id);
    if (k !== BtfKind.ENUM && k !== BtfKind.ENUM64) return undefined;
    const b = this.#owner(id)!;
    const p = b.#offsets[id - b.firstId]!;
    const info = b.#u32(id, 4);
    const signed = info >>> 31 === 1;
    const vlen = info & 0xffffff;
    const out = new Map<string, bigint>();
    const le = b.littleEndian;
    const v = b.#view;
    if (b.kind(id) === BtfKind.ENUM) {
      for (let i = 0, q = p + TYPE_HDR; i < vlen; i++, q += 8) {
        out.set(this.#string(v.getUint32(q, le)), BigInt(signed ? v.getInt32(q + 4, le) : v.getUint32(q + 4, le)));
      }
    } else {
      for (let i = 0, q = p + TYPE_HDR; i < vlen; i++, q += 12) {
        const raw = (BigInt(v.getUint32(q + 8, le)) << 32n) | BigInt(v.getUint32(q + 4, le));
        out.set(this.#string(v.getUint32(q, le)), signed ? BigInt.asIntN(64, raw) : raw);
      }
    }
    return out;
  }

  /** Members of a STRUCT or UNION in declaration order (index = struct_ops member index); [] otherwise. */
  structMembers(id: number): BtfMember[] {
    const b = this.#owner(id);
    if (!b) return [];
    const kind = b.#kinds[id - b.firstId];
    if (kind !== BtfKind.STRUCT && kind !== BtfKind.UNION) return [];
    const info = b.#u32(id, 4);
    const bitfields = info >>> 31 === 1;
    const vlen = info & 0xffffff;
    const le = b.littleEndian;
    const v = b.#view;
    const out: BtfMember[] = [];
    for (let i = 0, q = b.#offsets[id - b.firstId]! + TYPE_HDR; i < vlen; i++, q += 12) {
      const off = v.getUint32(q + 8, le);
      const m: BtfMember = {
        name: this.#string(v.getUint32(q, le)),
        type: v.getUint32(q + 4, le),
        bitOffset: bitfields ? off & 0xffffff : off,
      };
      if (bitfields && off >>> 24) m.bitfieldSize = off >>> 24;
      out.push(m);
    }
    return out;
  }

  /** Parameters of a FUNC_PROTO (or of a FUNC's prototype): name and type id; [] otherwise. */
  funcParams(id: number): { name: string; type: number }[] {
    const protoId = this.kind(id) === BtfKind.FUNC ? this.typeRef(id) : id;
    const b = this.#owner(protoId);
    if (!b || b.#kinds[protoId - b.firstId] !== BtfKind.FUNC_PROTO) return [];
    const vlen = b.#u32(protoId, 4) & 0xffffff;
    const out: { name: string; type: number }[] = [];
    for (let i = 0, q = b.#offsets[protoId - b.firstId]! + TYPE_HDR; i < vlen; i++, q += 8) {
      out.push({ name: this.#string(b.#view.getUint32(q, b.littleEndian)), type: b.#view.getUint32(q + 4, b.littleEndian) });
    }
    return out;
  }

  /**
   * The type's record as 32-bit words in host order: name_off, info, size_or_type, then its tail
   * (members, params, enumerators, array info). For code that rewrites BTF (btf-minimize.ts).
   */
  rawWords(id: number): number[] {
    const b = this.#owner(id);
    if (!b) return [];
    const kind = b.#kinds[id - b.firstId]!;
    const vlen = b.#u32(id, 4) & 0xffffff;
    const n = (TYPE_HDR + KIND_TAIL_FIXED[kind]! + KIND_TAIL_PER_MEMBER[kind]! * vlen) / 4;
    const at = b.#offsets[id - b.firstId]!;
    const out: number[] = new Array(n);
    for (let i = 0; i < n; i++) out[i] = b.#view.getUint32(at + 4 * i, b.littleEndian);
    return out;
  }

  /** A string of this blob (or its base) by offset; undefined when the offset is outside the strings. */
  stringAt(off: number): string | undefined {
    if (!Number.isInteger(off) || off < 0 || off >= this.#strBase + this.#strLen) return undefined;
    return this.#string(off);
  }

  /** ARRAY: element type, index type and element count. */
  arrayInfo(id: number): { type: number; indexType: number; nelems: number } | undefined {
    const b = this.#owner(id);
    if (!b || b.#kinds[id - b.firstId] !== BtfKind.ARRAY) return undefined;
    return { type: b.#u32(id, 12), indexType: b.#u32(id, 16), nelems: b.#u32(id, 20) };
  }

  /** INT: encoding bits (1 signed, 2 char, 4 bool), bit offset and bit width. */
  intInfo(id: number): { encoding: number; offset: number; bits: number } | undefined {
    const b = this.#owner(id);
    if (!b || b.#kinds[id - b.firstId] !== BtfKind.INT) return undefined;
    const w = b.#u32(id, 12);
    return { encoding: (w >>> 24) & 0x0f, offset: (w >>> 16) & 0xff, bits: w & 0xff };
  }

  /** kind_flag of the type's info word (signed enums, bitfield structs, ...). */
  kindFlag(id: number): boolean {
    const b = this.#owner(id);
    return b ? b.#u32(id, 4) >>> 31 === 1 : false;
  }

  /** Skip typedef/const/volatile/restrict/type_tag (libbpf's skip_mods_and_typedefs); 0 for void or a loop. */
  skipModsAndTypedefs(id: number): number {
    for (let hops = 0; hops < 64; hops++) {
      if (!MODIFIERS.has(this.kind(id))) return id;
      id = this.typeRef(id);
    }
    return 0;
  }

  /** Byte size of a type as the kernel computes it; undefined for kinds without one (func, void, fwd). */
  sizeOf(id: number, depth = 0): number | undefined {
    if (depth > 32) return undefined;
    const r = this.skipModsAndTypedefs(id);
    switch (this.kind(r)) {
      case BtfKind.INT:
      case BtfKind.ENUM:
      case BtfKind.ENUM64:
      case BtfKind.STRUCT:
      case BtfKind.UNION:
      case BtfKind.FLOAT:
      case BtfKind.DATASEC:
        return this.typeRef(r);
      case BtfKind.PTR:
        return 8;
      case BtfKind.ARRAY: {
        const a = this.arrayInfo(r)!;
        const e = this.sizeOf(a.type, depth + 1);
        return e === undefined ? undefined : a.nelems * e;
      }
      default:
        return undefined;
    }
  }

  /**
   * Types defined in this blob (not its base) of one of `kinds` whose name, without a `___flavour`
   * suffix, is `name`: libbpf's CO-RE candidates. The index is built on first use.
   */
  ownIdsByEssentialName(kinds: readonly number[], name: string): number[] {
    if (!this.#essential) {
      const index = new Map<string, number[]>();
      const le = this.littleEndian;
      for (let i = 0; i < this.#offsets.length; i++) {
        const nameOff = this.#view.getUint32(this.#offsets[i]!, le);
        if (nameOff === 0) continue;
        const key = `${this.#kinds[i]}:${essentialName(this.#string(nameOff))}`;
        const list = index.get(key);
        if (list) list.push(this.firstId + i);
        else index.set(key, [this.firstId + i]);
      }
      this.#essential = index;
    }
    return kinds.flatMap((k) => this.#essential!.get(`${k}:${name}`) ?? []).sort((a, b) => a - b);
  }

  #u32(id: number, at: number): number {
    return this.#view.getUint32(this.#offsets[id - this.firstId]! + at, this.littleEndian);
  }

  /** A string by its global offset (split BTF: offsets past the base's strings are ours). */
  #string(off: number): string {
    if (off < this.#strBase) return this.base ? this.base.#string(off) : '';
    const start = this.#strStart + (off - this.#strBase);
    const limit = this.#strStart + this.#strLen;
    if (start >= limit) return '';
    // A few names are decoded one by one; from the 256th on (a name index, a whole struct listing)
    // the section is decoded once and sliced.
    if (this.#ascii === undefined && ++this.#decoded > 256) this.#ascii = this.#decodeAscii();
    if (this.#ascii) {
      // The section ends with NUL (checked in the constructor), so indexOf always finds one.
      const rel = start - this.#strStart;
      return this.#ascii.slice(rel, this.#ascii.indexOf('\0', rel));
    }
    const end = this.#bytes.indexOf(0, start);
    return decoder.decode(this.#bytes.subarray(start, end < 0 || end > limit ? limit : end));
  }

  /**
   * Kernel and clang BTF names are C identifiers: decoding the whole section once and slicing it is
   * several times faster than decoding 100k names one by one. '' means "not all ASCII, decode each".
   */
  #decodeAscii(): string {
    const s = this.#bytes.subarray(this.#strStart, this.#strStart + this.#strLen);
    for (let i = 0; i < s.length; i++) if (s[i]! > 0x7f) return '';
    return latin1.decode(s);
  }

  #buildIndex(): Map<string, number>[] {
    const index = Array.from({ length: BTF_KIND_NAMES.length }, () => new Map<string, number>());
    const le = this.littleEndian;
    for (let i = 0; i < this.#offsets.length; i++) {
      const nameOff = this.#view.getUint32(this.#offsets[i]!, le);
      if (nameOff === 0) continue;
      const byName = index[this.#kinds[i]!]!;
      const name = this.#string(nameOff);
      if (!byName.has(name)) byName.set(name, this.firstId + i);
    }
    return index;
  }
}

// Weakly held: vmlinux BTF and its name index are ~20 MB, needed during a probe and not between
// the daemon's cycles; callers that need them across cycles keep the answers, not the object.
const cache = new Map<string, { mtimeMs: number; size: number; btf: WeakRef<Btf> }>();

/** Read and parse a kernel BTF file, cached per path, mtime and size. fs errors (ENOENT, EACCES) propagate. */
export function loadBtfFile(path: string, base?: Btf): Btf {
  const st = statSync(path);
  const hit = cache.get(path);
  const held = hit?.btf.deref();
  if (hit && held && hit.mtimeMs === st.mtimeMs && hit.size === st.size && held.base === base) return held;
  const btf = Btf.open(path, base ? { base, size: st.size } : { size: st.size });
  cache.set(path, { mtimeMs: st.mtimeMs, size: st.size, btf: new WeakRef(btf) });
  return btf;
}

/** Identity of a BTF file as loadBtfFile() caches it: path, mtime and size. */
export function btfFileKey(path: string): string {
  const st = statSync(path);
  return `${path}|${st.mtimeMs}|${st.size}`;
}

/** The running kernel's BTF, <hostRoot>/sys/kernel/btf/vmlinux (5.4+ with CONFIG_DEBUG_INFO_BTF). */
export function loadVmlinuxBtf(hostRoot = '/'): Btf {
  return loadBtfFile(join(hostRoot, 'sys/kernel/btf/vmlinux'));
}
