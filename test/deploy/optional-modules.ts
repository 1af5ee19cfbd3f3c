// Schema and CEL packages the deploy tests use, requested as devDependencies (docs/deploy.md). Until
// they are installed the tests that need them skip with a printed reason. BPFREADY_DEPLOY_MODULES
// may name a directory with its own node_modules holding them (e.g. a scratch `npm install`), so
// the tests can be run before the project's package.json lists them.
import { existsSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { pathToFileURL } from 'node:url';

export interface Optional<T> {
  mod: T | undefined;
  /** Why it is missing, for the skip message. */
  reason: string;
}

export async function optionalImport<T>(spec: string): Promise<Optional<T>> {
  try {
    return { mod: (await import(spec)) as T, reason: '' };
  } catch (e) {
    const first = e instanceof Error ? e.message.split('\n')[0] : String(e);
    const dir = process.env['BPFREADY_DEPLOY_MODULES'];
    const alt = dir ? resolveIn(dir, spec) : undefined;
    if (alt) return { mod: (await import(pathToFileURL(alt).href)) as T, reason: '' };
    return { mod: undefined, reason: `${spec} is not installed (${first})` };
  }
}

function resolveIn(dir: string, spec: string): string | undefined {
  const parts = spec.split('/');
  const nameLen = spec.startsWith('@') ? 2 : 1;
  const pkgDir = join(dir, 'node_modules', ...parts.slice(0, nameLen));
  if (!existsSync(join(pkgDir, 'package.json'))) return undefined;
  const pkg = JSON.parse(readFileSync(join(pkgDir, 'package.json'), 'utf8')) as { exports?: Record<string, { import?: string; default?: string }> };
  const key = parts.length > nameLen ? `./${parts.slice(nameLen).join('/')}` : '.';
  const target = pkg.exports?.[key]?.import ?? pkg.exports?.[key]?.default;
  return target ? join(pkgDir, target) : undefined;
}

export function skipping(what: string, reason: string): void {
  const msg = `SKIP ${what}: ${reason}; docs/deploy.md names the devDependency it needs`;
  console.warn(msg);
  // They are devDependencies now: in CI a missing one is a broken install, not a reason to skip.
  if (process.env.CI) throw new Error(`${msg} — but CI=true, and CI must run these tests`);
}
