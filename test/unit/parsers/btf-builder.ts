// Builds raw BTF blobs for tests, in either byte order, including split BTF that continues a base.
// Written from the format in include/uapi/linux/btf.h (docs/facts.md, "BTF parser"); independent of the parser.

export interface RawType {
  name?: string;
  kind: number;
  vlen?: number;
  kindFlag?: boolean;
  /** size_or_type */
  ref?: number;
  /** Tail words (u32, or i32 for negatives), written after the 12-byte header; strings given as names. */
  tail?: (number | { str: string })[];
}

export function buildBtf(
  types: RawType[],
  { littleEndian = true, strBase = 0 }: { littleEndian?: boolean; strBase?: number } = {},
): Uint8Array {
  // Split BTF: string offsets continue after the base's section, and the section has no leading NUL.
  const strings: number[] = strBase ? [] : [0];
  const offsets = new Map<string, number>([['', 0]]);
  const str = (s: string): number => {
    if (s === '') return 0;
    const hit = offsets.get(s);
    if (hit !== undefined) return hit;
    const off = strBase + strings.length;
    offsets.set(s, off);
    strings.push(...new TextEncoder().encode(s), 0);
    return off;
  };
  const words: number[] = [];
  for (const t of types) {
    words.push(str(t.name ?? ''), ((t.kindFlag ? 1 : 0) << 31) | (t.kind << 24) | (t.vlen ?? 0), t.ref ?? 0);
    for (const w of t.tail ?? []) words.push(typeof w === 'number' ? w : str(w.str));
  }
  const typeLen = words.length * 4;
  const out = new Uint8Array(24 + typeLen + strings.length);
  const v = new DataView(out.buffer);
  v.setUint16(0, 0xeb9f, littleEndian);
  out[2] = 1;
  v.setUint32(4, 24, littleEndian);
  v.setUint32(8, 0, littleEndian);
  v.setUint32(12, typeLen, littleEndian);
  v.setUint32(16, typeLen, littleEndian);
  v.setUint32(20, strings.length, littleEndian);
  words.forEach((w, i) => v.setUint32(24 + i * 4, w >>> 0, littleEndian));
  out.set(strings, 24 + typeLen);
  return out;
}
