// A small deterministic fuzzer for our pure parsers: random inputs and mutations of valid seeds.
// A parser passes when every input either parses or throws ParseError (a clear error that names the
// input); any other exception is a crash. Hangs are caught by timing each input.
import { ParseError } from '../../src/base/errors.ts';

/** xorshift32: deterministic, so a failure reproduces from its seed. */
export function rng(seed: number): () => number {
  let s = seed >>> 0 || 1;
  return () => {
    s ^= s << 13;
    s >>>= 0;
    s ^= s >>> 17;
    s ^= s << 5;
    s >>>= 0;
    return s / 0x1_0000_0000;
  };
}

export function mutateBytes(seed: Uint8Array, rand: () => number): Uint8Array {
  const out = Array.from(seed);
  const n = 1 + Math.floor(rand() * 8);
  for (let i = 0; i < n; i++) {
    const op = Math.floor(rand() * 6);
    const at = Math.floor(rand() * (out.length + 1));
    switch (op) {
      case 0: // flip a bit
        if (out.length) out[at % out.length]! ^= 1 << Math.floor(rand() * 8);
        break;
      case 1: // random byte
        if (out.length) out[at % out.length] = Math.floor(rand() * 256);
        break;
      case 2: // insert random bytes
        out.splice(at, 0, ...Array.from({ length: 1 + Math.floor(rand() * 8) }, () => Math.floor(rand() * 256)));
        break;
      case 3: // delete a run
        out.splice(at, 1 + Math.floor(rand() * 16));
        break;
      case 4: // duplicate a run
        out.splice(at, 0, ...out.slice(at, at + 1 + Math.floor(rand() * 32)));
        break;
      case 5: // interesting integers
        if (out.length >= 4) {
          const v = [0, 0xff, 0xffff, 0x7fffffff, 0xffffffff, 0x80000000][Math.floor(rand() * 6)]!;
          const p = at % (out.length - 3);
          out[p] = v & 0xff;
          out[p + 1] = (v >>> 8) & 0xff;
          out[p + 2] = (v >>> 16) & 0xff;
          out[p + 3] = (v >>> 24) & 0xff;
        }
        break;
    }
  }
  return Uint8Array.from(out);
}

export function randomBytes(rand: () => number, max = 256): Uint8Array {
  return Uint8Array.from({ length: Math.floor(rand() * max) }, () => Math.floor(rand() * 256));
}

export interface FuzzStats {
  inputs: number;
  parsed: number;
  rejected: number;
  crashes: { input: Uint8Array; error: unknown }[];
  slowest: number;
}

/**
 * Feed `iterations` inputs to `parse`: half random, half mutations of the seeds. Returns the stats;
 * callers assert crashes = [] and slowest below their hang threshold.
 */
export function fuzz(
  parse: (input: Uint8Array) => unknown,
  seeds: Uint8Array[],
  { iterations = 100_000, seed = 1, maxRandom = 256 }: { iterations?: number; seed?: number; maxRandom?: number } = {},
): FuzzStats {
  const rand = rng(seed);
  const stats: FuzzStats = { inputs: 0, parsed: 0, rejected: 0, crashes: [], slowest: 0 };
  for (let i = 0; i < iterations; i++) {
    const input =
      seeds.length && rand() < 0.5 ? mutateBytes(seeds[Math.floor(rand() * seeds.length)]!, rand) : randomBytes(rand, maxRandom);
    const t0 = performance.now();
    try {
      parse(input);
      stats.parsed++;
    } catch (error) {
      if (error instanceof ParseError) stats.rejected++;
      else if (stats.crashes.length < 5) stats.crashes.push({ input, error });
      else stats.crashes.push({ input: new Uint8Array(), error });
    }
    stats.slowest = Math.max(stats.slowest, performance.now() - t0);
    stats.inputs++;
  }
  return stats;
}
