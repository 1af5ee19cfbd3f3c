// Retry with exponential backoff: the one policy every writer uses (the node writer and its watch,
// the NodeFeature writer, prune, the probe loop's retry after a failed cycle). The delay after the
// n-th failure (n from 0) is min(maxMs, baseMs * 2^n), jittered so that 5,000 nodes failing
// together do not come back together, and never shorter than what the server asked (Retry-After).

/**
 * none: the delay itself; equal: half of it fixed and half random (never much sooner than planned);
 * full: anywhere from 0 to it (the widest spread, for a whole cluster reconnecting at once).
 */
export type Jitter = 'none' | 'equal' | 'full';

export interface BackoffPolicy {
  baseMs: number;
  maxMs: number;
  jitter: Jitter;
}

/** The wait after failure number `attempt` (0 = the first). */
export function backoffDelay(policy: BackoffPolicy, attempt: number, random: () => number = Math.random): number {
  // 2 ** a large attempt is Infinity, and min() makes that maxMs: no overflow to guard against.
  const exp = Math.min(policy.maxMs, policy.baseMs * 2 ** attempt);
  if (policy.jitter === 'none') return exp;
  return policy.jitter === 'equal' ? exp / 2 + (exp / 2) * random() : exp * random();
}

/** The failure count of one retry loop, for writers that schedule their own retries (a timer, a kick). */
export class Backoff {
  readonly policy: BackoffPolicy;
  readonly #random: () => number;
  #attempt = 0;

  constructor(policy: BackoffPolicy, random: () => number = Math.random) {
    this.policy = policy;
    this.#random = random;
  }

  /** Failures since the last success. */
  get attempt(): number {
    return this.#attempt;
  }

  /**
   * Count a failure and return how long to wait before the next try: at least `atLeastMs` (a
   * server's Retry-After). `asFirst` waits as after a first failure with full jitter (a failure that
   * is expected and cheap to resolve, such as a conflict), while still counting it.
   */
  next(atLeastMs = 0, opts: { asFirst?: boolean } = {}): number {
    const policy: BackoffPolicy = opts.asFirst ? { ...this.policy, jitter: 'full' } : this.policy;
    const delay = backoffDelay(policy, opts.asFirst ? 0 : this.#attempt, this.#random);
    this.#attempt++;
    return Math.max(delay, atLeastMs);
  }

  /** A success: the next failure waits as a first one. */
  reset(): void {
    this.#attempt = 0;
  }
}

export interface RetryOptions {
  policy: BackoffPolicy;
  /** Tries in all, the first included. */
  attempts: number;
  /** Whether this failure is worth another try; one that is not is thrown at once. */
  retryable: (err: unknown) => boolean;
  /** The least wait the failure asks for (Retry-After), if any. */
  retryAfterMs?: (err: unknown) => number | undefined;
  sleep?: (ms: number) => Promise<void>;
  random?: () => number;
}

const sleepReal = (ms: number): Promise<void> => new Promise((resolve) => setTimeout(resolve, ms));

/** Run f until it succeeds, a failure is not retryable, or `attempts` tries have failed (the last failure is thrown). */
export async function retry<T>(f: () => Promise<T>, o: RetryOptions): Promise<T> {
  const backoff = new Backoff(o.policy, o.random);
  const sleep = o.sleep ?? sleepReal;
  for (;;) {
    try {
      return await f();
    } catch (e) {
      if (!o.retryable(e) || backoff.attempt + 1 >= o.attempts) throw e;
      await sleep(backoff.next(o.retryAfterMs?.(e) ?? 0));
    }
  }
}
