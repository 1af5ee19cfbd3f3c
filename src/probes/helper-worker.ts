// Worker thread body for the helper matrix (parallel.ts). It receives prepared loads — plain data
// whose fds stay open in the parent, which is the same process — and answers with result rows.
import { parentPort } from 'node:worker_threads';
import { probeHelpers, type PreparedLoad, type ProbeEnv } from './engine.ts';
import type { ProbeResult } from './result.ts';

export interface WorkerJob {
  progType: string;
  spec: PreparedLoad['spec'];
  ids: number[];
}
export interface WorkerRequest {
  env: Pick<ProbeEnv, 'caps' | 'kernVersion' | 'unprivDisabled'>;
  jobs: WorkerJob[];
}
export interface WorkerReply {
  rows: { progType: string; ids: number[]; results: ProbeResult[] }[];
}

// Tell the parent the imports are done: it hands out work only to workers that can start at once.
parentPort?.postMessage({ ready: true });

parentPort?.on('message', (req: WorkerRequest) => {
  const rows = req.jobs.map(({ progType, spec, ids }) => {
    const row = probeHelpers(progType, { spec, deps: [], label: progType }, req.env as ProbeEnv, ids);
    return { progType, ids, results: Object.values(row) };
  });
  parentPort!.postMessage({ rows } satisfies WorkerReply);
});
