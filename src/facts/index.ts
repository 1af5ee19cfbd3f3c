// System facts for `bpfready probe`: what the kernel was built with and how this node is set up,
// each fact in the result contract (src/contract/result.ts) with a reason when it is not supported.
// Every reader resolves paths under `hostRoot` (the node's / mounted into the pod); capabilities
// and namespaces are those of this process. See docs/facts.md.
import { DEFAULT_HOST_ROOT } from '../kernel/hostroot.ts';
import { readKernelIdentity } from '../kernel/osrelease.ts';
import type { FactSection } from '../contract/report.ts';
import { btfFacts } from './btf.ts';
import { capabilityFacts } from './capabilities.ts';
import { configFacts } from './config.ts';
import { cpuFacts } from './cpu.ts';
import { mountFacts } from './mounts.ts';
import { namespaceFacts } from './namespaces.ts';
import { securityFacts } from './security.ts';
import { sysctlFacts } from './sysctl.ts';
import { fact, type KernelFacts, type SystemFacts } from './types.ts';

export type { KernelFacts, SystemFacts } from './types.ts';
export { CAPABILITY_BLOCKS } from './capabilities.ts';

/** A collector that throws is a bug; it costs its own section, not the report. */
function guarded(name: string, collect: () => FactSection): FactSection {
  try {
    return collect();
  } catch (e) {
    return { collector: fact('error', undefined, `${name} collector failed: ${(e as Error).message}`) };
  }
}

async function guardedAsync(name: string, collect: () => Promise<FactSection>): Promise<FactSection> {
  try {
    return await collect();
  } catch (e) {
    return { collector: fact('error', undefined, `${name} collector failed: ${(e as Error).message}`) };
  }
}

export async function collectSystemFacts(opts: { hostRoot?: string } = {}): Promise<SystemFacts> {
  const hostRoot = opts.hostRoot ?? DEFAULT_HOST_ROOT;
  const id = readKernelIdentity(hostRoot);
  const { problems, ...identity } = id;
  const kernel: KernelFacts = problems.length ? { ...identity, problems } : identity;

  const { section: config, config: kconfig } = configFacts(hostRoot, id.release);
  const values = kconfig?.values;
  let btf: FactSection;
  let kfuncs: FactSection;
  try {
    ({ btf, kfuncs } = btfFacts(hostRoot, values));
  } catch (e) {
    btf = { collector: fact('error', undefined, `btf collector failed: ${(e as Error).message}`) };
    kfuncs = {};
  }
  return {
    kernel,
    config,
    btf,
    kfuncs,
    security: guarded('security', () => securityFacts(hostRoot, values)),
    capabilities: guarded('capabilities', () => capabilityFacts()),
    sysctl: await guardedAsync('sysctl', () => sysctlFacts(hostRoot, values)),
    mounts: guarded('mounts', () => mountFacts(hostRoot)),
    namespaces: guarded('namespaces', () => namespaceFacts(hostRoot)),
    cpu: guarded('cpu', () => cpuFacts(hostRoot, values, id.version)),
  };
}
