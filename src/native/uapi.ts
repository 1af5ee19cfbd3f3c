// Enum values by the kernel's names (src/native/uapi-names.ts), for code that names a program, map
// or attach type instead of writing its number. An unknown name is a programming error.
import { ATTACH_TYPE_NAMES, MAP_TYPE_NAMES, PROG_TYPE_NAMES } from './uapi-names.ts';

function lookup(table: readonly (string | undefined)[], what: string, name: string): number {
  const v = table.indexOf(name);
  if (v < 0) throw new Error(`no ${what} named ${name} in the uapi tables`);
  return v;
}

export const progType = (name: string): number => lookup(PROG_TYPE_NAMES, 'program type', name);
export const mapType = (name: string): number => lookup(MAP_TYPE_NAMES, 'map type', name);
export const attachType = (name: string): number => lookup(ATTACH_TYPE_NAMES, 'attach type', name);

// Constants the koffi-free tables need (src/probes/programs.ts, read by the CLI's early helper batch
// before koffi loads); src/native/bpf.ts and src/contract/interpret.ts re-export them.
/** BPF_F_SLEEPABLE in prog_flags. */
export const BPF_F_SLEEPABLE = 1 << 4;
/** Kernel-internal ENOTSUPP: leaks from bpf() for "this kernel build cannot" (no trampoline, no JIT). */
export const ENOTSUPP = 524;
