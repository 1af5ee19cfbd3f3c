// The helper matrix's loads through `bpfready-shim loads` (docs/native-shim.md): a C process forks
// one loader per CPU, makes the loads and hands back each one's errno and verifier log. The
// programs, the attrs' contents and every interpretation stay here; the shim only loads. It exists
// because a Node worker thread costs ~50 ms to start, as much as the loads it would share.
import { spawn } from 'node:child_process';
import type { ProgLoadSpec } from '../native/bpf.ts';
import type { RawOutcome } from '../contract/interpret.ts';

export interface ShimRow {
  spec: ProgLoadSpec;
  /** Indexes into the batch's programs, one load each. */
  progs: readonly number[];
}

export interface ShimBatch {
  rows: readonly ShimRow[];
  /** Encoded programs (8 bytes per instruction). */
  programs: readonly Uint8Array[];
  logLevel: number;
  logSize: number;
}

/** Whether the shim can make this load: no fd of ours in the attr (a child has none of them), no token. */
export function shimCanLoad(spec: ProgLoadSpec): boolean {
  return (
    spec.attachProgFd === undefined &&
    spec.attachBtfObjFd === undefined &&
    spec.progBtfFd === undefined &&
    spec.funcInfo === undefined &&
    spec.fdArray === undefined &&
    spec.tokenFd === undefined &&
    spec.name === undefined
  );
}

const BATCH_MAGIC = 0x314c5242; // "BRL1"
const ANSWER_MAGIC = 0x31415242; // "BRA1"
const END_MAGIC = 0x31455242; // "BRE1"

/** The batch as the shim reads it on stdin. */
export function encodeBatch(batch: ShimBatch): Uint8Array {
  const enc = new TextEncoder();
  const licenses = batch.rows.map((r) => enc.encode(r.spec.license ?? 'GPL'));
  const nreqs = batch.rows.reduce((n, r) => n + r.progs.length, 0);
  let size = 24;
  for (const l of licenses) size += 24 + ((l.length + 3) & ~3);
  for (const p of batch.programs) size += 4 + p.length;
  size += nreqs * 8;
  const out = new Uint8Array(size);
  const v = new DataView(out.buffer);
  let o = 0;
  const u32 = (x: number) => {
    v.setUint32(o, x >>> 0, true);
    o += 4;
  };
  for (const x of [BATCH_MAGIC, batch.rows.length, batch.programs.length, nreqs, batch.logLevel, batch.logSize]) u32(x);
  batch.rows.forEach((r, i) => {
    const s = r.spec;
    for (const x of [s.progType, s.expectedAttachType ?? 0, s.progFlags ?? 0, s.attachBtfId ?? 0, s.kernVersion ?? 0, licenses[i]!.length])
      u32(x);
    out.set(licenses[i]!, o);
    o += (licenses[i]!.length + 3) & ~3;
  });
  for (const p of batch.programs) {
    if (p.length % 8 || !p.length) throw new Error(`a program of ${p.length} bytes is not whole instructions`);
    u32(p.length / 8);
    out.set(p, o);
    o += p.length;
  }
  batch.rows.forEach((r, row) => {
    for (const p of r.progs) {
      u32(row);
      u32(p);
    }
  });
  return out;
}

/**
 * The shim's answers, one list per row in request order. Anything but exactly the expected answers
 * (count, framing, end mark) or capabilities other than ours is an error: the caller then loads in
 * process (a load with other privileges would answer another question).
 */
export function decodeAnswers(buf: Uint8Array, batch: ShimBatch, caps: bigint): RawOutcome[][] {
  const v = new DataView(buf.buffer, buf.byteOffset, buf.byteLength);
  const nreqs = batch.rows.reduce((n, r) => n + r.progs.length, 0);
  const need = (o: number, n: number, what: string) => {
    if (o + n > buf.length) throw new Error(`answers truncated at byte ${buf.length} (in ${what})`);
  };
  need(0, 16, 'the header');
  if (v.getUint32(0, true) !== ANSWER_MAGIC) throw new Error('answers do not start with BRA1');
  const count = v.getUint32(4, true);
  if (count !== nreqs) throw new Error(`${count} answers for ${nreqs} requests`);
  const theirs = BigInt(v.getUint32(8, true)) | (BigInt(v.getUint32(12, true)) << 32n);
  if (theirs !== caps)
    throw new Error(`the shim runs with capabilities 0x${theirs.toString(16)}, this process with 0x${caps.toString(16)}`);
  const dec = new TextDecoder();
  let o = 16;
  const out: RawOutcome[][] = [];
  for (const r of batch.rows) {
    const row: RawOutcome[] = [];
    for (let k = 0; k < r.progs.length; k++) {
      need(o, 8, 'an answer');
      const errno = v.getInt32(o, true);
      const len = v.getUint32(o + 4, true);
      o += 8;
      need(o, len, 'a verifier log');
      const log = batch.logLevel > 0 ? dec.decode(buf.subarray(o, o + len)) : '';
      o += len;
      if (errno < 0) throw new Error(`answer with errno ${errno}`);
      row.push(errno === 0 ? { ok: true, log } : { ok: false, errno, log });
    }
    out.push(row);
  }
  need(o, 4, 'the end mark');
  if (v.getUint32(o, true) !== END_MAGIC || o + 4 !== buf.length) throw new Error('answers do not end with BRE1 after the last answer');
  return out;
}

/**
 * What a row asks the kernel, as the shim gets it: the attr's fields and the programs, in order. Two
 * rows with the same key are the same loads (src/collect/shim-early.ts matches on it).
 */
export function rowKey(spec: ProgLoadSpec, progs: readonly number[]): string {
  const s = spec;
  return `${s.progType},${s.expectedAttachType ?? 0},${s.progFlags ?? 0},${s.attachBtfId ?? 0},${s.kernVersion ?? 0},${s.license ?? 'GPL'}|${progs.join(',')}`;
}

/** Whether two batches load the same programs with the same log (their rows aside). */
export function sameLoads(a: Omit<ShimBatch, 'rows'>, b: Omit<ShimBatch, 'rows'>): boolean {
  if (a.logLevel !== b.logLevel || a.logSize !== b.logSize || a.programs.length !== b.programs.length) return false;
  return a.programs.every((p, i) => {
    const q = b.programs[i]!;
    return p === q || (p.length === q.length && p.every((x, k) => x === q[k]));
  });
}

/** A batch handed to the shim: its answers, still encoded, and a way to stop it early. */
export interface ShimRun {
  /** The shim's output once it exited 0; rejects with one line saying what went wrong. */
  output: Promise<Uint8Array>;
  /** Stop the shim if it is still running (its answers are then not wanted). */
  kill(): void;
}

/** Start the shim on one batch. */
export function startShim(shim: string, batch: ShimBatch, workers?: number): ShimRun {
  const input = encodeBatch(batch);
  const child = spawn(shim, ['loads', ...(workers ? ['--workers', String(workers)] : [])], { stdio: ['pipe', 'pipe', 'pipe'] });
  const output = new Promise<Uint8Array>((resolve, reject) => {
    const out: Buffer[] = [];
    const err: Buffer[] = [];
    child.stdout.on('data', (b: Buffer) => out.push(b));
    child.stderr.on('data', (b: Buffer) => err.push(b));
    child.stdin.on('error', () => undefined);
    child.on('error', (e) => reject(new Error(`${shim} loads: ${e.message}`)));
    child.on('close', (code, signal) => {
      if (code !== 0) {
        const why = Buffer.concat(err).toString().trim().split('\n').pop() || `no message`;
        reject(new Error(`${shim} loads ${signal ? `killed by ${signal}` : `exited ${code}`}: ${why}`));
        return;
      }
      resolve(Buffer.concat(out));
    });
  });
  output.catch(() => undefined);
  child.stdin.end(input);
  return {
    output,
    kill: () => {
      if (child.exitCode === null && child.signalCode === null) child.kill('SIGKILL');
    },
  };
}

/** Run one batch through the shim; rejects with one line saying what went wrong. */
export async function shimLoads(shim: string, batch: ShimBatch, caps: bigint, workers?: number): Promise<RawOutcome[][]> {
  const output = await startShim(shim, batch, workers).output;
  try {
    return decodeAnswers(output, batch, caps);
  } catch (e) {
    throw new Error(`${shim} loads: ${(e as Error).message}`);
  }
}
