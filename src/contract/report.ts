// The shape of `bpfready probe --json` (docs/json.md). Public interface: add, never rename or repurpose.
import type { ProbeResult, ResultMap } from './result.ts';

export type Json = string | number | boolean | null | Json[] | { [k: string]: Json };

/** A system fact: a result in the probe contract, with the observed value when there is one. */
export interface Fact extends ProbeResult {
  value?: Json;
}
export type FactSection = Record<string, Fact>;

export interface KernelInfo {
  release: string;
  version: string;
  machine: string;
}

/** What the probes ran as: results that are not conclusive are only true for this context. */
export interface PrivilegeContext {
  euid: number;
  /** Effective capabilities, by name (cap_bpf, ...). */
  effective: string[];
  /** Token used for the `token` section, if any. */
  tokenMount?: string;
  /**
   * false when we run in a child user namespace (a rootless container): bpf() then counts none of
   * `effective` (without a token), and results say so. Absent in the initial user namespace.
   */
  initUserNamespace?: false;
}

export interface BpffsMount {
  /** The node's path of the mount. */
  path: string;
  /** Where this process reaches it, when that is not `path` (under the host root, in a pod). */
  localPath?: string;
  delegate: { cmds: string[]; maps: string[]; progs: string[]; attachs: string[] };
  token: ProbeResult;
}

export interface TokenProbe {
  mount: string;
  programTypes: ResultMap;
  mapTypes: ResultMap;
  helpers?: Record<string, ResultMap>;
  misc?: ResultMap;
}

/**
 * `probe --json --kernel-view` (docs/json.md "kernelView"): what check() needs of the kernel beyond
 * the probe tables, so a saved report can be checked without the node. Blobs are brotli, base64.
 */
export interface KernelViewSection {
  version: 1;
  /** The kernel build; digest: sha256 of its vmlinux BTF (of release, version and machine without BTF). */
  build: { release: string; version: string; machine: string; digest: string };
  encoding: 'brotli+base64';
  /** Raw BTF: vmlinux minimized for CO-RE (src/kernel/btf-minimize.ts), FUNCs left out. */
  btf?: string;
  /** Every module's BTF as one split blob on `btf`. */
  moduleBtf?: string;
  modules?: string[];
  /** Sorted, newline-separated names of the kernel's functions: kallsyms text symbols and BTF FUNCs. */
  functions?: string;
  /** A bitmap over `functions`: bit i set when function i is a FUNC of the kernel's BTF (fentry, LSM targets). */
  btfFunctions?: string;
  /** Sorted, newline-separated tracefs events, "category/name". */
  tracepoints?: string;
  /** Sorted lines NAME=value (without CONFIG_) of every option set in the kernel's config. */
  kconfig?: string;
  kconfigSource?: string;
  /** The verifier's answer to a one-call load licensed "Proprietary", per helper. */
  helpers: { gplOnly: string[]; notGplOnly: string[]; unknown: Record<string, string> };
  /** Parts that could not be collected, and why. */
  problems?: Record<string, string>;
}

export interface ProbeReport {
  schemaVersion: 1;
  generatedAt: string;
  durationMs: number;
  kernel: KernelInfo;
  context: PrivilegeContext;
  programTypes: ResultMap;
  mapTypes: ResultMap;
  /** helpers[progType][helperName] */
  helpers: Record<string, ResultMap>;
  /** Per expected attach type (the kernel's name, e.g. cgroup_inet4_connect): does a program with it load (docs/json.md). */
  attachTypes: ResultMap;
  misc: ResultMap;
  /** With `probe --kernel-view` only. */
  kernelView?: KernelViewSection;
  /** Sections filled by the system-facts, token and attach collectors (docs/json.md). */
  [section: string]: unknown;
}
