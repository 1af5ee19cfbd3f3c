// bpfready daemon: `serve`, plus publishing labels and conditions to the Node (src/publish).
import { launch } from '../daemon/launch.ts';

export const run = (argv: string[]): Promise<number> => launch('daemon', argv);
