// System facts against the real kernel of this machine. Needs root (mount namespaces, securityfs,
// capsh); when not root each test is skipped with the reason printed.
import { execFileSync } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { describe, expect, it } from 'vitest';
import { collectSystemFacts } from '../../src/facts/index.ts';
import { capabilityNames, parseProcStatus, readEffectiveCapabilities } from '../../src/kernel/procstatus.ts';
import { rootOnly } from '../helpers/root.ts';

const ROOT = fileURLToPath(new URL('../..', import.meta.url));
const NODE = `${ROOT}node_modules/.bin/node`;
const isRoot = !rootOnly('test/kernel/facts.test.ts (kernel facts: mount namespaces, capsh)');

/**
 * Run collectSystemFacts in a child process started by `wrapper` (unshare, capsh), which Node cannot do
 * to itself; the child also reads `files` itself so the test compares with the same namespace's truth.
 */
function childFacts(
  wrapper: (cmd: string) => string[],
  files: string[] = [],
): { facts: Awaited<ReturnType<typeof collectSystemFacts>>; files: Record<string, string | null> } {
  const script = `
    import { readFileSync } from 'node:fs';
    const { collectSystemFacts } = await import(${JSON.stringify(`${ROOT}src/facts/index.ts`)});
    const files = {};
    for (const f of ${JSON.stringify(files)}) { try { files[f] = readFileSync(f, 'utf8'); } catch { files[f] = null; } }
    process.stdout.write(JSON.stringify({ facts: await collectSystemFacts({}), files }));`;
  const cmd = `exec ${NODE} --input-type=module -e '${script.replaceAll("'", "'\\''")}'`;
  const [bin, ...args] = wrapper(cmd);
  return JSON.parse(execFileSync(bin!, args, { encoding: 'utf8', maxBuffer: 64 << 20 }));
}

describe.skipIf(!isRoot)('system facts on the running kernel', () => {
  it('reads the active LSM list and lockdown mode when securityfs is mounted', () => {
    const { facts, files } = childFacts(
      (cmd) => [
        'unshare',
        '-m',
        'sh',
        '-c',
        `mountpoint -q /sys/kernel/security || mount -t securityfs securityfs /sys/kernel/security; ${cmd}`,
      ],
      ['/sys/kernel/security/lsm', '/sys/kernel/security/lockdown'],
    );
    const lsm = files['/sys/kernel/security/lsm'];
    expect(lsm).toBeTypeOf('string');
    expect(facts.security.securityfs).toMatchObject({ status: 'supported' });
    expect(facts.security.lsm).toEqual({ status: 'supported', value: lsm!.trim().split(',') });
    const lockdown = files['/sys/kernel/security/lockdown'];
    if (lockdown === null) {
      expect(facts.security.lockdown).toMatchObject({ status: 'supported', value: 'none' });
    } else {
      expect(facts.security.lockdown).toMatchObject({ status: 'supported', value: /\[(\w+)\]/.exec(lockdown!)![1] });
    }
    // BPF LSM is effective only if built in *and* in the active list.
    const expectBpfLsm =
      facts.config.BPF_LSM?.value === 'y' &&
      lsm!
        .split(',')
        .map((s) => s.trim())
        .includes('bpf');
    expect(facts.security.bpf_lsm!.status).toBe(expectBpfLsm ? 'supported' : 'unsupported');
  });

  it('says "unknown: securityfs not mounted" when it is not, never an empty list', () => {
    const { facts } = childFacts((cmd) => ['unshare', '-m', 'sh', '-c', `umount -l /sys/kernel/security 2>/dev/null; ${cmd}`]);
    expect(facts.security.lsm).toEqual({ status: 'error', detail: 'unknown: securityfs not mounted' });
    expect(facts.security.lockdown).toEqual({ status: 'error', detail: 'unknown: securityfs not mounted' });
    expect(facts.security.ima).toEqual({ status: 'error', detail: 'unknown: securityfs not mounted' });
    expect(facts.mounts.securityfs).toMatchObject({ status: 'unsupported' });
  });

  it('reports the effective capability set that /proc/self/status holds, decoded as capsh decodes it', async () => {
    const capEff = /^CapEff:\s*([0-9a-f]+)$/m.exec(readFileSync('/proc/self/status', 'utf8'))![1]!;
    const decoded = execFileSync('capsh', [`--decode=${capEff}`], { encoding: 'utf8' })
      .trim()
      .split('=')[1]!
      .split(',')
      .filter(Boolean);
    const facts = await collectSystemFacts();
    expect(facts.capabilities.effective!.value).toEqual(decoded);
    expect(capabilityNames(readEffectiveCapabilities())).toEqual(decoded);
    expect(readEffectiveCapabilities()).toBe(parseProcStatus(readFileSync('/proc/self/status', 'utf8')).caps.effective);
  });

  it('names each dropped capability and what it blocks', () => {
    const { facts } = childFacts((cmd) => ['capsh', '--drop=cap_bpf,cap_perfmon,cap_sys_admin,cap_net_admin', '--', '-c', cmd]);
    const eff = facts.capabilities.effective!.value as string[];
    for (const cap of ['cap_bpf', 'cap_perfmon', 'cap_sys_admin', 'cap_net_admin']) {
      expect(eff).not.toContain(cap);
      expect(facts.capabilities[cap]).toMatchObject({
        status: 'not-permitted',
        value: false,
        detail: expect.stringMatching(/^missing from the effective set; blocks \S/),
      });
    }
    expect(facts.capabilities.cap_bpf!.detail).toMatch(/BTF_LOAD/);
    expect(facts.capabilities.cap_perfmon!.detail).toMatch(/kprobe/);
    expect(facts.capabilities.cap_net_admin!.detail).toMatch(/xdp/);
    expect(facts.capabilities.bounding!.value).not.toContain('cap_bpf');
  });

  it('takes the kernel config from /proc/config.gz and agrees with it', async () => {
    const facts = await collectSystemFacts();
    expect(facts.config.source).toEqual({ status: 'supported', value: '/proc/config.gz' });
    const text = execFileSync('sh', ['-c', 'zcat /proc/config.gz'], { encoding: 'utf8', maxBuffer: 64 << 20 });
    for (const opt of ['BPF_SYSCALL', 'KPROBES', 'BPF_LSM', 'DEBUG_INFO_BTF', 'BPF_JIT_ALWAYS_ON']) {
      const set = new RegExp(`^CONFIG_${opt}=(\\w+)$`, 'm').exec(text)?.[1];
      expect(facts.config[opt]!.status, opt).toBe(set === 'y' || set === 'm' ? 'supported' : 'unsupported');
    }
    expect(facts.kernel.release).toBe(execFileSync('uname', ['-r'], { encoding: 'utf8' }).trim());
  });

  it('counts the vmlinux BTF types and bpf_kfunc tags bpftool sees', async () => {
    const facts = await collectSystemFacts();
    const dump = execFileSync('bpftool', ['btf', 'dump', 'file', '/sys/kernel/btf/vmlinux'], { encoding: 'utf8', maxBuffer: 1 << 30 });
    const last = Number(/^\[(\d+)\][^\n]*\n(?:\t[^\n]*\n)*$/m.exec(dump.slice(dump.lastIndexOf('\n[')))?.[1] ?? NaN);
    expect((facts.btf.vmlinux!.value as { types: number }).types).toBe(last);
    const tagged = new Set([...dump.matchAll(/DECL_TAG 'bpf_kfunc' type_id=(\d+) component_idx=-1/g)].map((m) => m[1]));
    expect(Object.keys(facts.kfuncs).length).toBe(tagged.size);
  });

  it('reads every sysctl the same as /proc/sys', async () => {
    const facts = await collectSystemFacts();
    for (const [name, f] of Object.entries(facts.sysctl)) {
      expect(f.value, name).toBe(Number(readFileSync(`/proc/sys/${name.replaceAll('.', '/')}`, 'utf8').trim()));
    }
  });
});
