// bpfready serve: probe and serve /metrics, /healthz, /readyz, /status without a cluster.
import { launch } from '../server/launch.ts';

export const run = (argv: string[]): Promise<number> => launch('serve', argv);
