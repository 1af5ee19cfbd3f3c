// bpfready daemon: `serve`, plus publishing labels and conditions to the Node (src/publish).
import { launch } from '../server/launch.ts';

export const run = (argv: string[]): Promise<number> => launch('daemon', argv);
