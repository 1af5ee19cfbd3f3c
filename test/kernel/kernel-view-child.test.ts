// The real kernel view process on this kernel (src/daemon/kernel-view-child.ts, started as the daemon
// starts it: the pinned node with bin/bpfready's daemon flags): what it hands back decodes to the
// view collectKernelView() collects in process, and names the build runningBuildDigest() names.
// BPF programs loaded meanwhile (by this test's own GPL probes, or by tests running beside it) come
// and go in /proc/kallsyms as bpf_prog_<tag>_<name>: they are left out of the comparison.
import { readFileSync } from 'node:fs';
import { machine, release, version } from 'node:os';
import { brotliDecompressSync } from 'node:zlib';
import { describe, expect, it } from 'vitest';
import type { KernelViewSection } from '../../src/contract/report.ts';
import { collectViewInChild } from '../../src/daemon/kernel-view.ts';
import { packedViewProblem } from '../../src/publish/packed-view.ts';
import { kernelBuildDigest, runningBuildDigest } from '../../src/requirements/build-digest.ts';
import { collectKernelView } from '../../src/requirements/saved-view.ts';
import { daemonNodeFlags, PINNED_NODE } from '../helpers/launcher.ts';
import { rootOnly } from '../helpers/root.ts';

const skip = rootOnly('test/kernel/kernel-view-child.test.ts (the kernel view of this kernel, GPL-only helpers by loading programs)');
const REPORT = { kernel: { release: release(), version: version(), machine: machine() } };
const unpack = (s: string): Buffer => brotliDecompressSync(Buffer.from(s, 'base64'));
const TRANSIENT = /^bpf_prog_[0-9a-f]{16}(_|$)|^bpf_trampoline_\d+$/;

/** The view with its function list as name -> "has BTF", the transient BPF program symbols left out. */
function comparable(v: KernelViewSection) {
  const { functions, btfFunctions, ...rest } = v;
  const names = functions ? unpack(functions).toString('utf8').split('\n') : [];
  const bits = btfFunctions ? unpack(btfFunctions) : Buffer.alloc(0);
  const fns = Object.fromEntries(
    names.map((n, i) => [n, Boolean(((bits[i >> 3] ?? 0) >> (i & 7)) & 1)]).filter(([n]) => !TRANSIENT.test(n as string)),
  );
  return { ...rest, functions: fns };
}

describe.skipIf(skip)('the kernel view process on this kernel', () => {
  it("hands back, under the daemon's node and flags, the view collectKernelView() collects in process", async () => {
    const packed = await collectViewInChild(REPORT, { hostRoot: '/', execPath: PINNED_NODE, execArgv: daemonNodeFlags() });
    expect(packedViewProblem(packed)).toBeUndefined();
    const inProcess = collectKernelView('/', REPORT);
    const fromChild = JSON.parse(brotliDecompressSync(packed.bytes).toString('utf8')) as KernelViewSection;
    expect(Object.keys(comparable(inProcess).functions).length).toBeGreaterThan(10_000);
    expect(comparable(fromChild)).toEqual(comparable(inProcess));
    expect({ digest: packed.digest, release: packed.release }).toEqual({ digest: inProcess.build.digest, release: release() });
  }, 120_000);

  it("names the build as the view does: the BTF file's digest, hashed in pieces", () => {
    const whole = kernelBuildDigest(REPORT, readFileSync('/sys/kernel/btf/vmlinux'));
    expect(runningBuildDigest('/', REPORT)).toBe(whole);
    expect(whole).toBe(collectKernelView('/', REPORT).build.digest);
  }, 60_000);
});
