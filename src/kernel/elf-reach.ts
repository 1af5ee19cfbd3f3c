// Which instructions of a linked program the verifier can reach, given the values some instructions
// will hold after CO-RE relocation. libbpf-tools and most CO-RE code guard a field that only some
// kernels have with bpf_core_field_exists() (or type/enum existence): libbpf turns the check into a
// constant 0 or 1 and the verifier never walks the dead branch, so a failed relocation there is
// harmless (docs/requirements.md, "CO-RE"). This is constant propagation over registers and 8-byte
// stack slots, branching one way only where both sides of a compare are known. Anything it cannot
// follow counts as reachable: it can only over-count what a kernel needs, never under-count.

const CLS_LD = 0,
  CLS_LDX = 1,
  CLS_ST = 2,
  CLS_STX = 3,
  CLS_ALU = 4,
  CLS_JMP = 5,
  CLS_JMP32 = 6,
  CLS_ALU64 = 7;
const BPF_PSEUDO_CALL = 1;
const BPF_PSEUDO_FUNC = 4;
const MASK64 = (1n << 64n) - 1n;
const MASK32 = (1n << 32n) - 1n;

/** A register or slot: a known 64-bit value, or undefined for unknown. */
type Val = bigint | undefined;
interface State {
  regs: Val[];
  /** Stack slots by offset from r10 (8-byte stores of known values only). */
  stack: Map<number, bigint>;
}

const unknownState = (): State => ({ regs: new Array<Val>(11).fill(undefined), stack: new Map() });

function merge(into: State, from: State): boolean {
  let changed = false;
  for (let r = 0; r < 11; r++) {
    if (into.regs[r] !== undefined && into.regs[r] !== from.regs[r]) {
      into.regs[r] = undefined;
      changed = true;
    }
  }
  for (const [k, v] of into.stack) {
    if (from.stack.get(k) !== v) {
      into.stack.delete(k);
      changed = true;
    }
  }
  return changed;
}

const copy = (s: State): State => ({ regs: [...s.regs], stack: new Map(s.stack) });
const signed64 = (v: bigint): bigint => BigInt.asIntN(64, v);
const signed32 = (v: bigint): bigint => BigInt.asIntN(32, v);

function alu(op: number, a: bigint, b: bigint, is64: boolean): Val {
  const m = is64 ? MASK64 : MASK32;
  a &= m;
  b &= m;
  const sh = is64 ? 63n : 31n;
  switch (op) {
    case 0x00:
      return (a + b) & m;
    case 0x10:
      return (a - b) & m;
    case 0x20:
      return (a * b) & m;
    case 0x40:
      return a | b;
    case 0x50:
      return a & b;
    case 0x60:
      return (a << (b & sh)) & m;
    case 0x70:
      return a >> (b & sh);
    case 0xa0:
      return a ^ b;
    case 0xb0:
      return b;
    default:
      return undefined;
  }
}

function decide(op: number, a: bigint, b: bigint, is64: boolean): boolean | undefined {
  const m = is64 ? MASK64 : MASK32;
  const ua = a & m;
  const ub = b & m;
  const sa = is64 ? signed64(ua) : signed32(ua);
  const sb = is64 ? signed64(ub) : signed32(ub);
  switch (op) {
    case 0x10:
      return ua === ub;
    case 0x20:
      return ua > ub;
    case 0x30:
      return ua >= ub;
    case 0x40:
      return (ua & ub) !== 0n;
    case 0x50:
      return ua !== ub;
    case 0x60:
      return sa > sb;
    case 0x70:
      return sa >= sb;
    case 0xa0:
      return ua < ub;
    case 0xb0:
      return ua <= ub;
    case 0xc0:
      return sa < sb;
    case 0xd0:
      return sa <= sb;
    default:
      return undefined;
  }
}

export interface ReachOptions {
  littleEndian: boolean;
  /**
   * Instructions whose destination register gets this value (an existence relocation, relocated), or
   * an unknown one (undefined: the value depends on the kernel).
   */
  fixed?: ReadonlyMap<number, bigint | undefined>;
}

/** Reachable instructions (1 = reachable) of linked code starting at instruction 0. */
export function reachable(insns: Uint8Array, opts: ReachOptions): Uint8Array {
  const n = insns.length / 8;
  const view = new DataView(insns.buffer, insns.byteOffset, insns.byteLength);
  const le = opts.littleEndian;
  const fixed = opts.fixed ?? new Map<number, bigint | undefined>();
  const states: (State | undefined)[] = new Array(n);
  const seen = new Uint8Array(n);
  const work: number[] = [];
  const enter = (at: number, s: State): void => {
    if (at < 0 || at >= n) return;
    const cur = states[at];
    if (!cur) {
      states[at] = copy(s);
      seen[at] = 1;
      work.push(at);
    } else if (merge(cur, s)) {
      work.push(at);
    }
  };
  enter(0, unknownState());
  // Each state only loses facts on merge, so every instruction is re-queued a bounded number of times.
  let budget = n * 64 + 1024;
  while (work.length && budget-- > 0) {
    const i = work.pop()!;
    const s = copy(states[i]!);
    const code = insns[i * 8]!;
    const regs = insns[i * 8 + 1]!;
    const dst = le ? regs & 0xf : regs >> 4;
    const src = le ? regs >> 4 : regs & 0xf;
    const off = view.getInt16(i * 8 + 2, le);
    const imm = view.getInt32(i * 8 + 4, le);
    const cls = code & 7;
    const setDst = (v: Val): void => {
      if (dst <= 10) s.regs[dst] = v;
    };
    if (cls === CLS_LD) {
      if (code === 0x18 && i + 1 < n) {
        seen[i + 1] = 1;
        const hi = view.getInt32(i * 8 + 12, le);
        const f = fixed.get(i);
        if (fixed.has(i)) setDst(f === undefined ? undefined : f & MASK64);
        else if (src === 0) setDst(((BigInt(hi >>> 0) << 32n) | BigInt(imm >>> 0)) & MASK64);
        else setDst(undefined);
        // A function pointer (bpf_loop and friends' callback): its body runs with unknown arguments.
        if (src === BPF_PSEUDO_FUNC) enter(i + imm + 1, unknownState());
        enter(i + 2, s);
      } else {
        s.regs[0] = undefined;
        enter(i + 1, s);
      }
      continue;
    }
    if (cls === CLS_LDX) {
      const f = fixed.get(i);
      const size = code & 0x18;
      if (fixed.has(i)) setDst(f);
      else if (src === 10 && size === 0x18 && (code & 0xe0) === 0x60) setDst(s.stack.get(off));
      else setDst(undefined);
      enter(i + 1, s);
      continue;
    }
    if (cls === CLS_ST || cls === CLS_STX) {
      const mode = code & 0xe0;
      const size = code & 0x18;
      if (mode === 0xc0) {
        // Atomics: BPF_FETCH writes the old value back into src (cmpxchg into r0).
        if (imm & 1) s.regs[src] = undefined;
        if (imm === 0xf1) s.regs[0] = undefined;
      }
      if (dst === 10) {
        const v = cls === CLS_ST ? BigInt(imm) & MASK64 : s.regs[src];
        // A narrower store overlaps the slot: forget whatever overlaps it.
        for (const k of [...s.stack.keys()]) if (k < off + 8 && off < k + 8) s.stack.delete(k);
        if (mode === 0x60 && size === 0x18 && v !== undefined) s.stack.set(off, v);
      } else if (cls === CLS_STX && s.regs[dst] === undefined) {
        // A store through a pointer we do not know could be a pointer to our own stack.
        s.stack.clear();
      }
      enter(i + 1, s);
      continue;
    }
    if (cls === CLS_ALU || cls === CLS_ALU64) {
      const is64 = cls === CLS_ALU64;
      const op = code & 0xf0;
      const useReg = (code & 0x08) !== 0;
      const f = fixed.get(i);
      if (fixed.has(i)) {
        setDst(f);
      } else if (op === 0xb0 && off !== 0) {
        setDst(undefined); // movsx
      } else if (op === 0x80 || op === 0xd0) {
        setDst(undefined); // neg, byte swaps
      } else {
        const b = useReg ? s.regs[src] : BigInt(imm) & MASK64;
        const a = op === 0xb0 ? 0n : s.regs[dst];
        setDst(a === undefined || b === undefined ? undefined : alu(op, a, b, is64));
      }
      enter(i + 1, s);
      continue;
    }
    if (cls === CLS_JMP || cls === CLS_JMP32) {
      const op = code & 0xf0;
      if (op === 0x00) {
        enter(i + 1 + (cls === CLS_JMP32 ? imm : off), s);
        continue;
      }
      if (op === 0x90) continue; // exit: back to a caller, handled at the call
      if (op === 0x80) {
        if (src === BPF_PSEUDO_CALL) enter(i + imm + 1, unknownState());
        for (let r = 0; r <= 5; r++) s.regs[r] = undefined;
        enter(i + 1, s);
        continue;
      }
      const a = s.regs[dst];
      const b = (code & 0x08) !== 0 ? s.regs[src] : BigInt(imm) & MASK64;
      const taken = a === undefined || b === undefined ? undefined : decide(op, a, b, cls === CLS_JMP);
      if (taken !== false) enter(i + 1 + off, s);
      if (taken !== true) enter(i + 1, s);
      continue;
    }
    enter(i + 1, s);
  }
  // Out of budget (it should not happen): everything counts as reachable.
  if (work.length) seen.fill(1);
  return seen;
}
