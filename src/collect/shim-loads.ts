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
 * Reads the shim's answers as they come (the shim writes them as they are done, in request order):
 * the header, then each row once all its answers are there, then the end mark. Anything but exactly
 * the expected answers (count, framing, end mark) is an error, thrown by push() or end().
 */
export class AnswerReader {
  readonly #batch: ShimBatch;
  readonly #nreqs: number;
  /** Bytes not read yet: the tail of what came. */
  #buf: Buffer = Buffer.alloc(0);
  /** Bytes consumed before #buf. */
  #base = 0;
  #row = 0;
  #current: RawOutcome[] = [];
  #ended = false;
  /** The shim's effective capabilities, once its header came. */
  caps: bigint | undefined;
  /** Each row whose answers are all there, by index in the batch. */
  readonly rows: (RawOutcome[] | undefined)[] = [];
  /** Called with each row as it completes. */
  onRow: ((row: number) => void) | undefined;

  constructor(batch: ShimBatch) {
    this.#batch = batch;
    this.#nreqs = batch.rows.reduce((n, r) => n + r.progs.length, 0);
  }

  push(chunk: Uint8Array): void {
    if (this.#ended) throw new Error('answers do not end with BRE1 after the last answer');
    this.#buf = this.#buf.length ? Buffer.concat([this.#buf, chunk]) : Buffer.from(chunk.buffer, chunk.byteOffset, chunk.byteLength);
    const buf = this.#buf;
    let o = 0;
    if (this.caps === undefined) {
      if (buf.length < 16) return;
      if (buf.readUInt32LE(0) !== ANSWER_MAGIC) throw new Error('answers do not start with BRA1');
      const count = buf.readUInt32LE(4);
      if (count !== this.#nreqs) throw new Error(`${count} answers for ${this.#nreqs} requests`);
      this.caps = BigInt(buf.readUInt32LE(8)) | (BigInt(buf.readUInt32LE(12)) << 32n);
      o = 16;
    }
    const rows = this.#batch.rows;
    const withLog = this.#batch.logLevel > 0;
    while (this.#row < rows.length) {
      const want = rows[this.#row]!.progs.length;
      while (this.#current.length < want) {
        if (o + 8 > buf.length) return this.#keep(o);
        const errno = buf.readInt32LE(o);
        const len = buf.readUInt32LE(o + 4);
        if (o + 8 + len > buf.length) return this.#keep(o);
        // Buffer's own UTF-8 decoding: a few times cheaper than a TextDecoder for ~6,000 short logs.
        const log = withLog && len ? buf.toString('utf8', o + 8, o + 8 + len) : '';
        o += 8 + len;
        if (errno < 0) throw new Error(`answer with errno ${errno}`);
        this.#current.push(errno === 0 ? { ok: true, log } : { ok: false, errno, log });
      }
      const row = this.#row++;
      this.rows[row] = this.#current;
      this.#current = [];
      this.onRow?.(row);
    }
    if (o + 4 > buf.length) return this.#keep(o);
    if (buf.readUInt32LE(o) !== END_MAGIC || o + 4 !== buf.length) throw new Error('answers do not end with BRE1 after the last answer');
    this.#ended = true;
    this.#keep(o + 4);
  }

  #keep(o: number): void {
    this.#base += o;
    this.#buf = this.#buf.subarray(o);
  }

  /** The shim has exited: every row's answers, or an error saying where they stopped. */
  end(): RawOutcome[][] {
    if (!this.#ended) {
      const at = this.#base + this.#buf.length;
      const what =
        this.caps === undefined
          ? 'the header'
          : this.#row === this.#batch.rows.length
            ? 'the end mark'
            : this.#buf.length >= 8
              ? 'a verifier log'
              : 'an answer';
      throw new Error(`answers truncated at byte ${at} (in ${what})`);
    }
    return this.rows as RawOutcome[][];
  }
}

/** Refuse answers given with other capabilities than ours: a load with other privileges answers another question. */
export function checkCaps(theirs: bigint | undefined, caps: bigint): void {
  if (theirs !== caps)
    throw new Error(`the shim runs with capabilities 0x${(theirs ?? 0n).toString(16)}, this process with 0x${caps.toString(16)}`);
}

/**
 * The shim's answers, one list per row in request order. Anything but exactly the expected answers
 * (count, framing, end mark) or capabilities other than ours is an error: the caller then loads in
 * process (a load with other privileges would answer another question).
 */
export function decodeAnswers(buf: Uint8Array, batch: ShimBatch, caps: bigint): RawOutcome[][] {
  const reader = new AnswerReader(batch);
  reader.push(buf);
  if (reader.caps !== undefined) checkCaps(reader.caps, caps);
  return reader.end();
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

/** A batch handed to the shim. */
export interface ShimRun {
  /** Its answers as they come: a row may be read before the shim has finished (and failed). */
  reader: AnswerReader;
  /** Every row's answers once the shim exited 0 having answered the whole batch; rejects with one line saying what went wrong. */
  done: Promise<RawOutcome[][]>;
  /** Stop the shim if it is still running (its answers are then not wanted). */
  kill(): void;
}

/** Start the shim on one batch. */
export function startShim(shim: string, batch: ShimBatch, workers?: number): ShimRun {
  const input = encodeBatch(batch);
  const child = spawn(shim, ['loads', ...(workers ? ['--workers', String(workers)] : [])], { stdio: ['pipe', 'pipe', 'pipe'] });
  const reader = new AnswerReader(batch);
  const done = new Promise<RawOutcome[][]>((resolve, reject) => {
    let bad: Error | undefined;
    const err: Buffer[] = [];
    child.stdout.on('data', (b: Buffer) => {
      if (bad) return;
      try {
        reader.push(b);
      } catch (e) {
        bad = e as Error;
      }
    });
    child.stderr.on('data', (b: Buffer) => err.push(b));
    child.stdin.on('error', () => undefined);
    child.on('error', (e) => reject(new Error(`${shim} loads: ${e.message}`)));
    child.on('close', (code, signal) => {
      if (code !== 0) {
        const why = Buffer.concat(err).toString().trim().split('\n').pop() || `no message`;
        reject(new Error(`${shim} loads ${signal ? `killed by ${signal}` : `exited ${code}`}: ${why}`));
        return;
      }
      try {
        if (bad) throw bad;
        resolve(reader.end());
      } catch (e) {
        reject(new Error(`${shim} loads: ${(e as Error).message}`));
      }
    });
  });
  done.catch(() => undefined);
  // The batch fits the pipe (docs/native-shim.md): it is written now, and the shim starts loading
  // without waiting for this end to be closed.
  child.stdin.end(input);
  return {
    reader,
    done,
    kill: () => {
      if (child.exitCode === null && child.signalCode === null) child.kill('SIGKILL');
    },
  };
}

/** Run one batch through the shim; rejects with one line saying what went wrong. */
export async function shimLoads(shim: string, batch: ShimBatch, caps: bigint, workers?: number): Promise<RawOutcome[][]> {
  const run = startShim(shim, batch, workers);
  const rows = await run.done;
  try {
    checkCaps(run.reader.caps, caps);
  } catch (e) {
    throw new Error(`${shim} loads: ${(e as Error).message}`);
  }
  return rows;
}
