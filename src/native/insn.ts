// eBPF instruction encoding (struct bpf_insn: u8 code; u8 dst:4, src:4; s16 off; s32 imm), the
// handful of instructions the probes need. Encodings follow Documentation/bpf/standardization/
// instruction-set.rst; dst is the low nibble on little-endian hosts.

export type Insn = readonly [code: number, dst: number, src: number, off: number, imm: number];

export const BPF_PSEUDO_MAP_FD = 1;
export const BPF_PSEUDO_MAP_VALUE = 2;
export const BPF_PSEUDO_CALL = 1;
export const BPF_PSEUDO_KFUNC_CALL = 2;

export const mov64Imm = (dst: number, imm: number): Insn => [0xb7, dst, 0, 0, imm];
export const mov64Reg = (dst: number, src: number): Insn => [0xbf, dst, src, 0, 0];
export const add64Imm = (dst: number, imm: number): Insn => [0x07, dst, 0, 0, imm];
export const exit = (): Insn => [0x95, 0, 0, 0, 0];
export const callHelper = (id: number): Insn => [0x85, 0, 0, 0, id];
export const callKfunc = (btfId: number, fdArrayIndex = 0): Insn => [0x85, 0, BPF_PSEUDO_KFUNC_CALL, fdArrayIndex, btfId];
export const callLocal = (relInsn: number): Insn => [0x85, 0, BPF_PSEUDO_CALL, 0, relInsn];
export const jneImm = (dst: number, imm: number, off: number): Insn => [0x55, dst, 0, off, imm];
export const jltImm = (dst: number, imm: number, off: number): Insn => [0xa5, dst, 0, off, imm];
export const jlt32Imm = (dst: number, imm: number, off: number): Insn => [0xa6, dst, 0, off, imm];
export const jeqImm = (dst: number, imm: number, off: number): Insn => [0x15, dst, 0, off, imm];
/** JMP32|JA: `gotol`, ISA v4; the 32-bit offset lives in imm. */
export const gotol = (imm: number): Insn => [0x06, 0, 0, 0, imm];
export const stMem64 = (dst: number, off: number, imm: number): Insn => [0x7a, dst, 0, off, imm];
// The rest of ISA v4 (what clang -mcpu=v4 emits besides gotol): signed division and modulo (off 1),
// sign-extending moves (off = source width in bits), unconditional byte swaps (ALU64|END), and
// sign-extending loads (LDX|MEMSX).
export const sdiv64Imm = (dst: number, imm: number): Insn => [0x37, dst, 0, 1, imm];
export const smod64Imm = (dst: number, imm: number): Insn => [0x97, dst, 0, 1, imm];
export const movsx64 = (dst: number, src: number, bits: 8 | 16 | 32): Insn => [0xbf, dst, src, bits, 0];
export const bswap64 = (dst: number, bits: 16 | 32 | 64): Insn => [0xd7, dst, 0, 0, bits];
export const ldxsb = (dst: number, src: number, off: number): Insn => [0x91, dst, src, off, 0];

/** ld_imm64: two instruction slots. src selects the pseudo kind (map fd, map value, ...). */
export function ldImm64(dst: number, src: number, lo: number, hi = 0): [Insn, Insn] {
  return [
    [0x18, dst, src, 0, lo],
    [0, 0, 0, 0, hi],
  ];
}

export function encode(insns: readonly Insn[]): Uint8Array {
  const out = new Uint8Array(insns.length * 8);
  const view = new DataView(out.buffer);
  // A plain loop: the helper probes encode ~200 programs at start-up, in every thread.
  for (let i = 0; i < insns.length; i++) {
    const insn = insns[i]!;
    const at = i * 8;
    out[at] = insn[0];
    out[at + 1] = ((insn[2] & 0xf) << 4) | (insn[1] & 0xf);
    view.setInt16(at + 2, insn[3], true);
    view.setInt32(at + 4, insn[4] | 0, true);
  }
  return out;
}

/** The smallest valid program: return 0. */
export const RETURN_ZERO: readonly Insn[] = [mov64Imm(0, 0), exit()];
