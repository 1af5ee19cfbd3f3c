// bpfready serve: probe and serve /metrics, /healthz, /readyz, /status without a cluster.
import { launch } from '../daemon/launch.ts';

export const run = (argv: string[]): Promise<number> => launch('serve', argv);
