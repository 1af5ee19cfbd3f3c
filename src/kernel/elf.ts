// A strict reader for ELF64 eBPF relocatable objects (what `clang -target bpf -c` writes). Pure: bytes in,
// sections/symbols/relocations out. Every offset, size and index is bounds-checked, so a truncated or
// hostile object becomes a ParseError naming the input, never an exception from a DataView.
import { ParseError } from '../base/errors.ts';

/** e_machine for eBPF (include/uapi/linux/elf-em.h). */
export const EM_BPF = 247;

export const SHT_PROGBITS = 1;
export const SHT_SYMTAB = 2;
export const SHT_STRTAB = 3;
export const SHT_RELA = 4;
export const SHT_NOBITS = 8;
export const SHT_REL = 9;
export const SHF_EXECINSTR = 0x4;
export const SHN_UNDEF = 0;
export const STT_OBJECT = 1;
export const STT_FUNC = 2;
export const STT_SECTION = 3;
export const STB_LOCAL = 0;
export const STB_WEAK = 2;

// Objects with more sections, symbols or relocations than this are not compiler output we expect; the
// caps keep a corrupted count from turning into a multi-gigabyte allocation loop.
const MAX_SECTIONS = 65_535;
const MAX_ENTRIES = 4_000_000;

export interface ElfSection {
  index: number;
  name: string;
  type: number;
  flags: number;
  size: number;
  link: number;
  info: number;
  entsize: number;
  /** File bytes (empty for SHT_NOBITS). */
  data: Uint8Array;
}

export interface ElfSymbol {
  index: number;
  name: string;
  value: number;
  size: number;
  type: number;
  bind: number;
  shndx: number;
}

export interface ElfRelocation {
  offset: number;
  symbol: number;
  type: number;
}

export interface ElfFile {
  input: string;
  littleEndian: boolean;
  sections: ElfSection[];
  symbols: ElfSymbol[];
  /** Relocations by the index of the section they apply to. */
  relocations: Map<number, ElfRelocation[]>;
}

class Reader {
  readonly view: DataView;
  readonly le: boolean;
  readonly input: string;
  constructor(bytes: Uint8Array, le: boolean, input: string) {
    this.view = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
    this.le = le;
    this.input = input;
  }
  check(off: number, len: number, what: string): void {
    if (!Number.isSafeInteger(off) || !Number.isSafeInteger(len) || off < 0 || len < 0 || off + len > this.view.byteLength) {
      throw new ParseError(this.input, `${what} at offset ${off} (+${len}) lies outside the ${this.view.byteLength}-byte file`);
    }
  }
  u16(off: number): number {
    return this.view.getUint16(off, this.le);
  }
  u32(off: number): number {
    return this.view.getUint32(off, this.le);
  }
  u64(off: number, what: string): number {
    const v = this.view.getBigUint64(off, this.le);
    if (v > BigInt(Number.MAX_SAFE_INTEGER)) throw new ParseError(this.input, `${what} ${v} is not a plausible value`);
    return Number(v);
  }
}

function notBpf(input: string, why: string): ParseError {
  return new ParseError(input, `not an ELF64 eBPF object: ${why}`);
}

export function parseElf(bytes: Uint8Array, input: string): ElfFile {
  if (bytes.length < 64) throw notBpf(input, `${bytes.length} bytes is shorter than an ELF64 header`);
  if (bytes[0] !== 0x7f || bytes[1] !== 0x45 || bytes[2] !== 0x4c || bytes[3] !== 0x46) throw notBpf(input, 'no ELF magic');
  if (bytes[4] !== 2) throw notBpf(input, `ELF class ${bytes[4]} (want 2, ELF64)`);
  if (bytes[5] !== 1 && bytes[5] !== 2) throw notBpf(input, `ELF data encoding ${bytes[5]} (want 1 little or 2 big endian)`);
  const r = new Reader(bytes, bytes[5] === 1, input);
  const machine = r.u16(18);
  if (machine !== EM_BPF) throw notBpf(input, `e_machine ${machine} (want ${EM_BPF}, EM_BPF)`);
  const shoff = r.u64(40, 'e_shoff');
  const shentsize = r.u16(58);
  let shnum = r.u16(60);
  let shstrndx = r.u16(62);
  if (shoff === 0) throw new ParseError(input, 'no section header table');
  if (shentsize !== 64) throw new ParseError(input, `e_shentsize ${shentsize} (want 64)`);
  r.check(shoff, 64, 'section header 0');
  // Extended numbering (ELF gABI): counts that do not fit 16 bits live in section 0.
  if (shnum === 0) shnum = r.u64(shoff + 32, 'section count');
  if (shstrndx === 0xffff) shstrndx = r.u32(shoff + 40);
  if (shnum > MAX_SECTIONS) throw new ParseError(input, `${shnum} sections is more than ${MAX_SECTIONS}`);
  r.check(shoff, shnum * 64, 'section header table');

  const headers = [];
  for (let i = 0; i < shnum; i++) {
    const h = shoff + i * 64;
    const type = r.u32(h + 4);
    const offset = r.u64(h + 24, `section ${i} offset`);
    const size = r.u64(h + 32, `section ${i} size`);
    // Section 0 is the null section (or holds the extended counts read above): never a table.
    if (i === 0 && type !== 0) throw new ParseError(input, `section 0 has type ${type}; it must be the null section`);
    if (type !== SHT_NOBITS && i !== 0) r.check(offset, size, `section ${i} contents`);
    headers.push({
      nameOff: r.u32(h),
      type,
      flags: r.u64(h + 8, `section ${i} flags`),
      offset,
      size,
      link: r.u32(h + 40),
      info: r.u32(h + 44),
      entsize: r.u64(h + 56, `section ${i} entsize`),
    });
  }
  const shstr = headers[shstrndx];
  if (!shstr || shstr.type !== SHT_STRTAB) throw new ParseError(input, `e_shstrndx ${shstrndx} is not a string table`);
  const shstrData = bytes.subarray(shstr.offset, shstr.offset + shstr.size);

  const sections: ElfSection[] = headers.map((h, index) => ({
    index,
    name: index === 0 ? '' : cString(shstrData, h.nameOff, input, `section ${index} name`),
    type: h.type,
    flags: h.flags,
    size: h.size,
    link: h.link,
    info: h.info,
    entsize: h.entsize,
    data: h.type === SHT_NOBITS || index === 0 ? new Uint8Array(0) : bytes.subarray(h.offset, h.offset + h.size),
  }));

  const symtabs = sections.filter((s) => s.type === SHT_SYMTAB);
  if (symtabs.length > 1) throw new ParseError(input, `${symtabs.length} symbol tables (want at most 1)`);
  const symbols = symtabs[0] ? readSymbols(symtabs[0], sections, r) : [];

  const relocations = new Map<number, ElfRelocation[]>();
  for (const s of sections) {
    if (s.type !== SHT_REL && s.type !== SHT_RELA) continue;
    const target = sections[s.info];
    if (!target || s.info === 0) throw new ParseError(input, `relocation section ${s.name} applies to missing section ${s.info}`);
    if (symtabs[0] && s.link !== symtabs[0].index)
      throw new ParseError(input, `relocation section ${s.name} links section ${s.link}, not the symbol table`);
    const ent = s.type === SHT_REL ? 16 : 24;
    if (s.size % ent !== 0) throw new ParseError(input, `relocation section ${s.name} size ${s.size} is not a multiple of ${ent}`);
    if (s.data.length !== s.size) throw new ParseError(input, `relocation section ${s.name} has no contents in the file`);
    const n = s.size / ent;
    if (n > MAX_ENTRIES) throw new ParseError(input, `relocation section ${s.name} has ${n} entries`);
    const base = s.data.byteOffset - bytes.byteOffset;
    const list: ElfRelocation[] = relocations.get(s.info) ?? [];
    for (let i = 0; i < n; i++) {
      const e = base + i * ent;
      const offset = r.u64(e, `relocation ${i} offset in ${s.name}`);
      const info = r.view.getBigUint64(e + 8, r.le);
      const symbol = Number(info >> 32n);
      if (symbol >= symbols.length) throw new ParseError(input, `relocation ${i} in ${s.name} names symbol ${symbol} of ${symbols.length}`);
      list.push({ offset, symbol, type: Number(info & 0xffffffffn) });
    }
    relocations.set(s.info, list);
  }
  return { input, littleEndian: r.le, sections, symbols, relocations };
}

function readSymbols(symtab: ElfSection, sections: ElfSection[], r: Reader): ElfSymbol[] {
  const input = r.input;
  if (symtab.size % 24 !== 0) throw new ParseError(input, `symbol table size ${symtab.size} is not a multiple of 24`);
  if (symtab.data.length !== symtab.size) throw new ParseError(input, 'symbol table has no contents in the file');
  const strtab = sections[symtab.link];
  if (!strtab || strtab.type !== SHT_STRTAB) throw new ParseError(input, `symbol table links section ${symtab.link}, not a string table`);
  const n = symtab.size / 24;
  if (n > MAX_ENTRIES) throw new ParseError(input, `symbol table has ${n} entries`);
  const base = symtab.data.byteOffset - r.view.byteOffset;
  const out: ElfSymbol[] = [];
  for (let i = 0; i < n; i++) {
    const e = base + i * 24;
    const info = r.view.getUint8(e + 4);
    out.push({
      index: i,
      name: cString(strtab.data, r.u32(e), input, `symbol ${i} name`),
      shndx: r.u16(e + 6),
      value: r.u64(e + 8, `symbol ${i} value`),
      size: r.u64(e + 16, `symbol ${i} size`),
      type: info & 0xf,
      bind: info >> 4,
    });
  }
  return out;
}

const latin1 = new TextDecoder('latin1');

/** A NUL-terminated string inside a string table (names are ASCII in practice; latin1 never throws). */
export function cString(table: Uint8Array, off: number, input: string, what: string): string {
  if (off >= table.length) {
    if (off === 0 && table.length === 0) return '';
    throw new ParseError(input, `${what}: string offset ${off} is outside its ${table.length}-byte table`);
  }
  const end = table.indexOf(0, off);
  if (end < 0) throw new ParseError(input, `${what}: string at ${off} is not NUL-terminated`);
  return latin1.decode(table.subarray(off, end));
}
