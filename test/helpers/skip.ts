// A test that cannot run on this machine says why and is skipped; under CI=true (.ci/run, where
// scripts/test-setup.sh has installed every tool and the tests run as root) it fails instead, so that
// nothing CI is meant to prove is skipped there in silence.
export function skipUnless(present: boolean, what: string, why: string): boolean {
  if (present) return false;
  const msg = `SKIP ${what}: ${why}`;
  console.warn(msg);
  if (process.env['CI']) throw new Error(`${msg} — but CI=true, and CI must run it`);
  return true;
}
