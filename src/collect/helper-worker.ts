// Worker thread body for the helper matrix (parallel.ts). It receives every prepared load — plain
// data whose fds stay open in the parent, which is the same process — and a shared counter; it
// claims program types from the counter, as the parent does, until none is left.
import { parentPort } from 'node:worker_threads';
import type { ProgLoadSpec } from '../native/bpf.ts';
import type { ProbeEnv } from '../contract/probe-env.ts';
import { probeHelpers } from '../probes/helpers.ts';
import type { ProbeResult } from '../contract/result.ts';

export interface WorkerJob {
  progType: string;
  spec: ProgLoadSpec;
  ids: number[];
}
export interface WorkerRequest {
  env: Pick<ProbeEnv, 'caps' | 'kernVersion' | 'unprivDisabled' | 'statsLog' | 'lockdown' | 'childUserNs' | 'initUserNs' | 'full'>;
  jobs: WorkerJob[];
  /** Int32Array over a SharedArrayBuffer: [0] is the index of the next unclaimed job. */
  next: Int32Array;
}
export interface WorkerReply {
  rows: { progType: string; ids: number[]; results: ProbeResult[] }[];
}

parentPort?.on('message', (req: WorkerRequest) => {
  const rows: WorkerReply['rows'] = [];
  for (let i = Atomics.add(req.next, 0, 1); i < req.jobs.length; i = Atomics.add(req.next, 0, 1)) {
    const { progType, spec, ids } = req.jobs[i]!;
    const row = probeHelpers(progType, { spec }, req.env as ProbeEnv, ids);
    rows.push({ progType, ids, results: Object.values(row) });
  }
  parentPort!.postMessage({ rows } satisfies WorkerReply);
});
