// Everything the attach probes share: the host root, vmlinux BTF, the kernel config and our
// capabilities. Built once per probeAttach() run.
import { configState, type ConfigState, type PrivateRead } from './env.ts';

/**
 * Every program the attach probes load carries this name, so a test (or an operator running
 * `bpftool prog list`) can tell ours apart and see that none outlives a probe run.
 */
export const PROG_NAME = 'bpfready_attach';

/**
 * The two questions the attach probes ask of vmlinux BTF. A parsed Btf answers them, and so does the
 * table of answers the tables' BTF pass made for the attach probes (btf-answers.ts).
 */
export interface AttachBtf {
  findId(kind: number, name: string): number | undefined;
  /** size_or_type of a type: a STRUCT's size. */
  typeRef(id: number): number;
}

export interface AttachContext {
  hostRoot: string;
  /** vmlinux BTF, or undefined with btfMissing saying why. */
  btf: AttachBtf | undefined;
  btfMissing?: string;
  config: Map<string, string> | undefined;
  caps: bigint | undefined;
  /** How to read tracefs and securityfs files when the node has not mounted them (default: a child process, env.ts). */
  privately?: PrivateRead;
}

export function config(ctx: AttachContext, name: string): ConfigState {
  return configState(ctx.config, name);
}

/** "CONFIG_X is not set" when the config says so; undefined when set or unknown. */
export function unsetOption(ctx: AttachContext, name: string): string | undefined {
  return config(ctx, name) === 'unset' ? `${name} is not set` : undefined;
}

/**
 * The reason to give when a hook that depends on `option` is refused: "CONFIG_X is not set" when the
 * config says so, "needs CONFIG_X; the kernel config is unreadable" when we cannot tell, and nothing
 * when the option is set (then the option is not the reason).
 */
export function missingOption(ctx: AttachContext, option: string): string | undefined {
  const state = config(ctx, option);
  if (state === 'unset') return `${option} is not set`;
  if (state === 'unknown') return `needs ${option}; the kernel config is unreadable`;
  return undefined;
}
