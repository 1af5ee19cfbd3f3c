// What an eBPF object asks of the kernel, read from the ELF alone: its programs (type, expected attach
// type, flags, BTF attach target), maps (BTF-defined `.maps`, legacy `maps`, global data), the helpers
// and kfuncs each program calls, and the license. Pure and deterministic (everything sorted). Anything we
// cannot classify fails closed with a ParseError: a requirement we silently dropped would turn into a
// "ready" verdict that is wrong.
import { ParseError } from '../errors.ts';
import { HELPER_NAMES, MAP_TYPE_NAMES } from '../native/uapi-names.ts';
import { BtfKind } from './btf.ts';
import { ObjectBtf } from './elf-btf.ts';
import {
  parseElf,
  SHF_EXECINSTR,
  SHN_UNDEF,
  SHT_NOBITS,
  SHT_PROGBITS,
  STB_LOCAL,
  STT_FUNC,
  STT_OBJECT,
  STT_SECTION,
  type ElfFile,
  type ElfSection,
  type ElfSymbol,
} from './elf.ts';
import { classifySection, type SecDef } from './elf-sections.ts';

export interface BpfMapSpec {
  name: string;
  /** enum bpf_map_type name (hash, array, ringbuf, ...). */
  type: string;
  keySize: number;
  valueSize: number;
  maxEntries: number;
  flags: number;
  /** Where the definition came from: BTF `.maps`, legacy `maps` (struct bpf_map_def), or a data section. */
  source: 'btf' | 'legacy' | 'global-data';
  /** Global data: the section whose bytes are the map's single value. */
  section?: string;
}

/** A relocated instruction, for loaders: which symbol the instruction at `insn` refers to. */
export interface BpfReloc {
  insn: number;
  kind: 'map' | 'map-value' | 'kfunc' | 'ksym' | 'subprog';
  /** Map name (map, map-value), kfunc/ksym name, or subprogram symbol. */
  target: string;
  /** map-value: byte offset into the value (symbol value + the instruction's own addend). */
  offset?: number;
}

export interface BpfProgramSpec {
  /** The function's name (the symbol), unique in the object. */
  name: string;
  section: string;
  progType: string;
  attachType?: string;
  sleepable: boolean;
  xdpFrags: boolean;
  /** BTF attach target (fentry/<func>, lsm/<hook>, ...): vmlinux name = prefix + target, of `kind`. */
  attachBtf?: { name: string; kind: 'func' | 'typedef' };
  insnCount: number;
  helpers: string[];
  kfuncs: string[];
  maps: string[];
  /** Calls into other functions (bpf-to-bpf): needs CAP_BPF and, on the loader side, linking. */
  callsSubprograms: boolean;
  /** Instructions in the object's byte order, and their relocations. */
  insns: Uint8Array;
  relocs: BpfReloc[];
}

export interface BpfObject {
  input: string;
  littleEndian: boolean;
  license: string;
  hasBtf: boolean;
  /** CO-RE relocations in .BTF.ext: libbpf resolves them against the kernel's BTF before loading. */
  coreRelocations: boolean;
  /**
   * Variables of the .struct_ops / .struct_ops.link sections: libbpf makes each a struct_ops map
   * (its value type is the struct the variable fills, e.g. tcp_congestion_ops).
   */
  structOps: { name: string; section: string }[];
  programs: BpfProgramSpec[];
  maps: BpfMapSpec[];
}

const BPF_F_RDONLY_PROG = 1 << 7;
const BPF_F_MMAPABLE = 1 << 10;
const BPF_PSEUDO_CALL = 1;
const STB_WEAK = 2;

/**
 * Whether .BTF.ext has CO-RE relocations (struct btf_ext_header: magic, version, flags, hdr_len,
 * func_info and line_info offset/length, then core_relo_off/len when hdr_len reaches 32).
 * A malformed header says nothing either way: the loader reports it, not the requirement list.
 */
function hasCoreRelocations(elf: ReturnType<typeof parseElf>): boolean {
  const s = elf.sections.find((x) => x.name === '.BTF.ext');
  if (!s || s.data.length < 32) return false;
  const v = new DataView(s.data.buffer, s.data.byteOffset, s.data.byteLength);
  const le = elf.littleEndian;
  if (v.getUint16(0, le) !== 0xeb9f) return false;
  const hdrLen = v.getUint32(4, le);
  return hdrLen >= 32 && v.getUint32(28, le) > 0;
}
const BPF_PSEUDO_KFUNC_CALL = 2;
const INSN_CALL = 0x85;
const INSN_LD_IMM64 = 0x18;

// Sections libbpf itself ignores or consumes elsewhere (debug info, BTF, relocations, symbols).
function isMetadata(s: ElfSection): boolean {
  return s.index === 0 || s.name.startsWith('.debug') || s.name.startsWith('.rel') || s.name.startsWith('.BTF') ||
    s.name === '.symtab' || s.name === '.strtab' || s.name === '.shstrtab' || s.name === '.llvm_addrsig' ||
    s.name === '.eh_frame' || s.name === '.comment' || s.name === '.note.GNU-stack';
}

/** libbpf's global-data sections: each becomes a single-element ARRAY map holding the section. */
function isGlobalData(name: string): boolean {
  return ['.data', '.rodata', '.bss', '.kconfig'].includes(name) || name.startsWith('.data.') || name.startsWith('.rodata.');
}

export function parseBpfObject(bytes: Uint8Array, input: string): BpfObject {
  const elf = parseElf(bytes, input);
  const btfSec = elf.sections.find((s) => s.name === '.BTF');
  const btf = btfSec ? new ObjectBtf(btfSec.data, `${input} .BTF`) : undefined;

  const maps: BpfMapSpec[] = [];
  const mapBySymbol = new Map<number, BpfMapSpec>();
  for (const s of elf.sections) {
    if (s.name === '.maps') readBtfMaps(elf, s, btf, maps, mapBySymbol);
    else if (s.name === 'maps') readLegacyMaps(elf, s, maps, mapBySymbol);
    else if (isGlobalData(s.name) && s.size > 0 && (s.type === SHT_PROGBITS || s.type === SHT_NOBITS)) {
      maps.push({
        name: s.name,
        type: 'array',
        keySize: 4,
        valueSize: s.size,
        maxEntries: 1,
        flags: s.name.startsWith('.rodata') || s.name === '.kconfig' ? BPF_F_RDONLY_PROG | BPF_F_MMAPABLE : BPF_F_MMAPABLE,
        source: 'global-data',
        section: s.name,
      });
    }
  }

  const programs: BpfProgramSpec[] = [];
  const text = elf.sections.find((s) => s.name === '.text');
  const subprogs = text && text.size > 0 ? textFunctions(elf, text, mapBySymbol) : undefined;
  for (const s of elf.sections) {
    if (s.type !== SHT_PROGBITS || (s.flags & SHF_EXECINSTR) === 0 || s.name === '.text' || s.size === 0) continue;
    const kind = classifySection(s.name);
    if (!kind) throw new ParseError(input, `section "${s.name}" holds code but is not a libbpf SEC() name bpfready knows`);
    for (const fn of functionsIn(elf, s)) {
      const scan = scanRange(elf, s, fn.start, fn.end, mapBySymbol);
      const helpers = new Set(scan.helpers);
      const kfuncs = new Set(scan.kfuncs);
      // Only the subprograms this program reaches: another program's subprogram may use helpers
      // this type does not have (libbpf links each program with what it calls, nothing else).
      if (scan.callsSubprograms && subprogs) {
        for (const f of reachable(scan.textCalls, subprogs)) {
          for (const h of f.scan.helpers) helpers.add(h);
          for (const k of f.scan.kfuncs) kfuncs.add(k);
        }
      }
      programs.push(programSpec(fn.name, s, kind.def, kind.target, scan, helpers, kfuncs, input));
    }
  }
  programs.sort((a, b) => cmp(a.section, b.section) || cmp(a.name, b.name));
  maps.sort((a, b) => cmp(a.name, b.name));
  const structOps = elf.sections
    .filter((s) => s.name === '.struct_ops' || s.name === '.struct_ops.link')
    .flatMap((s) => elf.symbols.filter((y) => y.shndx === s.index && y.type === STT_OBJECT && y.name !== '').map((y) => ({ name: y.name, section: s.name })))
    .sort((a, b) => cmp(a.name, b.name));
  return { input, littleEndian: elf.littleEndian, license: readLicense(elf), hasBtf: btf !== undefined, coreRelocations: hasCoreRelocations(elf), structOps, programs, maps };
}

const latin1 = new TextDecoder('latin1');
const cmp = (a: string, b: string): number => (a < b ? -1 : a > b ? 1 : 0);

function programSpec(
  name: string, s: ElfSection, def: SecDef, target: string | undefined, scan: Scan,
  helpers: Set<string>, kfuncs: Set<string>, input: string,
): BpfProgramSpec {
  const p: BpfProgramSpec = {
    name,
    section: s.name,
    progType: def.progType,
    sleepable: def.sleepable === true,
    xdpFrags: def.xdpFrags === true,
    insnCount: scan.insns.length / 8,
    helpers: [...helpers].sort(),
    kfuncs: [...kfuncs].sort(),
    maps: [...new Set(scan.relocs.filter((r) => r.kind === 'map' || r.kind === 'map-value').map((r) => r.target))].sort(),
    callsSubprograms: scan.callsSubprograms,
    insns: scan.insns,
    relocs: scan.relocs,
  };
  if (def.attachType) p.attachType = def.attachType;
  if (def.btf) {
    // libbpf: a BTF-attached program without a target cannot be loaded as written (the target is set at
    // runtime with bpf_program__set_attach_target), so we cannot say what it needs either.
    if (!target) throw new ParseError(input, `program ${name} in section "${s.name}" has no BTF attach target after '/'`);
    // "module:func" targets a module's BTF; the function name is what the kernel resolves.
    const fn = target.includes(':') ? target.slice(target.indexOf(':') + 1) : target;
    p.attachBtf = { name: def.btf.prefix + fn, kind: def.btf.kind };
  }
  return p;
}

interface Fn {
  name: string;
  start: number;
  end: number;
}

/** The functions of .text (static ones included), each scanned on its own. */
function textFunctions(elf: ElfFile, text: ElfSection, mapBySymbol: Map<number, BpfMapSpec>): { start: number; end: number; scan: Scan }[] {
  const starts = [...new Set(elf.symbols.filter((y) => y.shndx === text.index && y.type === STT_FUNC && y.value % 8 === 0 && y.value < text.size).map((y) => y.value))].sort((a, b) => a - b);
  // Code before the first symbol (none in clang's output) still counts: as a function of its own.
  if (starts[0] !== 0) starts.unshift(0);
  return starts.map((start, i) => {
    const end = starts[i + 1] ?? text.size;
    return { start, end, scan: scanRange(elf, text, start, end, mapBySymbol) };
  });
}

/** The .text functions reached from these call targets, transitively. */
function reachable(targets: readonly number[], fns: readonly { start: number; end: number; scan: Scan }[]): { scan: Scan }[] {
  const seen = new Set<number>();
  const out: { scan: Scan }[] = [];
  const queue = [...targets];
  while (queue.length) {
    const at = queue.pop()!;
    const i = fns.findIndex((f) => at >= f.start && at < f.end);
    if (i < 0 || seen.has(i)) continue;
    seen.add(i);
    out.push(fns[i]!);
    queue.push(...fns[i]!.scan.textCalls);
  }
  return out;
}

function functionsIn(elf: ElfFile, s: ElfSection): Fn[] {
  const syms = elf.symbols
    .filter((y) => y.shndx === s.index && y.type === STT_FUNC && y.bind !== STB_LOCAL)
    .sort((a, b) => a.value - b.value);
  if (syms.length === 0) throw new ParseError(elf.input, `section "${s.name}" has code but no global function symbol`);
  return syms.map((y, i) => {
    const next = syms[i + 1]?.value ?? s.size;
    const end = y.size > 0 ? y.value + y.size : next;
    if (y.value % 8 !== 0 || end % 8 !== 0 || end > s.size || end <= y.value) {
      throw new ParseError(elf.input, `function ${y.name} [${y.value}, ${end}) is not whole instructions inside "${s.name}" (${s.size} bytes)`);
    }
    return { name: y.name, start: y.value, end };
  });
}

interface Scan {
  insns: Uint8Array;
  helpers: string[];
  kfuncs: string[];
  relocs: BpfReloc[];
  callsSubprograms: boolean;
  /** Byte offsets in .text of the subprograms called (libbpf: sym_off / 8 + imm + 1 instructions). */
  textCalls: number[];
}

function scanRange(elf: ElfFile, s: ElfSection, start: number, end: number, mapBySymbol: Map<number, BpfMapSpec>): Scan {
  const input = elf.input;
  if (s.size % 8 !== 0) throw new ParseError(input, `code section "${s.name}" is ${s.size} bytes, not whole 8-byte instructions`);
  // A copy, and a plain Uint8Array: Buffer#slice would alias the file bytes.
  const insns = new Uint8Array(s.data.subarray(start, end));
  const view = new DataView(insns.buffer, insns.byteOffset, insns.byteLength);
  const le = elf.littleEndian;
  const relocAt = new Map<number, ElfSymbol>();
  for (const r of elf.relocations.get(s.index) ?? []) {
    if (r.offset < start || r.offset >= end) continue;
    if (r.offset % 8 !== 0) throw new ParseError(input, `relocation at ${r.offset} in "${s.name}" is not on an instruction boundary`);
    relocAt.set(r.offset - start, elf.symbols[r.symbol]!);
  }
  const helpers = new Set<string>();
  const kfuncs = new Set<string>();
  const relocs: BpfReloc[] = [];
  const textCalls: number[] = [];
  const textIndex = elf.sections.find((x) => x.name === '.text')?.index;
  let callsSubprograms = false;
  for (let off = 0; off < insns.length; off += 8) {
    const code = insns[off]!;
    const regs = insns[off + 1]!;
    const src = le ? regs >> 4 : regs & 0xf;
    const imm = view.getInt32(off + 4, le);
    const sym = relocAt.get(off);
    const at = off / 8;
    if (code === INSN_CALL) {
      if (sym && sym.shndx === SHN_UNDEF) {
        // clang emits calls to `extern ... __ksym` functions as pseudo calls relocated against an
        // undefined symbol; libbpf turns them into BPF_PSEUDO_KFUNC_CALL with the vmlinux BTF id.
        // A weak one (`__weak`) may be missing: libbpf loads anyway and the program checks
        // bpf_ksym_exists(), so it is no requirement.
        if (sym.bind !== STB_WEAK) kfuncs.add(sym.name);
        relocs.push({ insn: at, kind: 'kfunc', target: sym.name });
      } else if (sym || src === BPF_PSEUDO_CALL) {
        callsSubprograms = true;
        relocs.push({ insn: at, kind: 'subprog', target: sym?.name ?? `+${imm}` });
        // Where the call lands, as libbpf resolves it: relocated against a .text symbol (a function,
        // or the section with the offset in imm), or relative within this section.
        if (sym && sym.shndx === textIndex) textCalls.push(sym.value + (imm + 1) * 8);
        else if (!sym && s.index === textIndex) textCalls.push(start + (at + imm + 1) * 8);
      } else if (src === BPF_PSEUDO_KFUNC_CALL) {
        throw new ParseError(input, `instruction ${at} in "${s.name}" is a kfunc call by BTF id ${imm} with no symbol to name it`);
      } else if (src === 0) {
        const name = HELPER_NAMES[imm];
        if (imm <= 0 || !name) throw new ParseError(input, `instruction ${at} in "${s.name}" calls unknown helper id ${imm}`);
        helpers.add(name);
      } else {
        throw new ParseError(input, `instruction ${at} in "${s.name}" is a call with unknown src_reg ${src}`);
      }
    } else if (code === INSN_LD_IMM64) {
      if (off + 16 > insns.length) throw new ParseError(input, `instruction ${at} in "${s.name}" is a truncated 16-byte ld_imm64`);
      if (sym) relocs.push(ldReloc(elf, sym, at, imm, mapBySymbol, s.name));
      off += 8;
    } else if (sym) {
      throw new ParseError(input, `relocation on instruction ${at} (opcode 0x${code.toString(16)}) in "${s.name}" is neither a call nor ld_imm64`);
    }
  }
  return { insns, helpers: [...helpers], kfuncs: [...kfuncs], relocs, callsSubprograms, textCalls };
}

function ldReloc(elf: ElfFile, sym: ElfSymbol, at: number, imm: number, mapBySymbol: Map<number, BpfMapSpec>, sec: string): BpfReloc {
  const map = mapBySymbol.get(sym.index);
  if (map) return { insn: at, kind: 'map', target: map.name };
  if (sym.shndx === SHN_UNDEF) return { insn: at, kind: 'ksym', target: sym.name };
  const target = elf.sections[sym.shndx];
  if (target && isGlobalData(target.name)) {
    return { insn: at, kind: 'map-value', target: target.name, offset: (sym.type === STT_SECTION ? 0 : sym.value) + imm };
  }
  if (target && (target.flags & SHF_EXECINSTR) !== 0) return { insn: at, kind: 'subprog', target: sym.name };
  throw new ParseError(elf.input, `ld_imm64 at instruction ${at} in "${sec}" refers to ${sym.name || 'a symbol'} in section "${target?.name ?? sym.shndx}", which is not a map`);
}

function mapType(input: string, n: number, where: string): string {
  const t = MAP_TYPE_NAMES[n];
  if (!t) throw new ParseError(input, `${where}: unknown map type ${n}`);
  return t;
}

function mapSymbols(elf: ElfFile, s: ElfSection): ElfSymbol[] {
  return elf.symbols.filter((y) => y.shndx === s.index && y.type !== STT_SECTION && y.name !== '').sort((a, b) => a.value - b.value);
}

// libbpf parse_btf_map_def: every member is an int encoded as `int (*name)[N]`, except key/value (a
// pointer to the type), values (inner maps) and the pinning enum.
function readBtfMaps(elf: ElfFile, s: ElfSection, btf: ObjectBtf | undefined, out: BpfMapSpec[], bySym: Map<number, BpfMapSpec>): void {
  const input = elf.input;
  if (!btf) throw new ParseError(input, 'has a .maps section but no .BTF to describe it');
  const vars = btf.datasec('.maps');
  if (!vars) throw new ParseError(input, '.BTF has no DATASEC for .maps');
  const syms = mapSymbols(elf, s);
  for (const v of vars) {
    if (btf.btf.kind(v.type) !== BtfKind.VAR) throw new ParseError(input, `.maps entry at ${v.offset} is not a variable`);
    const name = btf.btf.name(v.type);
    const def = btf.resolve(btf.btf.typeRef(v.type));
    if (btf.btf.kind(def) !== BtfKind.STRUCT) throw new ParseError(input, `map ${name}: definition is not a struct`);
    const m: BpfMapSpec = { name, type: '', keySize: 0, valueSize: 0, maxEntries: 0, flags: 0, source: 'btf' };
    let typeNum = -1;
    for (const mem of btf.btf.structMembers(def)) {
      const where = `map ${name} field ${mem.name}`;
      const ptr = btf.resolve(mem.type);
      const int = (): number => {
        const arr = btf.btf.kind(ptr) === BtfKind.PTR ? btf.array(btf.resolve(btf.btf.typeRef(ptr))) : undefined;
        if (!arr) throw new ParseError(input, `${where} is not __uint()-encoded (pointer to array)`);
        return arr.nelems;
      };
      const pointee = (): number => {
        if (btf.btf.kind(ptr) !== BtfKind.PTR) throw new ParseError(input, `${where} is not __type()-encoded (pointer)`);
        return btf.sizeOf(btf.btf.typeRef(ptr));
      };
      switch (mem.name) {
        case 'type': typeNum = int(); break;
        case 'max_entries': m.maxEntries = int(); break;
        case 'map_flags': m.flags = int(); break;
        case 'key_size': m.keySize = int(); break;
        case 'value_size': m.valueSize = int(); break;
        case 'key': m.keySize = pointee(); break;
        case 'value': m.valueSize = pointee(); break;
        case 'numa_node': case 'map_extra': case 'pinning': case 'values': break;
        default: throw new ParseError(input, `${where}: unknown map definition field`);
      }
    }
    if (typeNum < 0) throw new ParseError(input, `map ${name} has no type`);
    m.type = mapType(input, typeNum, `map ${name}`);
    // Map-in-map `values` leave value_size implicit: the kernel wants an fd-sized (4-byte) value.
    if ((m.type === 'array_of_maps' || m.type === 'hash_of_maps' || m.type === 'prog_array') && m.valueSize === 0) m.valueSize = 4;
    out.push(m);
    const sym = syms.find((y) => y.value === v.offset && y.name === name);
    if (sym) bySym.set(sym.index, m);
  }
}

// struct bpf_map_def { type, key_size, value_size, max_entries, map_flags } (u32 each); iproute2's
// longer variants add fields we do not need. Each symbol in `maps` is one definition.
function readLegacyMaps(elf: ElfFile, s: ElfSection, out: BpfMapSpec[], bySym: Map<number, BpfMapSpec>): void {
  const input = elf.input;
  const syms = mapSymbols(elf, s);
  if (syms.length === 0 && s.size > 0) throw new ParseError(input, 'legacy maps section has no symbols naming its definitions');
  const view = new DataView(s.data.buffer, s.data.byteOffset, s.data.byteLength);
  const le = elf.littleEndian;
  for (const y of syms) {
    const size = y.size || (s.size / syms.length);
    if (size < 20 || y.value + 20 > s.data.length) throw new ParseError(input, `legacy map ${y.name} at ${y.value} is shorter than struct bpf_map_def (20 bytes)`);
    const at = y.value;
    const m: BpfMapSpec = {
      name: y.name,
      type: mapType(input, view.getUint32(at, le), `legacy map ${y.name}`),
      keySize: view.getUint32(at + 4, le),
      valueSize: view.getUint32(at + 8, le),
      maxEntries: view.getUint32(at + 12, le),
      flags: view.getUint32(at + 16, le),
      source: 'legacy',
    };
    out.push(m);
    bySym.set(y.index, m);
  }
}

function readLicense(elf: ElfFile): string {
  const s = elf.sections.find((x) => x.name === 'license');
  if (!s || s.data.length === 0) return '';
  const end = s.data.indexOf(0);
  return latin1.decode(s.data.subarray(0, end < 0 ? s.data.length : end));
}

/** The object's sections that are neither code, data we model, nor metadata (for diagnostics). */
export function unknownSections(elf: ElfFile): string[] {
  return elf.sections
    .filter((s) => !isMetadata(s) && (s.flags & SHF_EXECINSTR) === 0 && !isGlobalData(s.name) && !['.maps', 'maps', 'license', 'version', '.ksyms'].includes(s.name))
    .map((s) => s.name);
}
