// What `check` and `nodes` are asked to judge: an eBPF object (--elf, --program), built-in profiles
// (--profile) and single requirements (--require). Both commands read these flags the same way, with
// the same refusals, through this file.
import { readFileSync, statSync } from 'node:fs';
import { ParseError, UsageError } from '../base/errors.ts';
import { parseBpfObject, type BpfObject } from '../kernel/elf-bpf.ts';
import { objectRequirements, type ObjectRequirements } from '../requirements/from-elf.ts';
import type { Requirement } from '../requirements/model.ts';
import { BUILTIN_PROFILES, parseRequirement } from '../requirements/profiles.ts';

/** The parseArgs options of the selection flags. */
export const SELECTION_OPTIONS = {
  elf: { type: 'string' },
  program: { type: 'string', multiple: true },
  profile: { type: 'string', multiple: true },
  require: { type: 'string', multiple: true },
} as const;

export interface SelectionFlags {
  elf?: string | undefined;
  program?: string[] | undefined;
  profile?: string[] | undefined;
  require?: string[] | undefined;
}

export interface Selection {
  /** The profiles' and --require's requirements, in flag order. */
  requirements: Requirement[];
  /** With --elf: the parsed object and what it needs. */
  obj?: BpfObject;
  objReqs?: ObjectRequirements;
}

/** Refusals that need no file read: nothing selected, --program without --elf. */
export function checkSelectionFlags(v: SelectionFlags): void {
  if (!v.elf && !v.profile?.length && !v.require?.length) throw new UsageError('nothing to check: give --elf, --profile or --require');
  if (v.program?.length && !v.elf) throw new UsageError('--program needs --elf');
}

/** Reads the selection: profiles by name, requirements parsed, the object read and parsed. Throws a BpfreadyError naming the bad input. */
export function readSelection(v: SelectionFlags): Selection {
  checkSelectionFlags(v);
  const requirements: Requirement[] = [];
  for (const p of v.profile ?? []) {
    const prof = BUILTIN_PROFILES[p];
    if (!prof) throw new UsageError(`unknown profile "${p}" (built in: ${Object.keys(BUILTIN_PROFILES).join(', ')})`);
    requirements.push(...prof);
  }
  requirements.push(...(v.require ?? []).map((r, i) => parseRequirement(r, '--require', `#${i + 1}`)));
  if (!v.elf) return { requirements };
  let bytes: Buffer;
  try {
    bytes = readObjectFile(v.elf);
  } catch (e) {
    throw new ParseError(v.elf, `cannot read: ${(e as NodeJS.ErrnoException).code ?? (e as Error).message}`);
  }
  const obj = parseBpfObject(bytes, v.elf);
  const names = new Set(obj.programs.map((p) => p.name));
  const unknown = (v.program ?? []).filter((p) => !names.has(p));
  if (unknown.length)
    throw new UsageError(`--program ${unknown.join(', ')}: not a program of ${v.elf} (it has ${[...names].join(', ') || 'none'})`);
  return { requirements, obj, objReqs: objectRequirements(obj) };
}

/** eBPF objects are kilobytes to a few MiB; a device, a FIFO or a huge file is not one. */
const MAX_OBJECT_BYTES = 256 << 20;

function readObjectFile(path: string): Buffer {
  const st = statSync(path);
  if (!st.isFile()) throw Object.assign(new Error('not a regular file'), { code: 'not a regular file' });
  if (st.size > MAX_OBJECT_BYTES) throw Object.assign(new Error('too large'), { code: `larger than ${MAX_OBJECT_BYTES >> 20} MiB` });
  return readFileSync(path);
}
