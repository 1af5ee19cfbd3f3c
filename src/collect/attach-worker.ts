// Worker thread body for the attach section: its probes spend most of their time waiting on the
// kernel (uprobe registration, a private tracefs mount, a network namespace), so on the first probe
// they run here, beside the helper matrix, instead of after it.
import { parentPort, workerData } from 'node:worker_threads';
import { probeAttach } from '../attach/index.ts';

const { hostRoot } = workerData as { hostRoot: string };
probeAttach({ hostRoot }).then(
  (section) => parentPort!.postMessage({ section }),
  (err: unknown) => parentPort!.postMessage({ error: err instanceof Error ? err.message : String(err) }),
);
