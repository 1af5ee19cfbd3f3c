// bpfready serve: probe and serve /metrics, /healthz, /readyz, /status without a cluster.
import { runCommand } from '../main.ts';

export function run(argv: string[]): Promise<number> {
  return runCommand('serve', argv);
}
