// Worker thread body for the attach section: its probes spend most of their time waiting on the
// kernel (uprobe registration, a private tracefs mount, a network namespace), so on the first probe
// they run here, beside the helper matrix, instead of after it. vmlinux BTF comes from the main
// thread as the answers to the attach probes' questions (in workerData, or the first message).
import { parentPort, workerData } from 'node:worker_threads';
import { answeredBtf } from '../attach/btf-answers.ts';
import { probeAttach } from '../attach/index.ts';
import type { AttachBtfInput } from './index.ts';

const data = workerData as { hostRoot: string; btf?: AttachBtfInput };
const input = data.btf ?? (await new Promise<AttachBtfInput>((resolve) => parentPort!.once('message', resolve)));
probeAttach({ hostRoot: data.hostRoot, ...('btf' in input ? { btf: answeredBtf(input.btf) } : input) }).then(
  (section) => parentPort!.postMessage({ section }),
  (err: unknown) => parentPort!.postMessage({ error: err instanceof Error ? err.message : String(err) }),
);
