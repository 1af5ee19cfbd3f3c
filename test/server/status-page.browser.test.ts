// The status page in a real Chromium, from a hand-written report (so hostile strings and every
// status are covered); test/e2e/serve.test.ts does the same against the real engine.
import { existsSync, mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { pino } from 'pino';
import { Registry } from 'prom-client';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { buildApp, type App } from '../../src/server/app.ts';
import { initialState } from '../../src/server/state.ts';
import { launchChromium, requireChromium, type Browser } from '../e2e/browser.ts';
import { fakeChecks, fakeReport } from './fake-report.ts';

const haveChromium = requireChromium();

describe.skipIf(!haveChromium)('status page in Chromium', () => {
  let app: App;
  let url: string;
  let browser: Browser;
  beforeAll(async () => {
    const state = initialState();
    state.report = fakeReport();
    state.checks = fakeChecks();
    state.ready = true;
    state.cycles = 3;
    app = buildApp({
      state: () => state,
      registry: new Registry(),
      logger: pino({ level: 'silent' }),
      meta: { version: 'test', hostname: 'testhost' },
    });
    url = await app.listen({ host: '127.0.0.1', port: 0 });
    browser = await launchChromium();
  });
  afterAll(async () => {
    await browser?.close();
    await app?.close();
  });

  it('renders the program-type matrix with one marked status per row', async () => {
    const page = await browser.context.newPage();
    const scriptRan: string[] = [];
    page.on('dialog', (d) => void (scriptRan.push(d.message()), d.dismiss()));
    await page.goto(`${url}/status`);
    const rows = page.locator('#programTypes tbody tr');
    expect(await rows.count()).toBe(Object.keys(fakeReport().programTypes).length);
    const lsm = page.locator('#programTypes tbody tr', { has: page.locator('th', { hasText: /^lsm$/ }) });
    expect(await lsm.locator('.dot').getAttribute('title')).toBe('unsupported: EINVAL: CONFIG_BPF_LSM is not set');
    expect(await lsm.locator('td').nth(1).locator('.dot').count()).toBe(1);
    const missing = page.locator('#not-available tbody tr', { has: page.locator('th', { hasText: /^lsm$/ }) });
    expect(await missing.textContent()).toContain('CONFIG_BPF_LSM is not set');
    // The hostile feature name is shown as text, not run or parsed as markup.
    expect(await page.locator('#programTypes').textContent()).toContain('x<script>');
    expect(scriptRan).toEqual([]);
    // Each row marks exactly one of the four status columns.
    for (let i = 0; i < (await rows.count()); i++) expect(await rows.nth(i).locator('.dot').count()).toBe(1);
    await page.close();
  });

  it('shows unmet requirements with remediation, and the token view', async () => {
    const page = await browser.context.newPage();
    await page.goto(`${url}/status`);
    const req = page.locator('#requirements');
    expect(await req.textContent()).toContain('tetragon');
    expect(await req.textContent()).toContain('boot a kernel with CONFIG_BPF_LSM=y');
    const priv = page.locator('#privileges');
    expect(await priv.textContent()).toContain('/run/tokenfs');
    expect(await priv.textContent()).toContain('cap_bpf');
    await page.close();
  });

  it('"show only what is not supported" hides the supported rows without JavaScript', async () => {
    const page = await browser.context.newPage();
    await page.goto(`${url}/status`);
    const kprobe = page.locator('#programTypes tr.row-supported').first();
    expect(await kprobe.isVisible()).toBe(true);
    await page.locator('#only-problems').check();
    expect(await kprobe.isVisible()).toBe(false);
    expect(await page.locator('#programTypes tr.row-unsupported').isVisible()).toBe(true);
    const shot = join(mkdtempSync(join(tmpdir(), 'bpfready-shot-')), 'status-problems.png');
    await page.screenshot({ path: shot, fullPage: true });
    console.info(`screenshot: ${shot}`);
    expect(existsSync(shot)).toBe(true);
    await page.close();
  });
});
