// Kernel build configuration (the `.config` format: `CONFIG_X=y|m|"str"|123`, `# CONFIG_X is not set`).
// Where it comes from matters as much as what it says: only a config of the *running* release is
// trusted, in the order /proc/config.gz (CONFIG_IKCONFIG_PROC), /boot/config-<release>,
// /lib/modules/<release>/config; never a neighbouring release's file.
import { gunzipSync } from 'node:zlib';
import { ParseError } from '../base/errors.ts';
import { readHostFile } from './hostroot.ts';

/** 'y' built in, 'm' module, 'n' explicitly not set; anything else is the literal value (strings keep no quotes). */
export type KconfigValue = string;

const SET = /^CONFIG_([A-Za-z0-9_]+)=(.*)$/;
const UNSET = /^# CONFIG_([A-Za-z0-9_]+) is not set$/;
const VALUE = /^(?:[ymn]|-?\d+|0x[0-9a-fA-F]+|"(?:[^"\\]|\\.)*")$/;

/** Parse a kernel .config. Keys lose their CONFIG_ prefix. Throws ParseError naming input and line. */
export function parseKconfig(text: string, input = 'kernel config'): Map<string, KconfigValue> {
  const out = new Map<string, KconfigValue>();
  const lines = text.split('\n');
  for (let i = 0; i < lines.length; i++) {
    const line = lines[i]!.trimEnd();
    if (line === '') continue;
    const set = SET.exec(line);
    if (set) {
      const raw = set[2]!;
      if (!VALUE.test(raw))
        throw new ParseError(`${input} line ${i + 1}`, `unrecognised value for CONFIG_${set[1]}: ${JSON.stringify(raw.slice(0, 80))}`);
      out.set(set[1]!, raw.startsWith('"') ? raw.slice(1, -1).replace(/\\(.)/g, '$1') : raw);
      continue;
    }
    const unset = UNSET.exec(line);
    if (unset) {
      out.set(unset[1]!, 'n');
      continue;
    }
    if (line.startsWith('#')) continue;
    throw new ParseError(`${input} line ${i + 1}`, `not a CONFIG_ assignment or comment: ${JSON.stringify(line.slice(0, 80))}`);
  }
  return out;
}

export interface KernelConfig {
  /** The file it came from, under the host root. */
  source: string;
  values: Map<string, KconfigValue>;
}

/** Candidate paths for `release`, most trusted first. */
export function kconfigCandidates(release: string): string[] {
  return ['/proc/config.gz', `/boot/config-${release}`, `/lib/modules/${release}/config`];
}

export type KconfigRead = { ok: true; config: KernelConfig } | { ok: false; tried: { path: string; code: string }[] };

/**
 * The running kernel's config: the first candidate that exists. A candidate that exists but is
 * malformed throws ParseError (a corrupt config must not silently fall through to another file).
 */
// The daemon reads the config on every cycle; it does not change under a running kernel, but a
// /boot file may be replaced. Reading the bytes is cheap, gunzip + parse is not: keep the parse of
// the last bytes seen per path.
const parsed = new Map<string, { raw: Buffer; config: KernelConfig }>();

export function readKernelConfig(hostRoot: string, release: string): KconfigRead {
  const tried: { path: string; code: string }[] = [];
  for (const path of kconfigCandidates(release)) {
    const r = readHostFile(hostRoot, path);
    if (!r.ok) {
      tried.push({ path: r.path, code: r.code });
      continue;
    }
    const hit = parsed.get(r.path);
    if (hit && hit.raw.equals(r.value)) return { ok: true, config: hit.config };
    let text: string;
    if (path.endsWith('.gz')) {
      try {
        text = gunzipSync(r.value).toString('utf8');
      } catch (e) {
        throw new ParseError(r.path, `not valid gzip: ${(e as Error).message}`, { cause: e });
      }
    } else text = r.value.toString('utf8');
    const config: KernelConfig = { source: r.path, values: parseKconfig(text, r.path) };
    parsed.set(r.path, { raw: r.value, config });
    return { ok: true, config };
  }
  return { ok: false, tried };
}
