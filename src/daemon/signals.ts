// The long-running commands catch their signals from their first line, before the daemon's modules
// (and, for `daemon`, the Kubernetes client) are imported: a pod deleted during start-up gets
// SIGTERM, and must exit 0, not die by the signal; a SIGHUP before the first probe has nothing to
// re-probe and is ignored, not fatal.

export interface StopSignals {
  /** Resolves with the first SIGTERM or SIGINT. */
  readonly stop: Promise<NodeJS.Signals>;
  /** The first SIGTERM or SIGINT received so far, if any. */
  readonly received: NodeJS.Signals | undefined;
  /** Handle SIGHUP from now on (replacing the start-up no-op); dispose() removes it. */
  onHup(handler: () => void): void;
  dispose(): void;
}

export function catchSignals(): StopSignals {
  let received: NodeJS.Signals | undefined;
  let hup: () => void = () => {};
  const onHup = (): void => hup();
  let resolveStop!: (s: NodeJS.Signals) => void;
  const stop = new Promise<NodeJS.Signals>((r) => (resolveStop = r));
  const on = (s: NodeJS.Signals) => (): void => {
    received ??= s;
    resolveStop(s);
  };
  const onTerm = on('SIGTERM');
  const onInt = on('SIGINT');
  process.once('SIGTERM', onTerm);
  process.once('SIGINT', onInt);
  process.on('SIGHUP', onHup);
  return {
    stop,
    get received() {
      return received;
    },
    onHup(handler) {
      hup = handler;
    },
    dispose() {
      process.off('SIGTERM', onTerm);
      process.off('SIGINT', onInt);
      process.off('SIGHUP', onHup);
    },
  };
}
