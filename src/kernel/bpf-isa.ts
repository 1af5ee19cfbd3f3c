// The eBPF instruction-set version a program's code needs (docs/requirements.md, "ISA"): the lowest
// of v1..v4 whose instructions cover every one in the program. What clang's -mcpu=vN may emit:
//   v2: the unsigned and signed less-than jumps (jlt, jle, jslt, jsle) on 64-bit registers;
//   v3: the JMP32 class (every conditional jump on 32-bit subregisters);
//   v4: gotol (JMP32|JA), signed division and modulo (DIV/MOD with off = 1), sign-extending moves
//       (MOV|X with off = 8, 16 or 32), unconditional byte swaps (ALU64|END) and sign-extending
//       loads (LDX|MEMSX).
// Encodings follow the kernel's Documentation/bpf/standardization/instruction-set.rst.

export type IsaVersion = 1 | 2 | 3 | 4;

const CLASS_LDX = 0x01;
const CLASS_ALU = 0x04;
const CLASS_JMP = 0x05;
const CLASS_JMP32 = 0x06;
const CLASS_ALU64 = 0x07;
const MODE_MEMSX = 0x80;
const OP_JA = 0x00;
const OP_DIV = 0x30;
const OP_MOD = 0x90;
const OP_MOV = 0xb0;
const OP_END = 0xd0;
const OP_CALL = 0x80;
const OP_EXIT = 0x90;
const SRC_X = 0x08;
const LESS_THAN = new Set([0xa0, 0xb0, 0xc0, 0xd0]); // jlt, jle, jslt, jsle
const LD_IMM64 = 0x18;

/** The ISA version `insns` (8-byte instructions in the object's byte order) needs. */
export function isaVersion(insns: Uint8Array, littleEndian: boolean): IsaVersion {
  const view = new DataView(insns.buffer, insns.byteOffset, insns.byteLength);
  let version: IsaVersion = 1;
  for (let at = 0; at + 8 <= insns.length; at += 8) {
    const code = insns[at]!;
    // ld_imm64's second slot carries the upper half of the constant, not an instruction.
    if (code === LD_IMM64) {
      at += 8;
      continue;
    }
    const cls = code & 0x07;
    const op = code & 0xf0;
    const off = view.getInt16(at + 2, littleEndian);
    if (cls === CLASS_JMP32) {
      if (op === OP_JA) return 4;
      if (op !== OP_CALL && op !== OP_EXIT) version = 3;
    } else if (cls === CLASS_JMP) {
      if (LESS_THAN.has(op) && version < 2) version = 2;
    } else if (cls === CLASS_ALU || cls === CLASS_ALU64) {
      if ((op === OP_DIV || op === OP_MOD) && off === 1) return 4;
      if (op === OP_MOV && code & SRC_X && (off === 8 || off === 16 || off === 32)) return 4;
      if (op === OP_END && cls === CLASS_ALU64) return 4;
    } else if (cls === CLASS_LDX && (code & 0xe0) === MODE_MEMSX) {
      return 4;
    }
  }
  return version;
}
