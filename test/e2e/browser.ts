// Debian's Chromium driven by playwright-core: a real browser for the status page tests.
import { existsSync, mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { chromium, type BrowserContext } from 'playwright-core';

export const CHROMIUM = '/usr/bin/chromium';

/** Whether Debian's Chromium is there; without it the browser tests skip with a printed reason — but
 * not in CI, where .ci/run installs it and a missing browser is a broken install. */
export function requireChromium(): boolean {
  if (existsSync(CHROMIUM)) return true;
  const msg = `SKIP browser tests: ${CHROMIUM} is not installed (apt-get install chromium)`;
  console.warn(msg);
  if (process.env.CI) throw new Error(`${msg} — but CI=true, and CI must run them`);
  return false;
}

export interface Browser {
  context: BrowserContext;
  close(): Promise<void>;
}

export async function launchChromium(): Promise<Browser> {
  // A fresh profile per run: nothing cached or remembered from an earlier test.
  const profile = mkdtempSync(join(tmpdir(), 'bpfready-chromium-'));
  const context = await chromium.launchPersistentContext(profile, {
    executablePath: CHROMIUM,
    headless: true,
    viewport: { width: 1280, height: 900 },
    args: [
      '--headless',
      '--no-sandbox',
      '--disable-gpu',
      '--disable-quic',
      '--no-first-run',
      '--disable-background-networking',
      '--disable-component-update',
      '--disable-sync',
    ],
  });
  return {
    context,
    async close() {
      await context.close();
      rmSync(profile, { recursive: true, force: true });
    },
  };
}
