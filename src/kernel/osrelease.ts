// The distribution (os-release(5): shell-style KEY=value lines) and the kernel's own identity
// (/proc/sys/kernel/{osrelease,version}, the same strings uname(2) gives, read under the host root).
import { readFileSync } from 'node:fs';
import { machine, release as osRelease, version as osVersion } from 'node:os';
import { ParseError } from '../base/errors.ts';
import { readHostText } from './hostroot.ts';

const LINE = /^([A-Za-z_][A-Za-z0-9_]*)=(.*)$/;

/** Parse os-release: one KEY=value per line, values optionally quoted; throws ParseError naming input and line. */
export function parseOsRelease(text: string, input = 'os-release'): Record<string, string> {
  const out: Record<string, string> = Object.create(null) as Record<string, string>;
  const lines = text.split('\n');
  for (let i = 0; i < lines.length; i++) {
    const line = lines[i]!.trim();
    if (line === '' || line.startsWith('#')) continue;
    const m = LINE.exec(line);
    if (!m) throw new ParseError(`${input} line ${i + 1}`, `not a KEY=value assignment: ${JSON.stringify(line.slice(0, 80))}`);
    out[m[1]!] = unquote(m[2]!, () => new ParseError(`${input} line ${i + 1}`, `unterminated quote in ${m[1]}`));
  }
  return out;
}

function unquote(v: string, err: () => ParseError): string {
  const q = v[0];
  if (q !== '"' && q !== "'") return v;
  if (v.length < 2 || v[v.length - 1] !== q) throw err();
  const body = v.slice(1, -1);
  // Within double quotes os-release allows shell escapes of $ " \ and `.
  return q === '"' ? body.replace(/\\([$"\\`])/g, '$1') : body;
}

export interface KernelIdentity {
  release: string;
  version: string;
  machine: string;
  /** PRETTY_NAME (or NAME VERSION_ID) from the host's os-release; undefined when not readable. */
  distro?: string;
  distroId?: string;
  distroVersion?: string;
  /** Why a field could not be read (path: errno code). */
  problems: string[];
}

export function readKernelIdentity(hostRoot: string): KernelIdentity {
  const problems: string[] = [];
  const read = (path: string): string => {
    const r = readHostText(hostRoot, path);
    if (r.ok) return r.value.trim();
    problems.push(`${r.path}: ${r.code}`);
    return '';
  };
  const id: KernelIdentity = {
    release: read('/proc/sys/kernel/osrelease'),
    version: read('/proc/sys/kernel/version'),
    machine: machine(),
    problems,
  };
  const osProblems: string[] = [];
  for (const path of ['/etc/os-release', '/usr/lib/os-release']) {
    const r = readHostText(hostRoot, path);
    if (!r.ok) {
      osProblems.push(`${r.path}: ${r.code}`);
      continue;
    }
    try {
      const os = parseOsRelease(r.value, r.path);
      id.distro = os.PRETTY_NAME ?? [os.NAME, os.VERSION_ID].filter(Boolean).join(' ');
      if (os.ID) id.distroId = os.ID;
      if (os.VERSION_ID) id.distroVersion = os.VERSION_ID;
      osProblems.length = 0;
    } catch (e) {
      osProblems.push((e as Error).message);
    }
    break;
  }
  problems.push(...osProblems);
  return id;
}

/** LINUX_VERSION_CODE as libbpf derives it (Debian and Ubuntu put the upstream version elsewhere). */
export function kernelVersionCode(
  release = osRelease(),
  version = osVersion(),
  ubuntuSignature: string | null = readVersionSignature() ?? null,
): number {
  // Ubuntu: /proc/version_signature ends with the upstream version ("Ubuntu 4.15.0-213.224-generic
  // 4.15.18"); its release string carries Ubuntu's ABI number instead. Debian: in uname -v.
  const ubuntu = ubuntuSignature ? /(\d+)\.(\d+)\.(\d+)\s*$/.exec(ubuntuSignature) : null;
  const debian = /Debian (\d+)\.(\d+)\.(\d+)/.exec(version);
  const m = ubuntu ?? debian ?? /^(\d+)\.(\d+)\.(\d+)/.exec(release) ?? /^(\d+)\.(\d+)/.exec(release);
  if (!m) return 0;
  const [a, b, c] = [Number(m[1]), Number(m[2]), Number(m[3] ?? 0)];
  return (a << 16) + (b << 8) + Math.min(c, 255);
}

function readVersionSignature(): string | undefined {
  try {
    return readFileSync('/proc/version_signature', 'utf8').trim();
  } catch {
    return undefined; // not Ubuntu
  }
}
