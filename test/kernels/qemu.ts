// Boots one kernel under qemu (TCG: KVM is not usable on the CI machine) and collects what the
// guest wrote to its second serial port.
import { spawn } from 'node:child_process';
import { readFileSync, rmSync } from 'node:fs';
import { gunzipSync } from 'node:zlib';
import { DATA_BEGIN, DATA_DONE, DATA_END } from './guest.ts';

export interface BootOptions {
  vmlinuz: string;
  initramfs: string;
  /** Files for the guest's console (ttyS0) and data port (ttyS1). */
  consoleLog: string;
  dataLog: string;
  memoryMiB: number;
  timeoutMs: number;
}

export interface StepOutput {
  stdout: string;
  stderr: string;
  rc: number;
  /** Guest seconds the step took (from /proc/uptime). */
  seconds: number;
}

export interface BootResult {
  /** Host wall-clock ms from qemu start to exit. */
  wallMs: number;
  timedOut: boolean;
  steps: Record<string, StepOutput>;
}

function qemuArgs(o: BootOptions): string[] {
  return [
    '-accel',
    'tcg',
    '-nodefaults',
    '-no-user-config',
    '-display',
    'none',
    '-no-reboot',
    '-m',
    String(o.memoryMiB),
    '-kernel',
    o.vmlinuz,
    '-initrd',
    o.initramfs,
    // panic=-1 + -no-reboot: if init dies the guest panics, reboots, and qemu exits instead of hanging.
    '-append',
    'console=ttyS0 quiet loglevel=3 panic=-1 rdinit=/init',
    '-serial',
    `file:${o.consoleLog}`,
    '-serial',
    `file:${o.dataLog}`,
  ];
}

/** Splits the data port's text into files; the tty turned "\n" into "\r\n". */
export function parseDataPort(text: string): { files: Record<string, Buffer>; complete: boolean } {
  const files: Record<string, Buffer> = {};
  let name: string | undefined;
  let chunks: string[] = [];
  let complete = false;
  for (const raw of text.split('\n')) {
    const line = raw.replace(/\r$/, '');
    if (line.startsWith(DATA_BEGIN)) {
      name = line.slice(DATA_BEGIN.length);
      chunks = [];
    } else if (line.startsWith(DATA_END) && name === line.slice(DATA_END.length)) {
      files[name] = gunzipSync(Buffer.from(chunks.join(''), 'base64'));
      name = undefined;
    } else if (line === DATA_DONE) {
      complete = true;
    } else if (name !== undefined) {
      chunks.push(line);
    }
  }
  return { files, complete };
}

function stepsFrom(files: Record<string, Buffer>): Record<string, StepOutput> {
  const steps: Record<string, StepOutput> = {};
  for (const [file, buf] of Object.entries(files)) {
    const m = /^(.*)\.rc$/.exec(file);
    if (!m?.[1]) continue;
    const name = m[1];
    const [t0, t1] = (files[`${name}.time`]?.toString() ?? '').trim().split(' ').map(Number);
    steps[name] = {
      stdout: files[`${name}.stdout`]?.toString() ?? '',
      stderr: files[`${name}.stderr`]?.toString() ?? '',
      rc: Number(buf.toString().trim()),
      seconds: t0 !== undefined && t1 !== undefined ? Math.round((t1 - t0) * 100) / 100 : NaN,
    };
  }
  return steps;
}

export async function boot(o: BootOptions): Promise<BootResult> {
  rmSync(o.dataLog, { force: true });
  rmSync(o.consoleLog, { force: true });
  const start = Date.now();
  const child = spawn('qemu-system-x86_64', qemuArgs(o), { stdio: ['ignore', 'ignore', 'pipe'] });
  let stderr = '';
  child.stderr.on('data', (d: Buffer) => (stderr += d.toString()));
  let timedOut = false;
  const timer = setTimeout(() => {
    timedOut = true;
    child.kill('SIGKILL');
  }, o.timeoutMs);
  const code = await new Promise<number | null>((resolve, reject) => {
    child.on('error', reject);
    child.on('exit', (c) => resolve(c));
  });
  clearTimeout(timer);
  if (code !== 0 && !timedOut) throw new Error(`qemu-system-x86_64 exited with ${code}: ${stderr.trim()}`);
  let data = '';
  try {
    data = readFileSync(o.dataLog, 'utf8');
  } catch {
    // No data port output at all: the guest never got to the end; the caller reports the console.
  }
  const { files } = parseDataPort(data);
  return { wallMs: Date.now() - start, timedOut, steps: stepsFrom(files) };
}
