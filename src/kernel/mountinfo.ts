// /proc/<pid>/mountinfo (Documentation/filesystems/proc.rst §3.5), one mount per line:
//
//   36 35 98:0 /mnt1 /mnt2 rw,noatime master:1 - ext3 /dev/root rw,errors=continue
//   (1)(2) (3)   (4)   (5)      (6)     (7..)  sep (8)    (9)         (10)
//
// The kernel escapes space, tab, newline and backslash in paths and the source as \ooo octal
// (seq_escape / mangle), and escapes ',' too in option values it prints with seq_show_option, so
// options are split on ',' before decoding. Pure parser here; the one reader at the bottom.
import { readFileSync } from 'node:fs';
import { BpfreadyError, ParseError } from '../base/errors.ts';

export const MOUNTINFO_PATH = '/proc/self/mountinfo';

export interface MountEntry {
  mountId: number;
  parentId: number;
  major: number;
  minor: number;
  /** Root of the mount inside its filesystem ("/" for a whole-fs mount; "net:[4026531840]" for nsfs). */
  root: string;
  mountPoint: string;
  /** Per-mount options (rw, nosuid, relatime, ...). */
  mountOptions: string[];
  /** Propagation tags such as shared:1, master:2, propagate_from:3, unbindable. */
  optionalFields: string[];
  fsType: string;
  source: string;
  /** Per-superblock options; a bare flag maps to true. Null prototype: keys come from the kernel. */
  superOptions: Record<string, string | true>;
}

/** What a lenient parse gives back: every line that parsed, and one ParseError per line that did not. */
export interface MountinfoParse {
  entries: MountEntry[];
  errors: ParseError[];
}

const OCTAL_ESCAPE = /\\([0-3][0-7]{2})/g;

/** Decode the kernel's \ooo escapes; any other backslash is kept as is (the kernel never emits one). */
export function unescapeOctal(s: string): string {
  return s.includes('\\') ? s.replace(OCTAL_ESCAPE, (_, o: string) => String.fromCharCode(Number.parseInt(o, 8))) : s;
}

const UINT = /^\d{1,10}$/;
const DEV = /^(\d{1,10}):(\d{1,10})$/;

function uint(field: string | undefined, what: string, fail: (m: string) => never): number {
  if (field === undefined || !UINT.test(field)) fail(`${what} is not a non-negative integer: ${JSON.stringify(field ?? '')}`);
  const n = Number(field);
  if (n > 0xffff_ffff) fail(`${what} is out of range: ${field}`);
  return n;
}

export function parseSuperOptions(field: string): Record<string, string | true> {
  const out: Record<string, string | true> = Object.create(null) as Record<string, string | true>;
  for (const item of field.split(',')) {
    if (item === '') continue;
    const eq = item.indexOf('=');
    if (eq < 0) out[unescapeOctal(item)] = true;
    else out[unescapeOctal(item.slice(0, eq))] = unescapeOctal(item.slice(eq + 1));
  }
  return out;
}

/** Parse one line (1-based `lineNo` for the message). Throws ParseError naming the input and line. */
export function parseMountinfoLine(line: string, input: string = MOUNTINFO_PATH, lineNo = 1): MountEntry {
  const fail = (msg: string): never => {
    throw new ParseError(`${input} line ${lineNo}`, msg);
  };
  const fields = line.split(' ');
  // Fields 1-6 are fixed, then optional fields end at a lone "-"; it cannot be a path (paths are absolute
  // or "type:[ino]") nor an option list, so the first "-" from field 7 on is the separator.
  const sep = fields.indexOf('-', 6);
  if (sep < 0) fail(`no " - " separator after the 6 fixed fields`);
  const tail = fields.length - sep - 1;
  if (tail !== 3) fail(`expected 3 fields after " - " (fstype, source, super options), found ${tail}`);
  const dev = DEV.exec(fields[2]!);
  if (!dev) fail(`major:minor is malformed: ${JSON.stringify(fields[2])}`);
  const [root, mountPoint, options] = [fields[3]!, fields[4]!, fields[5]!];
  if (root === '') fail('root is empty');
  if (mountPoint === '') fail('mount point is empty');
  const fsType = fields[sep + 1]!;
  if (fsType === '') fail('filesystem type is empty');
  return {
    mountId: uint(fields[0], 'mount ID', fail),
    parentId: uint(fields[1], 'parent ID', fail),
    major: uint(dev![1], 'major', fail),
    minor: uint(dev![2], 'minor', fail),
    root: unescapeOctal(root),
    mountPoint: unescapeOctal(mountPoint),
    mountOptions: options === '' ? [] : options.split(','),
    optionalFields: fields.slice(6, sep),
    fsType: unescapeOctal(fsType),
    source: unescapeOctal(fields[sep + 2]!),
    superOptions: parseSuperOptions(fields[sep + 3]!),
  };
}

function* lines(text: string): Generator<[line: string, lineNo: number]> {
  let lineNo = 0;
  for (const line of text.split('\n')) {
    lineNo++;
    // The file ends with a newline; blank lines carry nothing and are not an error.
    if (line !== '') yield [line, lineNo];
  }
}

/** Strict: every non-empty line must parse, else ParseError naming `input` and the line number. */
export function parseMountinfo(text: string, input: string = MOUNTINFO_PATH): MountEntry[] {
  const out: MountEntry[] = [];
  for (const [line, n] of lines(text)) out.push(parseMountinfoLine(line, input, n));
  return out;
}

/**
 * Lenient, for the daemon: a malformed line (a kernel we have not seen, a truncated read) costs that
 * line only. Never throws; the caller logs `errors`.
 */
export function parseMountinfoLenient(text: string, input: string = MOUNTINFO_PATH): MountinfoParse {
  const out: MountinfoParse = { entries: [], errors: [] };
  for (const [line, n] of lines(text)) {
    try {
      out.entries.push(parseMountinfoLine(line, input, n));
    } catch (error) {
      if (!(error instanceof ParseError)) throw error;
      out.errors.push(error);
    }
  }
  return out;
}

export function readMountinfoText(path: string = MOUNTINFO_PATH): string {
  try {
    return readFileSync(path, 'utf8');
  } catch (error) {
    throw new BpfreadyError('EBPFREADY_READ', `${path}: cannot read: ${(error as Error).message}`, { cause: error });
  }
}

/** Read and parse strictly. */
export function readMountinfo(path: string = MOUNTINFO_PATH): MountEntry[] {
  return parseMountinfo(readMountinfoText(path), path);
}

/**
 * Mounts whose mount point is visible. When several are stacked on one mount point, each is mounted
 * on the one below, so the top one is the one no other mount there names as its parent (mountinfo
 * is in mount ID order, and `mount --move` can put an older mount on top of a newer one). Where the
 * parents do not tell (a synthetic table), the last one listed wins.
 */
export function visibleMounts(entries: readonly MountEntry[]): MountEntry[] {
  const byPoint = new Map<string, MountEntry[]>();
  for (const e of entries) {
    const list = byPoint.get(e.mountPoint);
    if (list) {
      // Re-inserted, so the map keeps the order of each point's last listing.
      byPoint.delete(e.mountPoint);
      list.push(e);
      byPoint.set(e.mountPoint, list);
    } else byPoint.set(e.mountPoint, [e]);
  }
  return [...byPoint.values()].map((list) => {
    if (list.length === 1) return list[0]!;
    const parents = new Set(list.map((e) => e.parentId));
    const tops = list.filter((e) => !parents.has(e.mountId));
    return (tops.length ? tops : list).at(-1)!;
  });
}
