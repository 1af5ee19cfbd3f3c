// Start the real `bpfready` binary and follow its JSON log lines (shared by the e2e tests and the
// daemon benchmarks).
import { spawn, type ChildProcess } from 'node:child_process';
import { join } from 'node:path';

export const BIN = join(import.meta.dirname, '../../bin/bpfready');

export interface Running {
  child: ChildProcess;
  /** The address from the "serving" log line. */
  url: string;
  logs: Record<string, unknown>[];
  exited: Promise<number | null>;
  /** ms from spawn to "serving". */
  listeningMs: number;
  startedAt: number;
}

/** Spawn `bpfready <command> --listen 127.0.0.1:0 ...args` (another tree's launcher: `bin`) and resolve once it listens. */
export function start(command: 'serve' | 'daemon', args: string[] = [], env: NodeJS.ProcessEnv = process.env, bin = BIN): Promise<Running> {
  const startedAt = performance.now();
  const child = spawn(bin, [command, '--listen', '127.0.0.1:0', ...args], { stdio: ['ignore', 'pipe', 'pipe'], env });
  const logs: Record<string, unknown>[] = [];
  const exited = new Promise<number | null>((resolve) => child.on('exit', (code) => resolve(code)));
  let stderr = '';
  child.stderr?.on('data', (d: Buffer) => (stderr += d.toString()));
  return new Promise((resolve, reject) => {
    let buf = '';
    child.stdout?.on('data', (d: Buffer) => {
      buf += d.toString();
      for (let nl = buf.indexOf('\n'); nl >= 0; nl = buf.indexOf('\n')) {
        const rec = JSON.parse(buf.slice(0, nl)) as Record<string, unknown>;
        buf = buf.slice(nl + 1);
        logs.push(rec);
        if (rec['msg'] === 'serving') {
          resolve({ child, url: String(rec['url']), logs, exited, listeningMs: performance.now() - startedAt, startedAt });
        }
      }
    });
    void exited.then((code) => reject(new Error(`bpfready ${command} exited with ${code} before serving: ${stderr}`)));
  });
}

/** Poll `fn` until it returns something other than undefined (a deadline, not a timed assertion). */
export async function until<T>(what: string, fn: () => Promise<T | undefined> | T | undefined, ms = 40_000): Promise<T> {
  const end = Date.now() + ms;
  for (;;) {
    const v = await fn();
    if (v !== undefined) return v;
    if (Date.now() > end) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 50));
  }
}
