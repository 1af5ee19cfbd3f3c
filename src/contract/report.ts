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
  /** Sections filled by the system-facts, token and attach collectors (docs/json.md). */
  [section: string]: unknown;
}
