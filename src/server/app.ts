// The HTTP surface: /metrics, /healthz, /readyz, /status, /status.json. Built here, listened on in
// main.ts, so tests drive it with app.inject() and no port.
import Fastify, { LogController } from 'fastify';
import type { Logger } from 'pino';
import type { Registry } from 'prom-client';
import type { DaemonState } from './state.ts';
import { renderStatusPage, type PageMeta } from './status-page.ts';

/** A probe cycle running longer than this is stuck (a normal one takes ~1 s, a first one a few). */
export const STUCK_CYCLE_MS = 5 * 60_000;

export interface AppOptions {
  /** Override of STUCK_CYCLE_MS (tests). */
  stuckCycleMs?: number;
  state: () => DaemonState;
  registry: Registry;
  logger: Logger;
  meta: PageMeta;
}

/** The /status.json document: the latest ProbeReport, the profile checks, and the loop's health. */
export interface StatusDocument {
  ready: boolean;
  cycles: number;
  lastSuccessAt: string | null;
  lastError: { at: string; message: string } | null;
  report: DaemonState['report'];
  checks: DaemonState['checks'];
}

export type App = ReturnType<typeof buildApp>;

export function buildApp(opts: AppOptions) {
  const app = Fastify({
    loggerInstance: opts.logger,
    // Prometheus and kubelet probes hit us every few seconds; per-request logs would drown the rest.
    logController: new LogController({ disableRequestLogging: true }),
    return503OnClosing: true,
  });

  app.get('/', (_req, reply) => reply.redirect('/status'));

  // Liveness: answering at all is the signal; a wedged event loop cannot answer.
  // Alive while the event loop runs and no probe cycle is stuck: a cycle takes seconds, so one
  // running for minutes hangs on something (a syscall, a worker), and only a restart gets the
  // labels and conditions moving again.
  app.get('/healthz', (_req, reply) => {
    reply.type('text/plain; charset=utf-8');
    const started = opts.state().cycleStartedAt;
    const ms = started ? Date.now() - started.getTime() : 0;
    if (ms > (opts.stuckCycleMs ?? STUCK_CYCLE_MS))
      return reply.code(503).send(`probe cycle running for ${Math.round(ms / 1000)} s: stuck\n`);
    return reply.send('ok\n');
  });

  app.get('/readyz', (_req, reply) => {
    const s = opts.state();
    reply.type('text/plain; charset=utf-8');
    if (s.ready) return reply.send('ready\n');
    const why = s.lastError ? `last probe failed: ${s.lastError.message}` : 'first probe not finished';
    return reply.code(503).send(`not ready: ${why}\n`);
  });

  app.get('/metrics', async (_req, reply) => {
    const body = await opts.registry.metrics();
    return reply.type(opts.registry.contentType).send(body);
  });

  app.get('/status', (_req, reply) =>
    reply.type('text/html; charset=utf-8').header('cache-control', 'no-store').send(renderStatusPage(opts.state(), opts.meta)),
  );

  app.get('/status.json', (_req, reply) => {
    const s = opts.state();
    const doc: StatusDocument = {
      ready: s.ready,
      cycles: s.cycles,
      lastSuccessAt: s.lastSuccessAt?.toISOString() ?? null,
      lastError: s.lastError ? { at: s.lastError.at.toISOString(), message: s.lastError.message } : null,
      report: s.report,
      checks: s.checks,
    };
    return reply.header('cache-control', 'no-store').send(doc);
  });

  return app;
}
