// bpfready daemon: `serve`, plus publishing labels and conditions to the Node (src/publish).
import { runCommand } from '../main.ts';

export function run(argv: string[]): Promise<number> {
  return runCommand('daemon', argv);
}
