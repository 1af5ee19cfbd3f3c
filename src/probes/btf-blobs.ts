// Tiny raw BTF blobs the probes load (BPF_BTF_LOAD): enough type information for local-storage
// maps, for program extension targets and for the BTF-kind feature probes. Built, not hand-typed,
// so each blob reads as the C it describes. Layout: docs/kernel-notes.md#btf-layout.

import { BtfKind as KIND } from '../kernel/btf.ts';

export class BtfBuilder {
  #types: number[] = [];
  #strings: string[] = [''];
  #strLen = 1;
  #count = 0;

  str(s: string): number {
    if (!s) return 0;
    const off = this.#strLen;
    this.#strings.push(s);
    this.#strLen += Buffer.byteLength(s) + 1;
    return off;
  }

  #type(name: string, kind: number, vlen: number, sizeOrType: number, tail: number[] = [], kindFlag = false): number {
    this.#types.push(this.str(name), ((kindFlag ? 1 : 0) << 31) | (kind << 24) | vlen, sizeOrType, ...tail);
    return ++this.#count;
  }

  int(name: string, bytes: number, signed = true): number {
    return this.#type(name, KIND.INT, 0, bytes, [((signed ? 1 : 0) << 24) | (bytes * 8)]);
  }
  ptr(to: number): number {
    return this.#type('', KIND.PTR, 0, to);
  }
  struct(name: string, size: number, members: [name: string, type: number, bitOffset: number][]): number {
    const tail = members.flatMap(([n, t, off]) => [this.str(n), t, off]);
    return this.#type(name, KIND.STRUCT, members.length, size, tail);
  }
  funcProto(ret: number, params: [name: string, type: number][]): number {
    return this.#type(
      '',
      KIND.FUNC_PROTO,
      params.length,
      ret,
      params.flatMap(([n, t]) => [this.str(n), t]),
    );
  }
  /** linkage: 0 static, 1 global. */
  func(name: string, proto: number, linkage = 1): number {
    return this.#type(name, KIND.FUNC, linkage, proto);
  }
  variable(name: string, type: number, linkage = 1): number {
    return this.#type(name, KIND.VAR, 0, type, [linkage]);
  }
  datasec(name: string, size: number, vars: [type: number, offset: number, size: number][]): number {
    return this.#type(name, KIND.DATASEC, vars.length, size, vars.flat());
  }
  float(name: string, bytes: number): number {
    return this.#type(name, KIND.FLOAT, 0, bytes);
  }
  declTag(tag: string, type: number, componentIdx = -1): number {
    return this.#type(tag, KIND.DECL_TAG, 0, type, [componentIdx >>> 0]);
  }
  typeTag(tag: string, type: number): number {
    return this.#type(tag, KIND.TYPE_TAG, 0, type);
  }
  enum64(name: string, size: number, values: [name: string, value: bigint][]): number {
    const tail = values.flatMap(([n, v]) => [this.str(n), Number(v & 0xffffffffn), Number(v >> 32n)]);
    return this.#type(name, KIND.ENUM64, values.length, size, tail);
  }

  build(): Uint8Array {
    const typeLen = this.#types.length * 4;
    const hdrLen = 24;
    const out = new Uint8Array(hdrLen + typeLen + this.#strLen);
    const v = new DataView(out.buffer);
    v.setUint16(0, 0xeb9f, true);
    v.setUint8(2, 1);
    v.setUint32(4, hdrLen, true);
    v.setUint32(8, 0, true);
    v.setUint32(12, typeLen, true);
    v.setUint32(16, typeLen, true);
    v.setUint32(20, this.#strLen, true);
    this.#types.forEach((w, i) => v.setUint32(hdrLen + i * 4, w >>> 0, true));
    let at = hdrLen + typeLen + 1;
    for (const s of this.#strings.slice(1)) {
      out.set(new TextEncoder().encode(s), at);
      at += Buffer.byteLength(s) + 1;
    }
    return out;
  }
}

/** `int` alone: type 1. The smallest BTF every kernel with BTF_LOAD accepts. */
export function intBtf(): Uint8Array {
  const b = new BtfBuilder();
  b.int('int', 4);
  return b.build();
}

/**
 * `int probe(struct xdp_md *ctx)` as a global function (type 4), for an XDP program that a
 * program extension (freplace) can target. 6.8+ checks that the main program's func_info has
 * exactly one context-pointer argument of the program type's context struct.
 */
export function xdpFuncBtf(): { blob: Uint8Array; funcId: number } {
  const b = new BtfBuilder();
  const int = b.int('int', 4);
  const xdpMd = b.struct('xdp_md', 0, []);
  const ptr = b.ptr(xdpMd);
  const proto = b.funcProto(int, [['ctx', ptr]]);
  const funcId = b.func('probe', proto, 1);
  return { blob: b.build(), funcId };
}

/** One blob per BTF kind the misc probes check; each loads only on a kernel that knows the kind. */
export const BTF_KIND_BLOBS: Record<string, () => Uint8Array> = {
  btf: intBtf,
  btf_func: () => {
    const b = new BtfBuilder();
    const int = b.int('int', 4);
    b.func('f', b.funcProto(int, [['a', int]]), 0);
    return b.build();
  },
  btf_global_func: () => {
    const b = new BtfBuilder();
    const int = b.int('int', 4);
    b.func('f', b.funcProto(int, [['a', int]]), 1);
    return b.build();
  },
  btf_datasec: () => {
    const b = new BtfBuilder();
    const int = b.int('int', 4);
    const v = b.variable('x', int, 1);
    b.datasec('.data', 4, [[v, 0, 4]]);
    return b.build();
  },
  btf_float: () => {
    const b = new BtfBuilder();
    b.float('float', 4);
    return b.build();
  },
  btf_decl_tag: () => {
    const b = new BtfBuilder();
    const int = b.int('int', 4);
    const v = b.variable('x', int, 1);
    b.declTag('tag', v, -1);
    return b.build();
  },
  btf_type_tag: () => {
    const b = new BtfBuilder();
    const int = b.int('int', 4);
    b.ptr(b.typeTag('tag', int));
    return b.build();
  },
  btf_enum64: () => {
    const b = new BtfBuilder();
    b.enum64('e', 8, [['v', 1n << 40n]]);
    return b.build();
  },
};
