// The two things about an object's .BTF that the map reader needs and src/kernel/btf.ts does not expose:
// ARRAY element counts (libbpf's `__uint(name, N)` encodes N as `int (*name)[N]`) and DATASEC entries.
// Btf.parse validates the blob first, so this walk only re-reads records it knows are in bounds.
import { Btf, BtfKind } from './btf.ts';
import { ParseError } from '../errors.ts';

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
      if (k !== BtfKind.TYPEDEF && k !== BtfKind.CONST && k !== BtfKind.VOLATILE && k !== BtfKind.RESTRICT && k !== BtfKind.TYPE_TAG) return id;
      id = this.btf.typeRef(id);
    }
    throw new ParseError(this.input, `type chain at id ${id} is longer than 64 modifiers (a loop?)`);
  }

  /** Byte size of a type, as the kernel computes it for map keys and values. */
  sizeOf(id: number, depth = 0): number {
    if (depth > 32) throw new ParseError(this.input, `type ${id} nests deeper than 32 arrays`);
    const r = this.resolve(id);
    switch (this.btf.kind(r)) {
      case BtfKind.INT: case BtfKind.ENUM: case BtfKind.ENUM64: case BtfKind.STRUCT: case BtfKind.UNION:
      case BtfKind.FLOAT: case BtfKind.DATASEC:
        return this.btf.typeRef(r);
      case BtfKind.PTR:
        return 8;
      case BtfKind.ARRAY: {
        const a = this.#arrays.get(r)!;
        const n = a.nelems * this.sizeOf(a.type, depth + 1);
        if (!Number.isSafeInteger(n)) throw new ParseError(this.input, `array type ${r} is too large`);
        return n;
      }
      default:
        throw new ParseError(this.input, `type ${id} (kind ${this.btf.kind(r)}) has no size`);
    }
  }
}

function tailSize(kind: number, vlen: number): number {
  switch (kind) {
    case BtfKind.INT: case BtfKind.VAR: case BtfKind.DECL_TAG: return 4;
    case BtfKind.ARRAY: return 12;
    case BtfKind.STRUCT: case BtfKind.UNION: case BtfKind.DATASEC: case BtfKind.ENUM64: return 12 * vlen;
    case BtfKind.ENUM: case BtfKind.FUNC_PROTO: return 8 * vlen;
    default: return 0;
  }
}
