import { LOCKDOWN_BLOCKS, parseLockdown, parseLsmList, readIma, securityfsState, SECURITYFS_PATH } from '../kernel/security.ts';
import { readHostText } from '../kernel/hostroot.ts';
import type { Fact, FactSection } from '../contract/report.ts';
import { fact, unreadable } from './types.ts';

export function securityFacts(hostRoot: string, config: Map<string, string> | undefined): FactSection {
  const section: FactSection = {};
  const sfs = securityfsState(hostRoot);
  section.securityfs = sfs.mounted ? fact('supported', sfs.path) : fact('unsupported', undefined, sfs.reason);
  const unknown = (): Fact => fact('error', undefined, `unknown: ${sfs.mounted ? '' : sfs.reason}`);

  let lsms: string[] | undefined;
  if (!sfs.mounted) section.lsm = unknown();
  else {
    const r = readHostText(hostRoot, `${SECURITYFS_PATH}/lsm`);
    if (!r.ok) {
      // No lsm file (before 4.15) or no access: the list is unknown, never "no LSMs".
      section.lsm =
        r.code === 'EACCES' || r.code === 'EPERM'
          ? unreadable(r.code, r.path, '')
          : fact('error', undefined, `unknown: ${r.path}: ${r.code}`, r.code);
    } else {
      try {
        lsms = parseLsmList(r.value, r.path);
        section.lsm = fact('supported', lsms);
      } catch (e) {
        section.lsm = fact('error', undefined, `unknown: ${(e as Error).message}`);
      }
    }
  }

  const bpfLsmConfig = config?.get('BPF_LSM');
  if (config && bpfLsmConfig !== 'y') section.bpf_lsm = fact('unsupported', false, 'CONFIG_BPF_LSM is not set');
  else if (!lsms) section.bpf_lsm = fact('error', undefined, section.lsm!.detail ?? 'unknown: active LSM list unavailable');
  else if (!lsms.includes('bpf'))
    section.bpf_lsm = fact(
      'unsupported',
      false,
      `"bpf" is not among the active LSMs (${lsms.join(',')}); add it to lsm= on the kernel command line`,
    );
  else section.bpf_lsm = fact('supported', true, config ? undefined : 'active; kernel config unknown');

  if (!sfs.mounted) section.lockdown = unknown();
  else {
    const r = readHostText(hostRoot, `${SECURITYFS_PATH}/lockdown`);
    if (!r.ok) {
      // No lockdown file with securityfs mounted: the lockdown LSM is not built in or not active.
      section.lockdown =
        r.code === 'ENOENT'
          ? fact('supported', 'none', `lockdown LSM not active (no ${r.path}); nothing blocked`)
          : unreadable(r.code, r.path, '');
    } else {
      try {
        const { mode } = parseLockdown(r.value, r.path);
        const blocks = LOCKDOWN_BLOCKS[mode];
        section.lockdown = fact('supported', mode, blocks.length ? `blocks for BPF: ${blocks.join('; ')}` : 'nothing blocked');
      } catch (e) {
        section.lockdown = fact('error', undefined, `unknown: ${(e as Error).message}`);
      }
    }
  }

  if (!sfs.mounted) section.ima = unknown();
  else {
    const ima = readIma(hostRoot);
    if (!ima.present) {
      section.ima = fact(
        'unsupported',
        { present: false },
        config?.get('IMA') === 'y' ? 'IMA built in but not initialised' : 'IMA not built in (no ima/ in securityfs)',
      );
    } else {
      const value: Record<string, number | boolean | null> = {
        present: true,
        policyReadable: ima.policyRules !== undefined,
        policyRules: ima.policyRules ?? null,
        measurements: ima.measurements ?? null,
      };
      const problems = [ima.policyProblem, ima.measurementsProblem].filter(Boolean);
      section.ima = fact('supported', value, problems.length ? problems.join('; ') : undefined);
    }
  }
  return section;
}
