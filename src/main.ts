// Entry point of the `bpfready` command. It only dispatches: each sub-command lives in
// src/commands/<name>.ts and exports `run(argv): Promise<number>` (the exit code).
// Exit codes (public): 0 ok, 1 requirement unmet / command failed, 2 bad input or usage.
import { argv, exit, stderr } from 'node:process';

const COMMANDS: Record<string, string> = {
  probe: 'probe the running kernel and print a report (--json for the document)',
  check: 'check requirements (--profile NAME, --elf FILE) against this node',
  serve: 'probe, then serve /metrics, /healthz, /readyz and /status without a cluster',
  daemon: 'serve, and publish node labels and conditions to Kubernetes',
  nodes: 'which nodes of the cluster can run this (--elf FILE, --profile NAME): from what the daemons published',
  prune: 'remove everything bpfready published on this node, and nothing else',
};

function usage(): string {
  const lines = Object.entries(COMMANDS).map(([c, d]) => `  ${c.padEnd(8)} ${d}`);
  return `usage: bpfready <command> [options]\n\ncommands:\n${lines.join('\n')}\n\nbpfready <command> --help for its options.\n`;
}

async function main(args: string[]): Promise<number> {
  const [cmd, ...rest] = args;
  if (!cmd || cmd === '--help' || cmd === '-h' || cmd === 'help') {
    (cmd ? process.stdout : stderr).write(usage());
    return cmd ? 0 : 2;
  }
  if (!Object.hasOwn(COMMANDS, cmd)) {
    stderr.write(`bpfready: unknown command "${cmd}"\n\n${usage()}`);
    return 2;
  }
  // `probe` spends its first ~50 ms importing: start the helper loads meanwhile, before anything
  // else is imported. With the native shim (docs/native-shim.md), its first batch goes out now, a
  // guess at the rows of the program types that need no BTF (src/collect/shim-early.ts; not for
  // --full, whose rows hold more helpers); without it, the helper worker threads start (probe.ts
  // takes them, or closes them for another --workers).
  if (cmd === 'probe' && !rest.some((a) => a === '--help' || a === '-h' || a.startsWith('--workers'))) {
    const shim = (await import('./collect/shim-path.ts')).loadShimPath();
    if (!shim) (await import('./collect/helper-pool.ts')).prewarmHelperPool();
    else if (!rest.some((a) => a.startsWith('--full'))) (await import('./collect/shim-early.ts')).speculateHelperLoads(shim);
  }
  const mod = (await import(`./commands/${cmd}.ts`)) as { run(argv: string[]): Promise<number> };
  return mod.run(rest);
}

// A reader that goes away (`bpfready probe | head`) is not an error of ours.
process.stdout.on('error', (err: NodeJS.ErrnoException) => {
  if (err.code === 'EPIPE') exit(0);
  throw err;
});

main(argv.slice(2)).then(
  (code) => {
    process.exitCode = code;
  },
  (err: unknown) => {
    // Bad input is reported by the commands themselves with exit code 2; reaching this point is a bug.
    stderr.write(`bpfready: internal error: ${err instanceof Error ? (err.stack ?? err.message) : String(err)}\n`);
    exit(70);
  },
);
