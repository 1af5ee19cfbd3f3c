// Builds the root logger, the metrics registry, the HTTP server, the probe loop and (for `daemon`)
// the Kubernetes publisher, once, and wires them. `serve` and `daemon` share this code path; the
// only difference is whether a publisher is attached. Side effects live here, not at import time.
import { hostname } from 'node:os';
import { performance } from 'node:perf_hooks';
import process from 'node:process';
import { pino, type Logger } from 'pino';
import { Registry } from 'prom-client';
import { ConfigError, configHelp, loadConfig, type Config } from '../config.ts';
import { ParseError, UsageError } from '../base/errors.ts';
import type { ProbeReport } from '../contract/report.ts';
import { buildApp, type App } from '../server/app.ts';
import { createMetrics } from '../server/metrics.ts';
import { releaseMemory } from './memory.ts';
import { collectViewInChild } from './kernel-view.ts';
import { runningBuildDigest } from '../requirements/build-digest.ts';
import { hostRootProblem } from '../kernel/hostroot.ts';
import { catchSignals, type StopSignals } from './signals.ts';
import { createProbeLoop, type ProbeLoop } from './probe-loop.ts';
import { initialState, type DaemonState, type ProbeTrigger } from '../server/state.ts';
import type { Publisher } from '../publish/types.ts';
import type { ProfileCheck } from '../requirements/profile-checks.ts';
import { probe, ProbeCache } from '../collect/index.ts';
import { checkProfiles } from '../requirements/profile-checks.ts';
import pkg from '../../package.json' with { type: 'json' };

export type ProbeFn = (opts: { hostRoot?: string; signal?: AbortSignal; full?: boolean; workers?: number }) => Promise<ProbeReport>;
export type CheckFn = (report: ProbeReport) => ProfileCheck[];

export interface DaemonDeps {
  probe: ProbeFn;
  check?: CheckFn;
  publisher?: Publisher;
  logger?: Logger;
  /** Listen on config.listen; tests and benchmarks that use inject() leave it off. */
  listen?: boolean;
  mountinfoPath?: string;
  /** Called when the probe loop goes idle, to return what the cycles freed (the binary passes releaseMemory). */
  releaseMemory?: () => void;
}

export interface Daemon {
  readonly app: App;
  readonly registry: Registry;
  readonly logger: Logger;
  state(): DaemonState;
  /** Resolves when the first probe cycle has finished (true if it succeeded). */
  readonly firstProbe: Promise<boolean>;
  /** "http://host:port" when listening. */
  readonly url: string | undefined;
  reprobe(reason?: ProbeTrigger): void;
  /** Stop probing (finishing the cycle in flight), close the server and the publisher. */
  stop(): Promise<void>;
}

export function createLogger(config: Config): Logger {
  return pino({ level: config.logLevel, base: { pid: process.pid }, timestamp: pino.stdTimeFunctions.isoTime });
}

export async function startDaemon(config: Config, deps: DaemonDeps): Promise<Daemon> {
  const logger = deps.logger ?? createLogger(config);
  const state = initialState();
  const getState = (): DaemonState => state;
  const registry = new Registry();
  const metrics = createMetrics(registry, getState, { version: pkg.version, nodejsVersion: process.versions.node });
  const meta = { version: pkg.version, nodeName: config.kubernetes.nodeName, hostname: hostname() };
  const app = buildApp({ state: getState, registry, logger: logger.child({ component: 'http' }), meta });
  const probeLog = logger.child({ component: 'probe' });

  const cycle = async (trigger: ProbeTrigger, signal: AbortSignal): Promise<boolean> => {
    const t0 = performance.now();
    let ok = false;
    state.cycleStartedAt = new Date();
    try {
      // On this thread alone: a helper worker's isolate is ~20 MiB of peak memory, which a DaemonSet
      // pays on every node for a first probe ~0.2 s faster (docs/daemon.md, "Start-up cost and memory").
      const report = await deps.probe({ hostRoot: config.hostRoot, signal, workers: 0, ...(config.fullProbe ? { full: true } : {}) });
      const checks = deps.check ? deps.check(report) : [];
      const changed = state.report === null || factsChanged(state.report, report);
      state.report = report;
      state.checks = checks;
      state.lastSuccessAt = new Date();
      state.lastError = null;
      state.ready = true;
      ok = true;
      const seconds = (performance.now() - t0) / 1000;
      const unmet = checks.filter((c) => !c.satisfied).map((c) => c.profile);
      // The first probe and any change are worth a line; a steady re-probe is only debug noise.
      probeLog[trigger === 'startup' || changed ? 'info' : 'debug']({ trigger, seconds, changed, unmet }, 'probe cycle done');
    } catch (err) {
      state.lastError = { at: new Date(), message: err instanceof Error ? err.message : String(err) };
      probeLog.error({ err, trigger }, 'probe cycle failed');
    } finally {
      state.cycles++;
      state.cycleStartedAt = null;
      metrics.observeProbe(trigger, (performance.now() - t0) / 1000, ok);
    }
    // The publisher coalesces and retries on its own; its trouble is not a probe failure.
    if (ok && deps.publisher && state.report) {
      try {
        deps.publisher.publish(state.report, state.checks);
      } catch (err) {
        probeLog.error({ err }, 'publishing failed');
      }
    }
    return ok;
  };

  const loop: ProbeLoop = createProbeLoop({
    cycle,
    intervalSeconds: config.probeIntervalSeconds,
    jitter: config.probeJitter,
    mountinfoPath: deps.mountinfoPath ?? '/proc/self/mountinfo',
    mountCheckSeconds: config.mountCheckSeconds,
    logger: probeLog,
    // Once no cycle is running or queued: the previous report is garbage, the workers have exited.
    ...(deps.releaseMemory ? { onIdle: deps.releaseMemory } : {}),
  });

  await app.ready();
  let url: string | undefined;
  if (deps.listen) {
    url = await listenAny(app, config.listen);
    logger
      .child({ component: 'lifecycle' })
      .info({ url, probeIntervalSeconds: config.probeIntervalSeconds, configFile: config.file }, 'serving');
  }
  const firstProbe = loop.start();

  let stopping: Promise<void> | null = null;
  return {
    app,
    registry,
    logger,
    state: getState,
    firstProbe,
    url,
    reprobe: (reason = 'sighup') => loop.trigger(reason),
    stop() {
      stopping ??= (async () => {
        state.ready = false;
        await loop.stop();
        await app.close();
        await deps.publisher?.close();
      })();
      return stopping;
    },
  };
}

/**
 * Listen on the configured address. "::" (from ":PORT") serves IPv6 and IPv4 alike, but a kernel
 * booted with IPv6 disabled refuses it (EAFNOSUPPORT): every IPv4 address then.
 */
async function listenAny(app: Awaited<ReturnType<typeof buildApp>>, listen: Config['listen']): Promise<string> {
  const go = (host: string) =>
    app.listen({ host, port: listen.port, listenTextResolver: (address) => `HTTP server listening on ${address}` });
  try {
    return await go(listen.host);
  } catch (err) {
    const code = (err as NodeJS.ErrnoException).code;
    if (listen.host === '::' && (code === 'EAFNOSUPPORT' || code === 'EADDRNOTAVAIL')) return go('0.0.0.0');
    throw err;
  }
}

/** Whether two reports differ in their facts (not in their timestamps). */
export function factsChanged(a: ProbeReport, b: ProbeReport): boolean {
  for (const k of new Set([...Object.keys(a), ...Object.keys(b)])) {
    if (k === 'generatedAt' || k === 'durationMs') continue;
    if (!jsonEqual(a[k], b[k])) return true;
  }
  return false;
}

// A walk with early exit: JSON.stringify of a full report (~800 kB) costs milliseconds, more than a
// whole cached re-probe is allowed to take.
function jsonEqual(x: unknown, y: unknown): boolean {
  if (x === y) return true;
  if (typeof x !== 'object' || typeof y !== 'object' || x === null || y === null) return false;
  if (Array.isArray(x) !== Array.isArray(y)) return false;
  const kx = Object.keys(x);
  if (kx.length !== Object.keys(y).length) return false;
  for (const k of kx) {
    if (!jsonEqual((x as Record<string, unknown>)[k], (y as Record<string, unknown>)[k])) return false;
  }
  return true;
}

// If shutting down takes longer than this, something is stuck: exit anyway, with a non-zero code.
const SHUTDOWN_DEADLINE_MS = 8000;

/** Run until SIGTERM/SIGINT; SIGHUP re-probes. Returns the exit code. */
export async function runDaemon(
  config: Config,
  deps: Omit<DaemonDeps, 'listen' | 'logger'> & { logger: Logger },
  signals: StopSignals = catchSignals(),
): Promise<number> {
  // Start, signals and stop: the lines an operator greps for when a pod restarts.
  const log = deps.logger.child({ component: 'lifecycle' });
  if (signals.received) {
    // Deleted while starting: nothing was probed or published yet.
    log.info({ signal: signals.received }, 'signalled before start; exiting');
    signals.dispose();
    await deps.publisher?.close();
    return 0;
  }
  let daemon: Daemon;
  try {
    daemon = await startDaemon(config, { ...deps, listen: true });
  } catch (err) {
    const code = (err as NodeJS.ErrnoException).code;
    log.fatal({ err, listen: config.listen }, code === 'EADDRINUSE' ? 'address already in use' : 'cannot start');
    // Not this node's address, or no such host: the configuration is wrong (2), not the moment (1).
    const badAddress = code === 'ENOTFOUND' || code === 'EADDRNOTAVAIL' || code === 'EAI_NONAME';
    if (badAddress)
      process.stderr.write(
        `bpfready: listen address ${config.listen.host}:${config.listen.port}: no such address on this host (${code})\n`,
      );
    signals.dispose();
    await deps.publisher?.close();
    return badAddress ? 2 : 1;
  }
  signals.onHup(() => {
    log.info('SIGHUP: re-probing');
    daemon.reprobe('sighup');
  });
  const signal = await signals.stop;
  log.info({ signal }, 'shutting down');
  signals.dispose();
  // Left armed (unref'd) after "stopped" too: should anything still hold the process open, it exits
  // with 1 at the deadline instead of never.
  const deadline = setTimeout(() => {
    log.error('shutdown deadline passed; exiting');
    process.exit(1);
  }, SHUTDOWN_DEADLINE_MS);
  deadline.unref();
  await daemon.stop();
  log.info('stopped');
  return 0;
}

/** `bpfready serve` and `bpfready daemon`: parse the config, wire the parts, run until signalled. */
export async function runCommand(
  command: 'serve' | 'daemon',
  argv: readonly string[],
  signals: StopSignals = catchSignals(),
): Promise<number> {
  try {
    return await startAndRun(command, argv, signals);
  } finally {
    signals.dispose();
  }
}

async function startAndRun(command: 'serve' | 'daemon', argv: readonly string[], signals: StopSignals): Promise<number> {
  let config: Config;
  try {
    const loaded = loadConfig({ argv, env: process.env });
    if (loaded.help) {
      process.stdout.write(configHelp(command));
      return 0;
    }
    config = loaded.config;
    // Whether the host root is there is a fact of this machine, not of the configuration (which the
    // chart renders for a pod's /host): checked here, before anything is read under it.
    const hostRoot = hostRootProblem(config.hostRoot);
    if (hostRoot) throw new ConfigError('--host-root (hostRoot)', hostRoot);
    if (command === 'daemon' && !config.kubernetes.nodeName) {
      throw new ConfigError(
        '--node-name / NODE_NAME',
        'bpfready daemon needs the name of the Node it runs on (the downward API sets NODE_NAME)',
      );
    }
  } catch (err) {
    if (err instanceof ParseError || err instanceof UsageError) {
      process.stderr.write(`bpfready ${command}: ${err.message}\n`);
      return 2;
    }
    throw err;
  }
  const logger = createLogger(config);
  const check: CheckFn = (report) => checkProfiles(config.profiles, report, config.hostRoot);
  let publisher: Publisher | undefined;
  if (command === 'daemon') {
    const k = config.kubernetes;
    // @kubernetes/client-node takes seconds to import on a busy node; `serve` never pays for it.
    const { createPublisher } = await import('../publish/index.ts');
    // The kernel view is collected and packed by a process of its own (src/daemon/kernel-view.ts):
    // its collector never loads here, and the build's digest is hashed from the BTF file in pieces.
    try {
      publisher = createPublisher({
        nodeName: k.nodeName ?? '',
        labelPrefix: k.labelPrefix,
        heartbeatSeconds: k.heartbeatSeconds,
        startJitterSeconds: k.startJitterSeconds,
        nfd: k.nfd,
        ...(k.reports
          ? {
              reports: {
                buildDigest: async (r: ProbeReport) => runningBuildDigest(config.hostRoot, r),
                kernelView: (r: ProbeReport, signal: AbortSignal) => collectViewInChild(r, { hostRoot: config.hostRoot, signal }),
              },
            }
          : {}),
        // A publish pass that wrote (the first one loads and warms the Kubernetes client): its garbage goes now.
        afterWork: releaseMemory,
        logger,
        ...(k.taint ? { taint: { key: k.taint.key, effect: k.taint.effect, ...(k.taint.value ? { value: k.taint.value } : {}) } } : {}),
      });
    } catch (err) {
      if (err instanceof UsageError) {
        process.stderr.write(`bpfready daemon: ${err.message}\n`);
        return 2;
      }
      throw err;
    }
  }
  // The daemon's one cache of conclusive results, for its lifetime (src/collect/cache.ts).
  using cache = new ProbeCache();
  const cached: ProbeFn = (o) => probe({ ...o, cache });
  const deps = { probe: cached, check, logger, releaseMemory, ...(publisher ? { publisher } : {}) };
  return await runDaemon(config, deps, signals);
}
