// The start of `serve` and `daemon`, before the daemon's modules are imported.
import { enableCompileCache } from 'node:module';
import { catchSignals } from './signals.ts';

export async function launch(command: 'serve' | 'daemon', argv: string[]): Promise<number> {
  // First, before any import that takes time (src/daemon/signals.ts).
  const signals = catchSignals();
  // Node strips the types of every module on each start (~0.6 s of CPU for the daemon's graph);
  // the compile cache keeps the result, so restarts reach ready sooner. Failing to cache is harmless.
  const cache = enableCompileCache();
  // Worker threads (the engine's helper matrix) set up their own loader from the environment.
  if (cache.directory) process.env['NODE_COMPILE_CACHE'] ??= cache.directory;
  const { runCommand } = await import('./wiring.ts');
  return runCommand(command, argv, signals);
}
