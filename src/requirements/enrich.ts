// The probe report's `config` section holds the BPF-related options only. Requirements may name any
// option (a profile's CONFIG_CRYPTO_SHA1), so before checking, the options they name are read from the
// running kernel's own config — the same file, found the same way — and added to a copy of the report.
import { release as osRelease } from 'node:os';
import { readKernelConfig } from '../kernel/kconfig.ts';
import type { Fact, ProbeReport } from '../contract/report.ts';
import type { Requirement } from './model.ts';

export function withKernelConfig(report: ProbeReport, reqs: readonly Requirement[], hostRoot = '/'): ProbeReport {
  const names = reqs.filter((r) => r.kind === 'kconfig').map((r) => r.name.replace(/^CONFIG_/, ''));
  const section = (typeof report.config === 'object' && report.config !== null ? report.config : {}) as Record<string, Fact>;
  const missing = names.filter((n) => !(n in section) && !(`CONFIG_${n}` in section));
  if (!missing.length) return report;
  const read = readKernelConfig(hostRoot, report.kernel?.release ?? osRelease());
  if (!read.ok) return report;
  const added: Record<string, Fact> = {};
  for (const n of missing) {
    // parseKconfig keys options without the CONFIG_ prefix.
    const v = read.config.values.get(n) ?? read.config.values.get(`CONFIG_${n}`);
    added[n] =
      v === undefined || v === 'n'
        ? { status: 'unsupported', detail: `CONFIG_${n} is not set (${read.config.source})`, value: null }
        : { status: 'supported', value: v };
  }
  return { ...report, config: { source: { status: 'supported', value: read.config.source }, ...section, ...added } };
}
