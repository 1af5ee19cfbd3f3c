// The two things about an object's .BTF that the map reader needs and src/kernel/btf.ts does not expose:
// ARRAY element counts (libbpf's `__uint(name, N)` encodes N as `int (*name)[N]`) and DATASEC entries.
// Btf.parse validates the blob first, so this walk only re-reads records it knows are in bounds.
import { Btf, BtfKind } from './btf.ts';
import { ParseError } from '../base/errors.ts';

export interface DatasecVar {
  type: number;
  offset: number;
  size: number;
}

export class ObjectBtf {
  readonly btf: Btf;
  readonly input: string;
  readonly #arrays = new Map<number, { type: number; nelems: number }>();
  readonly #datasecs = new Map<string, DatasecVar[]>();

  constructor(bytes: Uint8Array, input: string) {
    this.input = input;
    this.btf = Btf.parse(bytes, { input });
    const le = this.btf.littleEndian;
    const view = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
    const hdrLen = view.getUint32(4, le);
    let p = hdrLen + view.getUint32(8, le);
    for (let id = 1; id <= this.btf.typeCount; id++) {
      const kind = this.btf.kind(id);
      const vlen = this.btf.vlen(id);
      const body = p + 12;
      if (kind === BtfKind.ARRAY) {
        this.#arrays.set(id, { type: view.getUint32(body, le), nelems: view.getUint32(body + 8, le) });
      } else if (kind === BtfKind.DATASEC) {
        const vars: DatasecVar[] = [];
        for (let i = 0; i < vlen; i++) {
          const q = body + 12 * i;
          vars.push({ type: view.getUint32(q, le), offset: view.getUint32(q + 4, le), size: view.getUint32(q + 8, le) });
        }
        this.#datasecs.set(this.btf.name(id), vars);
      }
      p = body + tailSize(kind, vlen);
    }
  }

  datasec(name: string): DatasecVar[] | undefined {
    return this.#datasecs.get(name);
  }

  array(id: number): { type: number; nelems: number } | undefined {
    return this.#arrays.get(id);
  }

  /** Skip typedef/const/volatile/restrict/type_tag, as libbpf's skip_mods_and_typedefs does. */
  resolve(id: number): number {
    for (let hops = 0; hops < 64; hops++) {
      const k = this.btf.kind(id);
      if (k !== BtfKind.TYPEDEF && k !== BtfKind.CONST && k !== BtfKind.VOLATILE && k !== BtfKind.RESTRICT && k !== BtfKind.TYPE_TAG)
        return id;
      id = this.btf.typeRef(id);
    }
    throw new ParseError(this.input, `type chain at id ${id} is longer than 64 modifiers (a loop?)`);
  }

  /** Byte size of a type, as the kernel computes it for map keys and values (Btf.sizeOf); refused when it has none. */
  sizeOf(id: number): number {
    const r = this.resolve(id);
    const n = this.btf.sizeOf(r);
    if (n === undefined)
      throw new ParseError(this.input, `type ${id} (kind ${this.btf.kind(r)}) has no size, or nests deeper than 32 arrays`);
    if (!Number.isSafeInteger(n)) throw new ParseError(this.input, `type ${id} is too large`);
    return n;
  }
}

function tailSize(kind: number, vlen: number): number {
  switch (kind) {
    case BtfKind.INT:
    case BtfKind.VAR:
    case BtfKind.DECL_TAG:
      return 4;
    case BtfKind.ARRAY:
      return 12;
    case BtfKind.STRUCT:
    case BtfKind.UNION:
    case BtfKind.DATASEC:
    case BtfKind.ENUM64:
      return 12 * vlen;
    case BtfKind.ENUM:
    case BtfKind.FUNC_PROTO:
      return 8 * vlen;
    default:
      return 0;
  }
}

/** One CO-RE relocation record of .BTF.ext (struct bpf_core_relo). */
export interface BtfExtCoreRelo {
  /** Byte offset of the instruction inside its ELF section. */
  insnOff: number;
  /** The local type the access starts from, an id in the object's .BTF. */
  typeId: number;
  /** "0:1:2": the array index on the root, then member or element indexes. */
  access: string;
  /** enum bpf_core_relo_kind. */
  kind: number;
}

export interface BtfExt {
  /** CO-RE relocations by the name of the ELF section holding the instructions. */
  coreRelos: Map<string, BtfExtCoreRelo[]>;
}

// struct btf_ext_header: magic (u16), version (u8), flags (u8), hdr_len, func_info off/len, line_info
// off/len, and from hdr_len 32 on core_relo off/len; offsets count from the end of the header. Each
// info block starts with its record size, then per ELF section: the section's name (a .BTF string
// offset), the record count and the records.
const BTF_EXT_MAGIC = 0xeb9f;
const CORE_RELO_MIN = 16;

/** The CO-RE relocations of a .BTF.ext; a malformed one is a ParseError naming it. */
export function parseBtfExt(bytes: Uint8Array, le: boolean, btf: ObjectBtf, input: string): BtfExt {
  const fail = (why: string): never => {
    throw new ParseError(input, why);
  };
  const out: BtfExt = { coreRelos: new Map() };
  if (bytes.length < 24) fail(`${bytes.length} bytes is shorter than a .BTF.ext header`);
  const v = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  if (v.getUint16(0, le) !== BTF_EXT_MAGIC) fail(`bad magic 0x${v.getUint16(0, le).toString(16)}`);
  const hdrLen = v.getUint32(4, le);
  if (hdrLen < 24 || hdrLen > bytes.length) fail(`header length ${hdrLen} does not fit the ${bytes.length}-byte section`);
  if (hdrLen < 32) return out;
  const off = v.getUint32(24, le);
  const len = v.getUint32(28, le);
  if (len === 0) return out;
  const start = hdrLen + off;
  const end = start + len;
  if (end > bytes.length || off % 4 !== 0) fail(`CO-RE relocation block [${off}, +${len}) lies outside the section`);
  if (len < 4) fail('CO-RE relocation block has no record size');
  const recSize = v.getUint32(start, le);
  // libbpf accepts larger records from newer compilers and reads the fields it knows.
  if (recSize < CORE_RELO_MIN || recSize % 4 !== 0) fail(`CO-RE relocation record size ${recSize} (want >= ${CORE_RELO_MIN})`);
  for (let p = start + 4; p < end; ) {
    if (p + 8 > end) fail(`CO-RE relocation block is truncated at ${p - start}`);
    const sec = btf.btf.stringAt(v.getUint32(p, le));
    const n = v.getUint32(p + 4, le);
    p += 8;
    if (sec === undefined || sec === '') fail(`CO-RE relocations at ${p - 8 - start} name no section`);
    if (n * recSize > end - p) fail(`${n} CO-RE relocations for "${sec}" run past the block`);
    const list = out.coreRelos.get(sec!) ?? [];
    for (let i = 0; i < n; i++, p += recSize) {
      const typeId = v.getUint32(p + 4, le);
      const access = btf.btf.stringAt(v.getUint32(p + 8, le));
      if (access === undefined) fail(`CO-RE relocation ${i} of "${sec}" has an access string outside .BTF`);
      if (typeId > btf.btf.typeCount) fail(`CO-RE relocation ${i} of "${sec}" names type ${typeId} of ${btf.btf.typeCount}`);
      list.push({ insnOff: v.getUint32(p, le), typeId, access: access!, kind: v.getUint32(p + 12, le) });
    }
    out.coreRelos.set(sec!, list);
  }
  return out;
}
