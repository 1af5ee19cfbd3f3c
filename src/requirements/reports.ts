// Saved probe reports as `check --against` reads them: a file (JSON, or gzip of it), a directory of
// them, or the name of a report bpfready ships (fixtures/reports/, docs/json.md "Named reports").
// Anything that is not a report this build reads is a ParseError naming the file and what is wrong.
import { existsSync, readdirSync, readFileSync, statSync } from 'node:fs';
import { basename, join, resolve } from 'node:path';
import { gunzipSync } from 'node:zlib';
import { ParseError } from '../base/errors.ts';
import type { ProbeReport } from '../contract/report.ts';
import { kernelViewOf } from './saved-view.ts';

export const REPORT_SCHEMA_VERSION = 1;
/** The reports bpfready ships, by name (scripts/fixture-reports.ts writes them). */
export const NAMED_REPORTS_DIR = resolve(import.meta.dirname, '../../fixtures/reports');
const MAX_REPORT_BYTES = 64 << 20;

export interface SavedReport {
  /** How the verdict names it: the fixture name, or the file's name. */
  name: string;
  path: string;
  report: ProbeReport;
}

export interface NamedReport {
  name: string;
  file: string;
  release: string;
  source: string;
}

export function namedReports(): NamedReport[] {
  const index = join(NAMED_REPORTS_DIR, 'index.json');
  if (!existsSync(index)) return [];
  return (JSON.parse(readFileSync(index, 'utf8')) as { reports: NamedReport[] }).reports;
}

/** A probe report from its bytes; `input` names it in errors. */
export function parseReport(bytes: Buffer, input: string): ProbeReport {
  let text: Buffer = bytes;
  if (bytes[0] === 0x1f && bytes[1] === 0x8b) {
    try {
      text = gunzipSync(bytes);
    } catch (e) {
      throw new ParseError(input, `not valid gzip (truncated?): ${(e as Error).message}`, { cause: e });
    }
  }
  let doc: unknown;
  try {
    doc = JSON.parse(text.toString('utf8'));
  } catch (e) {
    throw new ParseError(input, `not valid JSON (a truncated report?): ${(e as Error).message}`, { cause: e });
  }
  if (typeof doc !== 'object' || doc === null || Array.isArray(doc))
    throw new ParseError(input, 'not a bpfready probe report (not a JSON object)');
  const r = doc as Record<string, unknown>;
  if (!('schemaVersion' in r))
    throw new ParseError(input, 'not a bpfready probe report (no schemaVersion; write one with bpfready probe --json)');
  if (r.schemaVersion !== REPORT_SCHEMA_VERSION)
    throw new ParseError(
      input,
      `report schemaVersion ${JSON.stringify(r.schemaVersion)} is not one this bpfready reads (it reads ${REPORT_SCHEMA_VERSION})`,
    );
  for (const s of ['kernel', 'context', 'programTypes', 'mapTypes', 'helpers', 'misc'] as const) {
    if (typeof r[s] !== 'object' || r[s] === null) throw new ParseError(input, `not a complete probe report: no "${s}" section`);
  }
  const view = kernelViewOf(r as ProbeReport);
  if (typeof view === 'string') throw new ParseError(input, view);
  return r as ProbeReport;
}

function readReportFile(path: string, name: string): SavedReport {
  let bytes: Buffer;
  try {
    const st = statSync(path);
    if (st.size > MAX_REPORT_BYTES) throw Object.assign(new Error(), { code: `larger than ${MAX_REPORT_BYTES >> 20} MiB` });
    bytes = readFileSync(path);
  } catch (e) {
    throw new ParseError(path, `cannot read: ${(e as NodeJS.ErrnoException).code ?? (e as Error).message}`);
  }
  return { name, path, report: parseReport(bytes, path) };
}

// index.json names the reports of fixtures/reports/; it is not one.
const isReportFile = (f: string): boolean => /\.json(\.gz)?$/.test(f) && f !== 'index.json';

/** The reports one --against names: a file, a directory of report files, or a named report. */
export function loadReports(arg: string): SavedReport[] {
  if (existsSync(arg)) {
    if (statSync(arg).isDirectory()) {
      const files = readdirSync(arg).filter(isReportFile).sort();
      if (!files.length) throw new ParseError(arg, 'a directory without report files (*.json, *.json.gz)');
      return files.map((f) => readReportFile(join(arg, f), f.replace(/\.json(\.gz)?$/, '')));
    }
    return [readReportFile(arg, basename(arg).replace(/\.json(\.gz)?$/, ''))];
  }
  const named = namedReports().find((n) => n.name === arg);
  if (named) return [readReportFile(join(NAMED_REPORTS_DIR, named.file), named.name)];
  const names = namedReports().map((n) => n.name);
  throw new ParseError(arg, `no such file or directory, and not a named report (named: ${names.join(', ') || 'none shipped'})`);
}
