// What an eBPF object asks of the kernel, read from the ELF alone: its programs (type, expected attach
// type, flags, BTF attach target), maps (BTF-defined `.maps`, legacy `maps`, global data), the helpers
// and kfuncs each program calls, its CO-RE relocations, and the license. Pure and deterministic
// (everything sorted). A valid object always reads (docs/requirements.md): what we do not know about a
// program — a section name outside libbpf's SEC() table, a target chosen at run time — is recorded on
// that program for the requirements to say so. Only a malformed object fails, with a ParseError: a
// requirement we silently dropped would turn into a "ready" verdict that is wrong.
import { ParseError } from '../base/errors.ts';
import { HELPER_NAMES, MAP_TYPE_NAMES } from '../native/uapi-names.ts';
import { BtfKind } from './btf.ts';
import { ObjectBtf, parseBtfExt, type BtfExt } from './elf-btf.ts';
import { CORE_KIND_NAMES, coreSpec, coreValue, type CoreKind, type CoreSpec } from './elf-core.ts';
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
  /** Map-in-map: the inner map's type, from the `values` member's definition. */
  innerType?: string;
}

/** A relocated instruction, for loaders: which symbol the instruction at `insn` refers to. */
export interface BpfReloc {
  insn: number;
  kind: 'map' | 'map-value' | 'kfunc' | 'ksym' | 'subprog';
  /** Map name (map, map-value), kfunc/ksym name, or subprogram symbol. */
  target: string;
  /** map-value: byte offset into the value (symbol value + the instruction's own addend). */
  offset?: number;
  /** subprog: the byte offset in .text the call or function pointer lands on. */
  textOffset?: number;
}

/** A CO-RE relocation of a program's linked code. */
export interface ProgramCoreRelo {
  /** Instruction index in `linked.insns`. */
  insn: number;
  kind: CoreKind;
  spec: CoreSpec;
  /** The local (object) value: what the instruction holds before relocation. */
  local?: number;
  /** Field relocations: the local field's byte size (a load is resized when the kernel's differs). */
  localSize?: number;
}

/** A program as libbpf hands it to the kernel: its own code, then each .text function it reaches. */
export interface LinkedCode {
  insns: Uint8Array;
  /** Map, global-data and kfunc relocations, and the calls (already pointing at the appended copies). */
  relocs: BpfReloc[];
  /** Where each appended .text function starts, by its .text offset. */
  functions: { textOffset: number; insn: number }[];
}

/** An `extern` the object leaves to the loader: a __kconfig value or a __ksym variable. */
export interface BpfExtern {
  name: string;
  section: '.kconfig' | '.ksyms';
  weak: boolean;
  /** Byte size (from BTF; 0 when unknown) and, for .kconfig, the offset in the .kconfig map. */
  size: number;
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
  /**
   * The section is not a libbpf SEC() name (cilium/ebpf's `socket/tail`, `static`, `other`): the
   * program type is the loader's choice at run time. progType is then "unknown".
   */
  unknownSection?: true;
  /** What follows the first '/' of the section name (the attach target as written), if anything. */
  target?: string;
  /**
   * The attach target is given at load or attach time, not by the section: a BTF-attached section
   * without one, freplace (a function of another BPF program), a `dummy_*` placeholder.
   */
  runtimeTarget?: 'btf' | 'freplace' | 'placeholder';
  linked: LinkedCode;
  /** CO-RE relocations of the linked code, in instruction order. */
  core: ProgramCoreRelo[];
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
  externs: BpfExtern[];
  /** Initial contents of the global-data maps (.data, .rodata, ...), by map name; the rest are zeros. */
  data: Record<string, Uint8Array>;
}

const BPF_F_RDONLY_PROG = 1 << 7;
const BPF_F_MMAPABLE = 1 << 10;
const BPF_PSEUDO_CALL = 1;
const BPF_PSEUDO_FUNC = 4;
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
  return (
    s.index === 0 ||
    s.name.startsWith('.debug') ||
    s.name.startsWith('.rel') ||
    s.name.startsWith('.BTF') ||
    s.name === '.symtab' ||
    s.name === '.strtab' ||
    s.name === '.shstrtab' ||
    s.name === '.llvm_addrsig' ||
    s.name === '.eh_frame' ||
    s.name === '.comment' ||
    s.name === '.note.GNU-stack'
  );
}

/** libbpf's global-data sections: each becomes a single-element ARRAY map holding the section. */
function isGlobalData(name: string): boolean {
  return ['.data', '.rodata', '.bss', '.kconfig'].includes(name) || name.startsWith('.data.') || name.startsWith('.rodata.');
}

/** What the readers share: maps by the symbol naming them, and by (section, offset). */
interface MapIndex {
  bySymbol: Map<number, BpfMapSpec>;
  byOffset: Map<string, BpfMapSpec>;
  /** __kconfig externs by symbol name (their values live in the .kconfig map). */
  kconfig: Map<string, BpfExtern>;
}
const offsetKey = (shndx: number, off: number): string => `${shndx}:${off}`;

export function parseBpfObject(bytes: Uint8Array, input: string): BpfObject {
  const elf = parseElf(bytes, input);
  const btfSec = elf.sections.find((s) => s.name === '.BTF');
  const btf = btfSec ? new ObjectBtf(btfSec.data, `${input} .BTF`) : undefined;
  const extSec = elf.sections.find((s) => s.name === '.BTF.ext');
  const ext = btf && extSec ? parseBtfExt(extSec.data, elf.littleEndian, btf, `${input} .BTF.ext`) : undefined;

  const maps: BpfMapSpec[] = [];
  const index: MapIndex = { bySymbol: new Map(), byOffset: new Map(), kconfig: new Map() };
  for (const s of elf.sections) {
    if (s.name === '.maps') readBtfMaps(elf, s, btf, maps, index);
    else if (s.name === 'maps') readLegacyMaps(elf, s, maps, index);
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
  const externs = readExterns(elf, btf, index);
  const kconfigSize = externs.filter((e) => e.section === '.kconfig').reduce((n, e) => Math.max(n, (e.offset ?? 0) + e.size), 0);
  // libbpf keeps __kconfig externs in a read-only .kconfig map it fills from the kernel's config.
  if (kconfigSize > 0 && !maps.some((m) => m.name === '.kconfig')) {
    maps.push({
      name: '.kconfig',
      type: 'array',
      keySize: 4,
      valueSize: kconfigSize,
      maxEntries: 1,
      flags: BPF_F_RDONLY_PROG | BPF_F_MMAPABLE,
      source: 'global-data',
      section: '.kconfig',
    });
  }

  const programs: BpfProgramSpec[] = [];
  const text = elf.sections.find((s) => s.name === '.text');
  const subprogs = text && text.size > 0 ? textFunctions(elf, text, index) : [];
  for (const s of elf.sections) {
    if (s.type !== SHT_PROGBITS || (s.flags & SHF_EXECINSTR) === 0 || s.name === '.text' || s.size === 0) continue;
    const kind = classifySection(s.name);
    for (const fn of functionsIn(elf, s)) {
      const scan = scanRange(elf, s, fn.start, fn.end, index);
      const linked = link(scan, subprogs, elf.littleEndian, input, fn.name);
      const helpers = new Set(scan.helpers);
      const kfuncs = new Set(scan.kfuncs);
      // Only the subprograms this program reaches: another program's subprogram may use helpers
      // this type does not have (libbpf links each program with what it calls, nothing else).
      for (const f of linked.reached) {
        for (const h of f.scan.helpers) helpers.add(h);
        for (const k of f.scan.kfuncs) kfuncs.add(k);
      }
      const core = ext && btf ? coreRelocations(elf, ext, btf, s.name, fn, text?.name, linked, input) : [];
      programs.push(programSpec(fn.name, s, kind?.def, kind?.target ?? targetOf(s.name), scan, helpers, kfuncs, linked.code, core));
    }
  }
  programs.sort((a, b) => cmp(a.section, b.section) || cmp(a.name, b.name));
  maps.sort((a, b) => cmp(a.name, b.name));
  const structOps = elf.sections
    .filter((s) => s.name === '.struct_ops' || s.name === '.struct_ops.link')
    .flatMap((s) =>
      elf.symbols
        .filter((y) => y.shndx === s.index && y.type === STT_OBJECT && y.name !== '')
        .map((y) => ({ name: y.name, section: s.name })),
    )
    .sort((a, b) => cmp(a.name, b.name));
  return {
    input,
    littleEndian: elf.littleEndian,
    license: readLicense(elf),
    hasBtf: btf !== undefined,
    coreRelocations: hasCoreRelocations(elf),
    structOps,
    programs,
    maps,
    externs,
    data: Object.fromEntries(maps.filter((m) => m.source === 'global-data').map((m) => [m.name, initialData(elf, m)])),
  };
}

const latin1 = new TextDecoder('latin1');
const cmp = (a: string, b: string): number => (a < b ? -1 : a > b ? 1 : 0);

const targetOf = (section: string): string | undefined => {
  const slash = section.indexOf('/');
  return slash < 0 ? undefined : section.slice(slash + 1);
};

function programSpec(
  name: string,
  s: ElfSection,
  def: SecDef | undefined,
  target: string | undefined,
  scan: Scan,
  helpers: Set<string>,
  kfuncs: Set<string>,
  linked: LinkedCode,
  core: ProgramCoreRelo[],
): BpfProgramSpec {
  const p: BpfProgramSpec = {
    name,
    section: s.name,
    progType: def?.progType ?? 'unknown',
    sleepable: def?.sleepable === true,
    xdpFrags: def?.xdpFrags === true,
    insnCount: scan.insns.length / 8,
    helpers: [...helpers].sort(),
    kfuncs: [...kfuncs].sort(),
    maps: [...new Set(linked.relocs.filter((r) => r.kind === 'map' || r.kind === 'map-value').map((r) => r.target))].sort(),
    callsSubprograms: scan.callsSubprograms,
    insns: scan.insns,
    relocs: scan.relocs,
    linked,
    core,
  };
  if (!def) p.unknownSection = true;
  if (target !== undefined) p.target = target;
  if (def?.attachType) p.attachType = def.attachType;
  if (def?.btf) {
    // "module:func" targets a module's BTF; the function name is what the kernel resolves.
    const fn = target?.includes(':') ? target.slice(target.indexOf(':') + 1) : target;
    if (def.progType === 'ext') {
      // freplace/<f> replaces function f of a BPF program the loader names at load time: nothing the
      // kernel's own BTF has to hold.
      p.runtimeTarget = 'freplace';
    } else if (!fn) {
      // libbpf loads such a program only after bpf_program__set_attach_target() names the target.
      p.runtimeTarget = 'btf';
    } else if (isPlaceholder(fn)) {
      p.runtimeTarget = 'placeholder';
    } else {
      p.attachBtf = { name: def.btf.prefix + fn, kind: def.btf.kind };
    }
  } else if (target !== undefined && isPlaceholder(target)) {
    p.runtimeTarget = 'placeholder';
  }
  return p;
}

/**
 * libbpf-tools name a program's hook `dummy_*` (fentry/dummy_file_read, kprobe/dummy_kprobe) when the
 * tool picks the real one at run time (bpf_program__set_attach_target, or an explicit attach call).
 */
export function isPlaceholder(target: string): boolean {
  return /^dummy_/.test(target);
}

interface Fn {
  name: string;
  start: number;
  end: number;
}

interface TextFn {
  start: number;
  end: number;
  scan: Scan;
}

/** The functions of .text (static ones included), each scanned on its own. */
function textFunctions(elf: ElfFile, text: ElfSection, index: MapIndex): TextFn[] {
  const starts = [
    ...new Set(
      elf.symbols
        .filter((y) => y.shndx === text.index && y.type === STT_FUNC && y.value % 8 === 0 && y.value < text.size)
        .map((y) => y.value),
    ),
  ].sort((a, b) => a - b);
  // Code before the first symbol (none in clang's output) still counts: as a function of its own.
  if (starts[0] !== 0) starts.unshift(0);
  return starts.map((start, i) => {
    const end = starts[i + 1] ?? text.size;
    return { start, end, scan: scanRange(elf, text, start, end, index) };
  });
}

/**
 * libbpf's linking: the program's code, then each .text function it reaches (transitively) appended
 * once, every call and function pointer re-aimed at the appended copy.
 */
function link(
  main: Scan,
  fns: readonly TextFn[],
  le: boolean,
  input: string,
  name: string,
): { code: LinkedCode; reached: TextFn[]; starts: Map<TextFn, number> } {
  const parts: { fn: TextFn | undefined; scan: Scan; at: number }[] = [{ fn: undefined, scan: main, at: 0 }];
  const starts = new Map<TextFn, number>();
  let total = main.insns.length / 8;
  const place = (textOffset: number): number => {
    const fn = fns.find((f) => textOffset >= f.start && textOffset < f.end);
    if (!fn) throw new ParseError(input, `program ${name} calls .text offset ${textOffset}, where no function is`);
    let at = starts.get(fn);
    if (at === undefined) {
      at = total;
      starts.set(fn, at);
      parts.push({ fn, scan: fn.scan, at });
      total += fn.scan.insns.length / 8;
    }
    return at + (textOffset - fn.start) / 8;
  };
  // Appending may add parts; walk them all.
  const calls: { at: number; target: number; func: boolean }[] = [];
  for (let i = 0; i < parts.length; i++) {
    const part = parts[i]!;
    for (const r of part.scan.relocs) {
      if (r.kind === 'subprog' && r.textOffset !== undefined)
        calls.push({ at: part.at + r.insn, target: place(r.textOffset), func: part.scan.funcRefs.has(r.insn) });
    }
  }
  const insns = new Uint8Array(total * 8);
  const relocs: BpfReloc[] = [];
  for (const part of parts) {
    insns.set(part.scan.insns, part.at * 8);
    for (const r of part.scan.relocs) relocs.push({ ...r, insn: r.insn + part.at });
  }
  const view = new DataView(insns.buffer);
  for (const c of calls) {
    const regs = insns[c.at * 8 + 1]!;
    const pseudo = c.func ? BPF_PSEUDO_FUNC : BPF_PSEUDO_CALL;
    insns[c.at * 8 + 1] = le ? (regs & 0x0f) | (pseudo << 4) : (regs & 0xf0) | pseudo;
    view.setInt32(c.at * 8 + 4, c.target - c.at - 1, le);
  }
  const functions = [...starts].map(([fn, insn]) => ({ textOffset: fn.start, insn })).sort((a, b) => a.insn - b.insn);
  return { code: { insns, relocs: relocs.sort((a, b) => a.insn - b.insn), functions }, reached: [...starts.keys()], starts };
}

/** The CO-RE relocations that land in a program's linked code: its own, then its .text functions'. */
function coreRelocations(
  elf: ElfFile,
  ext: BtfExt,
  btf: ObjectBtf,
  section: string,
  fn: Fn,
  textName: string | undefined,
  linked: ReturnType<typeof link>,
  input: string,
): ProgramCoreRelo[] {
  const out: ProgramCoreRelo[] = [];
  const add = (r: { insnOff: number; typeId: number; access: string; kind: number }, insn: number): void => {
    const kind = CORE_KIND_NAMES[r.kind];
    if (!kind) throw new ParseError(input, `CO-RE relocation kind ${r.kind} at instruction ${insn} is not one bpfready knows`);
    const spec = coreSpec(btf.btf, r.typeId, r.access, kind, `${input} .BTF.ext`);
    const local = coreValue(kind, spec, btf.btf, r.typeId, !elf.littleEndian);
    const rel: ProgramCoreRelo = { insn, kind, spec };
    if (local !== undefined && local <= BigInt(Number.MAX_SAFE_INTEGER) && local >= -BigInt(Number.MAX_SAFE_INTEGER))
      rel.local = Number(local);
    if (spec.class === 'field' && kind !== 'field_exists') {
      const size = coreValue('field_byte_size', spec, btf.btf, r.typeId, !elf.littleEndian);
      if (size !== undefined) rel.localSize = Number(size);
    }
    out.push(rel);
  };
  for (const r of ext.coreRelos.get(section) ?? []) {
    if (r.insnOff >= fn.start && r.insnOff < fn.end) add(r, (r.insnOff - fn.start) / 8);
  }
  if (textName) {
    for (const r of ext.coreRelos.get(textName) ?? []) {
      for (const [tf, at] of linked.starts) if (r.insnOff >= tf.start && r.insnOff < tf.end) add(r, at + (r.insnOff - tf.start) / 8);
    }
  }
  for (const r of out) {
    if (r.insn >= linked.code.insns.length / 8)
      throw new ParseError(input, `CO-RE relocation at instruction ${r.insn} lies outside program ${fn.name}`);
  }
  return out.sort((a, b) => a.insn - b.insn);
}

function functionsIn(elf: ElfFile, s: ElfSection): Fn[] {
  const funcs = elf.symbols.filter((y) => y.shndx === s.index && y.type === STT_FUNC);
  // libbpf's programs are the section's global functions; cilium/ebpf also loads static ones.
  const global = funcs.filter((y) => y.bind !== STB_LOCAL);
  const syms = (global.length ? global : funcs).sort((a, b) => a.value - b.value);
  if (syms.length === 0) throw new ParseError(elf.input, `section "${s.name}" has code but no function symbol`);
  return syms.map((y, i) => {
    const next = syms[i + 1]?.value ?? s.size;
    const end = y.size > 0 ? y.value + y.size : next;
    if (y.value % 8 !== 0 || end % 8 !== 0 || end > s.size || end <= y.value) {
      throw new ParseError(
        elf.input,
        `function ${y.name} [${y.value}, ${end}) is not whole instructions inside "${s.name}" (${s.size} bytes)`,
      );
    }
    return { name: y.name, start: y.value, end };
  });
}

interface Scan {
  insns: Uint8Array;
  helpers: string[];
  kfuncs: string[];
  /** Instruction indexes are relative to the start of the scanned range. */
  relocs: BpfReloc[];
  callsSubprograms: boolean;
  /** Instructions (relative) that are ld_imm64 function pointers rather than calls. */
  funcRefs: Set<number>;
}

function scanRange(elf: ElfFile, s: ElfSection, start: number, end: number, index: MapIndex): Scan {
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
  const funcRefs = new Set<number>();
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
        // Where the call lands, as libbpf resolves it: relocated against a .text symbol (a function,
        // or the section with the offset in imm), or relative within this section.
        const r: BpfReloc = { insn: at, kind: 'subprog', target: sym?.name ?? `+${imm}` };
        if (sym && sym.shndx === textIndex) r.textOffset = sym.value + (imm + 1) * 8;
        else if (!sym && s.index === textIndex) r.textOffset = start + (at + imm + 1) * 8;
        relocs.push(r);
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
      if (sym) {
        const r = ldReloc(elf, sym, at, imm, index, s.name);
        if (r.kind === 'subprog') {
          callsSubprograms = true;
          if (sym.shndx === textIndex) r.textOffset = (sym.type === STT_SECTION ? 0 : sym.value) + imm;
          funcRefs.add(at);
        }
        relocs.push(r);
      }
      off += 8;
    } else if (sym) {
      throw new ParseError(
        input,
        `relocation on instruction ${at} (opcode 0x${code.toString(16)}) in "${s.name}" is neither a call nor ld_imm64`,
      );
    }
  }
  return { insns, helpers: [...helpers], kfuncs: [...kfuncs], relocs, callsSubprograms, funcRefs };
}

function ldReloc(elf: ElfFile, sym: ElfSymbol, at: number, imm: number, index: MapIndex, sec: string): BpfReloc {
  const map = index.bySymbol.get(sym.index) ?? (sym.type === STT_SECTION ? index.byOffset.get(offsetKey(sym.shndx, imm)) : undefined);
  if (map) return { insn: at, kind: 'map', target: map.name };
  if (sym.shndx === SHN_UNDEF) {
    const k = index.kconfig.get(sym.name);
    if (k) return { insn: at, kind: 'map-value', target: '.kconfig', offset: (k.offset ?? 0) + imm };
    return { insn: at, kind: 'ksym', target: sym.name };
  }
  const target = elf.sections[sym.shndx];
  if (target && isGlobalData(target.name)) {
    return { insn: at, kind: 'map-value', target: target.name, offset: (sym.type === STT_SECTION ? 0 : sym.value) + imm };
  }
  if (target && (target.flags & SHF_EXECINSTR) !== 0) return { insn: at, kind: 'subprog', target: sym.name };
  throw new ParseError(
    elf.input,
    `ld_imm64 at instruction ${at} in "${sec}" refers to ${sym.name || 'a symbol'} in section "${target?.name ?? sym.shndx}", which is not a map`,
  );
}

/**
 * The object's externs, from the BTF DATASECs libbpf reads them from (.kconfig, .ksyms) and the
 * undefined ELF symbols naming them. .kconfig values get offsets in the .kconfig map, each aligned to
 * its own size (at most 8).
 */
function readExterns(elf: ElfFile, btf: ObjectBtf | undefined, index: MapIndex): BpfExtern[] {
  if (!btf) return [];
  const undef = new Map(elf.symbols.filter((y) => y.shndx === SHN_UNDEF && y.name !== '').map((y) => [y.name, y]));
  const out: BpfExtern[] = [];
  let at = 0;
  for (const section of ['.kconfig', '.ksyms'] as const) {
    for (const v of btf.datasec(section) ?? []) {
      if (btf.btf.kind(v.type) !== BtfKind.VAR) continue;
      const name = btf.btf.name(v.type);
      const sym = undef.get(name);
      if (!sym) continue;
      const size = btf.btf.sizeOf(btf.btf.typeRef(v.type)) ?? 0;
      const e: BpfExtern = { name, section, weak: sym.bind === STB_WEAK, size };
      if (section === '.kconfig') {
        const align = Math.min(8, Math.max(1, size & -size));
        at = Math.ceil(at / align) * align;
        e.offset = at;
        at += size;
        index.kconfig.set(name, e);
      }
      out.push(e);
    }
  }
  return out.sort((a, b) => cmp(a.name, b.name));
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
// pointer to the type), values (inner maps or programs) and the pinning enum. Each DATASEC variable is
// one map; its place in the section is its ELF symbol's value. clang 14 (Debian 12's) writes every
// DATASEC offset as 0 and leaves the offsets to the loader, which takes them from the symbol table by
// name, as libbpf does (docs/requirements.md).
function readBtfMaps(elf: ElfFile, s: ElfSection, btf: ObjectBtf | undefined, out: BpfMapSpec[], index: MapIndex): void {
  const input = elf.input;
  if (!btf) throw new ParseError(input, 'has a .maps section but no .BTF to describe it');
  const vars = btf.datasec('.maps');
  if (!vars) throw new ParseError(input, '.BTF has no DATASEC for .maps');
  const byName = new Map(mapSymbols(elf, s).map((y) => [y.name, y]));
  for (const v of vars) {
    if (btf.btf.kind(v.type) !== BtfKind.VAR) throw new ParseError(input, `.maps entry at ${v.offset} is not a variable`);
    const name = btf.btf.name(v.type);
    const m = btfMapDef(btf, btf.btf.typeRef(v.type), name, input, 0);
    out.push(m);
    const sym = byName.get(name);
    if (sym) {
      index.bySymbol.set(sym.index, m);
      index.byOffset.set(offsetKey(s.index, sym.value), m);
    } else {
      index.byOffset.set(offsetKey(s.index, v.offset), m);
    }
  }
}

function btfMapDef(btf: ObjectBtf, typeId: number, name: string, input: string, depth: number): BpfMapSpec {
  const def = btf.resolve(typeId);
  if (btf.btf.kind(def) !== BtfKind.STRUCT) throw new ParseError(input, `map ${name}: definition is not a struct`);
  const m: BpfMapSpec = { name, type: '', keySize: 0, valueSize: 0, maxEntries: 0, flags: 0, source: 'btf' };
  let typeNum = -1;
  let inner: number | undefined;
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
      case 'type':
        typeNum = int();
        break;
      case 'max_entries':
        m.maxEntries = int();
        break;
      case 'map_flags':
        m.flags = int();
        break;
      case 'key_size':
        m.keySize = int();
        break;
      case 'value_size':
        m.valueSize = int();
        break;
      case 'key':
        m.keySize = pointee();
        break;
      case 'value':
        m.valueSize = pointee();
        break;
      case 'values': {
        // __array(values, struct inner_def): an array of pointers to the inner map's definition
        // (for prog_array, to a function prototype).
        const a = btf.array(ptr);
        const to = a ? btf.resolve(a.type) : 0;
        if (to && btf.btf.kind(to) === BtfKind.PTR && btf.btf.kind(btf.resolve(btf.btf.typeRef(to))) === BtfKind.STRUCT)
          inner = btf.btf.typeRef(to);
        break;
      }
      case 'numa_node':
      case 'map_extra':
      case 'pinning':
        break;
      default:
        throw new ParseError(input, `${where}: unknown map definition field`);
    }
  }
  if (typeNum < 0) throw new ParseError(input, `map ${name} has no type`);
  m.type = mapType(input, typeNum, `map ${name}`);
  if (inner !== undefined && depth === 0 && (m.type === 'array_of_maps' || m.type === 'hash_of_maps')) {
    m.innerType = btfMapDef(btf, inner, `${name}.inner`, input, depth + 1).type;
  }
  // Map-in-map `values` leave value_size implicit: the kernel wants an fd-sized (4-byte) value.
  if ((m.type === 'array_of_maps' || m.type === 'hash_of_maps' || m.type === 'prog_array') && m.valueSize === 0) m.valueSize = 4;
  return m;
}

// struct bpf_map_def { type, key_size, value_size, max_entries, map_flags } (u32 each); iproute2's
// longer variants add fields we do not need. Each symbol in `maps` is one definition.
function readLegacyMaps(elf: ElfFile, s: ElfSection, out: BpfMapSpec[], index: MapIndex): void {
  const input = elf.input;
  const syms = mapSymbols(elf, s);
  if (syms.length === 0 && s.size > 0) throw new ParseError(input, 'legacy maps section has no symbols naming its definitions');
  const view = new DataView(s.data.buffer, s.data.byteOffset, s.data.byteLength);
  const le = elf.littleEndian;
  for (const y of syms) {
    const size = y.size || s.size / syms.length;
    if (size < 20 || y.value + 20 > s.data.length)
      throw new ParseError(input, `legacy map ${y.name} at ${y.value} is shorter than struct bpf_map_def (20 bytes)`);
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
    index.bySymbol.set(y.index, m);
    index.byOffset.set(offsetKey(s.index, y.value), m);
  }
}

/**
 * A global-data map's initial bytes: its section's contents in the file (none for .bss and .kconfig,
 * which start as zeros). Never more than the file holds, whatever size the header claims.
 */
function initialData(elf: ElfFile, m: BpfMapSpec): Uint8Array {
  const s = elf.sections.find((x) => x.name === m.section);
  return s && s.type === SHT_PROGBITS ? new Uint8Array(s.data.subarray(0, m.valueSize)) : new Uint8Array(0);
}

function readLicense(elf: ElfFile): string {
  const s = elf.sections.find((x) => x.name === 'license');
  if (!s || s.data.length === 0) return '';
  const end = s.data.indexOf(0);
  return latin1.decode(s.data.subarray(0, end < 0 ? s.data.length : end));
}
