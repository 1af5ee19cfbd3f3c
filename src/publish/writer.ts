// Keeps our Node in the desired state with as few API requests as possible:
//   - no GET at start: a watch on our own node only (fieldSelector=metadata.name=<node>) from
//     resourceVersion 0, whose first event is the node as the API server's watch cache has it; the
//     watch is then how we see drift, never a periodic GET. A GET (a quorum read) is made only
//     when a write failed in a way that leaves our view in doubt (409, 5xx, reset);
//   - a write only when the plan (plan.ts) is non-empty, i.e. something we own differs;
//   - the latest desired state wins: publish() replaces it, and a busy or backing-off loop picks
//     it up on its next pass, so a desired state is never dropped and bursts coalesce;
//   - failures back off exponentially with jitter; 429 honours Retry-After; 409 re-reads the node.
import type { Logger } from 'pino';
import { Backoff } from '../base/backoff.ts';
import { KubeApiError, type NodeApi, type WatchEventType } from './client.ts';
import { planWrites, type Plan } from './plan.ts';
import { SerialRunner } from './serial.ts';
import type { Clock, DesiredState, NodeView, TaintSpec } from './types.ts';

/** At most this many write passes in any WRITE_WINDOW_MS; then back off (heartbeats are minutes apart). */
const MAX_WRITES_PER_WINDOW = 12;
const WRITE_WINDOW_MS = 60_000;

export interface WriterOptions {
  api: NodeApi;
  nodeName: string;
  prefix: string;
  logger: Logger;
  clock: Clock;
  random: () => number;
  /** 0 = off. Otherwise every condition's lastHeartbeatTime is refreshed this often. */
  heartbeatSeconds: number;
  startJitterMs: number;
  taint?: TaintSpec;
  backoff?: { baseMs: number; maxMs: number };
  /** Called when writes brought the node in sync, to return the memory the pass took (the daemon: releaseMemory). */
  afterWrites?: () => void;
}

export interface WriterStats {
  reads: number;
  nodePatches: number;
  statusPatches: number;
  watches: number;
  failures: number;
  conflicts: number;
  lastError?: string;
  /** resourceVersion of the last event our watch delivered: how current our view of the node is. */
  watchedResourceVersion?: string;
  /** True once the node matches the latest desired state. */
  inSync: boolean;
}

export class NodeWriter {
  private readonly o: WriterOptions;
  private desired: DesiredState | undefined;
  private observed: NodeView | undefined;
  private needRead = false;
  private heartbeatDue = false;
  private closed = false;
  private readonly backoff: Backoff;
  /** HTTP status of the last failed pass, until a pass succeeds. */
  private lastFailure: number | undefined;
  private writesFor: DesiredState | undefined;
  private readonly recentWrites: number[] = [];
  private writes = 0;
  private heartbeatTimer: unknown;
  private watchTimer: unknown;
  private readonly watchBackoff: Backoff;
  private watchAbort: { abort(): void } | undefined;
  private watchGen = 0;
  private watchRv = '0';
  private watchActive = false;
  private started = false;
  private idleWaiters: (() => void)[] = [];
  readonly stats: WriterStats = { reads: 0, nodePatches: 0, statusPatches: 0, watches: 0, failures: 0, conflicts: 0, inSync: false };

  private readonly runner: SerialRunner;

  constructor(o: WriterOptions) {
    this.o = o;
    this.runner = new SerialRunner(() => this.loop(), o.clock);
    this.backoff = new Backoff({ ...(o.backoff ?? { baseMs: 500, maxMs: 60_000 }), jitter: 'equal' }, o.random);
    // A dropped watch is dropped for every node at once (an API server restart): the widest spread.
    this.watchBackoff = new Backoff({ baseMs: 5000, maxMs: 60_000, jitter: 'full' }, o.random);
  }

  /** Start after a random delay in [0, startJitterMs): a DaemonSet rollout must not arrive as one burst. */
  start(): void {
    if (this.started) return;
    this.started = true;
    this.runner.retryIn(Math.floor(this.o.random() * this.o.startJitterMs));
  }

  setDesired(d: DesiredState): void {
    this.desired = d;
    this.stats.inSync = false;
    if (this.started) this.kick();
  }

  async close(): Promise<void> {
    this.closed = true;
    this.runner.close();
    this.o.clock.clearTimeout(this.heartbeatTimer);
    this.o.clock.clearTimeout(this.watchTimer);
    this.watchGen++;
    this.watchAbort?.abort();
    for (const w of this.idleWaiters.splice(0)) w();
  }

  /** Resolves when the node matches the latest desired state (tests and `prune` use it). */
  whenInSync(): Promise<void> {
    if (this.stats.inSync) return Promise.resolve();
    return new Promise((resolve) => this.idleWaiters.push(resolve));
  }

  private kick(): void {
    this.runner.kick();
  }

  private async loop(): Promise<void> {
    // Each pass re-plans from the latest desired and observed state, so whatever changed while a
    // request was in flight is handled by the next pass instead of being lost.
    for (;;) {
      if (this.closed || !this.desired) return;
      // Writes made for this desired state since the node last matched it; kept across passes (each
      // watch event starts one) and reset only when the node matches or the desired state changes.
      if (this.desired !== this.writesFor) {
        this.writesFor = this.desired;
        this.writes = 0;
      }
      try {
        // One pass (a node and a status patch) settles a plan; writing the same desired state again
        // and again means the server keeps answering with something other than what we wrote (or
        // another writer fights us). Back off, further each time, instead of hot-looping writes at
        // 5,000 nodes: the backoff grows until the node matches.
        if (this.writes >= 3)
          throw new KubeApiError(
            `node ${this.o.nodeName} does not converge: the server keeps differing from our writes`,
            undefined,
            undefined,
            undefined,
          );
        // Another writer undoing ours (a second bpfready during a rollout, a controller) makes
        // each pass converge and the next event undo it: a ceiling on writes per minute, whatever
        // the reason, keeps that from running at watch speed.
        const now = this.o.clock.now();
        while (this.recentWrites.length > 0 && now - this.recentWrites[0]! >= WRITE_WINDOW_MS) this.recentWrites.shift();
        if (this.recentWrites.length >= MAX_WRITES_PER_WINDOW) {
          throw new KubeApiError(
            `node ${this.o.nodeName}: ${this.recentWrites.length} writes in the last ${WRITE_WINDOW_MS / 1000} s; is another writer changing our labels, conditions or taint?`,
            undefined,
            undefined,
            undefined,
          );
        }
        if (this.needRead) await this.read();
        if (!this.observed) {
          // The watch's first event brings the node and kicks us again.
          this.ensureWatch();
          return;
        }
        const plan = planWrites(this.desired, this.observed!, {
          prefix: this.o.prefix,
          nowIso: isoSeconds(this.o.clock.now()),
          heartbeat: this.heartbeatDue,
          ...(this.o.taint ? { taint: this.o.taint } : {}),
        });
        if (!plan.node && !plan.status) {
          this.heartbeatDue = false;
          // After a restart the node may already hold our conditions: no status write arms the
          // heartbeat then, so arm it here when none is pending.
          if (this.heartbeatTimer === undefined) this.armHeartbeat();
          const wrote = this.writes > 0;
          this.writes = 0;
          this.backoff.reset();
          this.lastFailure = undefined;
          this.markInSync();
          if (wrote) this.o.afterWrites?.();
          return;
        }
        this.recentWrites.push(this.o.clock.now());
        await this.apply(plan);
        // Only writes the server accepted count: failed ones back off on their own.
        this.writes++;
      } catch (e) {
        this.fail(e);
        return;
      }
    }
  }

  private async read(): Promise<void> {
    this.stats.reads++;
    const node = await this.o.api.read(this.o.nodeName);
    this.observe(node);
    this.needRead = false;
    this.ensureWatch();
  }

  private ensureWatch(): void {
    if (!this.watchActive && this.watchTimer === undefined) this.startWatch();
  }

  private async apply(plan: Plan): Promise<void> {
    if (plan.node) {
      this.stats.nodePatches++;
      this.observe(await this.o.api.patchNode(this.o.nodeName, plan.node));
    }
    if (plan.status) {
      this.stats.statusPatches++;
      this.observe(await this.o.api.patchStatus(this.o.nodeName, plan.status));
      this.heartbeatDue = false;
      this.armHeartbeat();
    }
  }

  private fail(e: unknown): void {
    const err = e instanceof KubeApiError ? e : new KubeApiError(String(e), undefined, undefined, e);
    this.lastFailure = err.status;
    this.stats.failures++;
    this.stats.lastError = err.message;
    if (err.status === 409) {
      // Someone changed the node between our read and our write: re-read, re-plan, re-apply.
      this.stats.conflicts++;
      this.needRead = true;
    } else if (err.status === 404 || err.status === undefined || err.status >= 500) {
      // Our view may be stale after a failed write whose outcome we do not know.
      this.needRead = true;
    }
    // Conflicts are expected and cheap to resolve; retry the first few within the base delay.
    const delay = this.backoff.next(err.retryAfterMs, { asFirst: err.status === 409 && this.backoff.attempt < 3 });
    const level = err.status === 409 || err.status === 429 ? 'info' : 'warn';
    this.o.logger[level]({ err: err.message, status: err.status, retryInMs: Math.round(delay) }, 'node update failed; will retry');
    this.runner.retryIn(delay);
  }

  private markInSync(): void {
    this.stats.inSync = true;
    for (const w of this.idleWaiters.splice(0)) w();
  }

  private armHeartbeat(): void {
    if (this.o.heartbeatSeconds <= 0) return;
    this.o.clock.clearTimeout(this.heartbeatTimer);
    // ±10% jitter, so nodes started together do not heartbeat together forever.
    const ms = this.o.heartbeatSeconds * 1000 * (0.9 + 0.2 * this.o.random());
    this.heartbeatTimer = this.o.clock.setTimeout(() => {
      this.heartbeatDue = true;
      this.stats.inSync = false;
      this.kick();
    }, ms);
  }

  /** Accept a newer view of the node; a late response or event must not roll our view back. */
  private observe(node: NodeView): void {
    const cur = Number(this.observed?.metadata?.resourceVersion);
    const next = Number(node.metadata?.resourceVersion);
    // resourceVersions are opaque to clients, but etcd-backed servers hand out increasing integers;
    // when both parse we use that only to drop out-of-order views, never for anything else.
    if (Number.isFinite(cur) && Number.isFinite(next) && next < cur) return;
    this.observed = node;
    const rv = node.metadata?.resourceVersion;
    if (rv) this.watchRv = rv;
  }

  private startWatch(): void {
    if (this.closed) return;
    const gen = ++this.watchGen;
    this.watchActive = true;
    this.stats.watches++;
    let gone = false;
    const onEvent = (type: WatchEventType, obj: NodeView & { code?: number }): void => {
      if (gen !== this.watchGen) return;
      if (type === 'ERROR') {
        // 410 Gone (our resourceVersion was compacted away) or another server-side failure: the
        // stream is over; watch again from resourceVersion 0, whose first event is the current node.
        gone = true;
        return;
      }
      this.watchBackoff.reset();
      if (obj.metadata?.resourceVersion) this.stats.watchedResourceVersion = obj.metadata.resourceVersion;
      if (type === 'BOOKMARK') {
        if (obj.metadata?.resourceVersion) this.watchRv = obj.metadata.resourceVersion;
        return;
      }
      if (type === 'DELETED') {
        // The node is gone (or being re-created): read it again on a pass we start now.
        this.needRead = true;
        if (this.desired && this.started) {
          this.stats.inSync = false;
          this.kick();
        }
        return;
      }
      this.observe(obj);
      if (this.desired && this.started) {
        this.stats.inSync = false;
        if (this.lastFailure === 404) {
          // The node was gone (404) and is back (re-created, same name): publish now rather than
          // at the end of a backoff that may have grown to a minute.
          this.lastFailure = undefined;
          this.needRead = false;
          this.runner.runNow();
        } else {
          this.kick();
        }
      }
    };
    const done = (err: unknown): void => {
      if (gen !== this.watchGen || this.closed) return;
      this.watchAbort = undefined;
      this.watchActive = false;
      const expired = gone || (err instanceof KubeApiError && err.status === 410);
      if (err && !expired) {
        // The server answered the watch itself with an error (403 without the watch verb, 429, 5xx):
        // say so, and do not wait for a first event that may never come — read the node instead.
        const status = err instanceof KubeApiError ? err.status : undefined;
        const message = err instanceof Error ? err.message : String(err);
        if (status !== undefined) {
          this.stats.lastError = `watch: ${message}`;
          this.o.logger.warn({ err: message, status }, 'node watch refused; reading the node instead, and watching again later');
        } else {
          this.o.logger.debug({ err: message }, 'node watch ended');
        }
        if (!this.observed && this.desired && this.started) {
          this.needRead = true;
          this.kick();
        }
      }
      if (expired) this.watchRv = '0';
      // A clean end (the server's timeoutSeconds) or a first 410 re-watches at once. An error (the
      // API server restarting drops every watch in the cluster at once) or a repeated 410 waits a
      // random 0-5 s first and backs off from there, so 5,000 nodes come back spread out.
      const trouble = Boolean(err) || expired;
      const wait = trouble && !(expired && this.watchBackoff.attempt === 0);
      const backoff = trouble ? this.watchBackoff.next() : 0;
      const delay = wait ? backoff : 0;
      this.watchTimer = this.o.clock.setTimeout(() => {
        this.watchTimer = undefined;
        this.startWatch();
      }, delay);
    };
    this.o.api.watch(this.o.nodeName, this.watchRv, onEvent, done).then(
      (ctl) => {
        if (gen !== this.watchGen || this.closed) ctl.abort();
        else this.watchAbort = ctl;
      },
      (err: unknown) => done(err ?? new Error('watch failed')),
    );
  }
}

export const isoSeconds = (ms: number): string => new Date(ms).toISOString().slice(0, 19) + 'Z';
