// `bpfready serve` end to end: the real binary, the real probe engine against this kernel, real
// HTTP on loopback, the status page in Debian's Chromium, SIGHUP and SIGTERM.
import { spawn } from 'node:child_process';
import { existsSync, mkdtempSync, readFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { StatusDocument } from '../../src/server/app.ts';
import { launchChromium, requireChromium } from './browser.ts';
import { BIN, start, until, type Running } from './process.ts';
import { rootOnly } from '../helpers/root.ts';

const isRoot = !rootOnly('test/e2e/serve.test.ts (probing the kernel)');
const haveChromium = requireChromium();

describe.skipIf(!isRoot)('bpfready serve', () => {
  let s: Running;
  beforeAll(async () => {
    s = await start('serve', ['--probe-interval', '1h']);
  });
  afterAll(() => {
    if (s?.child.exitCode === null) s.child.kill('SIGKILL');
  });

  it('is not ready before the first probe, then ready; /healthz always answers', async () => {
    expect((await fetch(`${s.url}/healthz`)).status).toBe(200);
    await until('ready', async () => ((await fetch(`${s.url}/readyz`)).status === 200 ? true : undefined));
    const doc = (await (await fetch(`${s.url}/status.json`)).json()) as StatusDocument;
    expect(doc.ready).toBe(true);
    expect(doc.report?.kernel.release).toBe((await import('node:os')).release());
    expect(Object.keys(doc.report?.programTypes ?? {})).toContain('xdp');
  });

  it('/metrics agrees with /status.json', async () => {
    const doc = (await (await fetch(`${s.url}/status.json`)).json()) as StatusDocument;
    const metrics = await (await fetch(`${s.url}/metrics`)).text();
    for (const [name, r] of Object.entries(doc.report?.programTypes ?? {})) {
      expect(metrics).toContain(`bpfready_feature_status{family="program_type",feature="${name}",status="${r.status}"} 1`);
    }
    expect(metrics).toMatch(/^bpfready_probes_total\{trigger="startup"\} 1$/m);
    expect(metrics).toMatch(/^bpfready_last_successful_probe_timestamp_seconds \d+/m);
  });

  it.skipIf(!haveChromium)('renders the real matrix in Chromium (screenshot kept)', async () => {
    const browser = await launchChromium();
    try {
      const page = await browser.context.newPage();
      await page.goto(`${s.url}/status`);
      const doc = (await (await fetch(`${s.url}/status.json`)).json()) as StatusDocument;
      const n = Object.keys(doc.report?.programTypes ?? {}).length;
      expect(n).toBeGreaterThan(20);
      expect(await page.locator('#programTypes tbody tr').count()).toBe(n);
      expect(await page.locator('#programTypes tbody tr .dot').count()).toBe(n);
      expect(await page.locator('#mapTypes tbody tr').count()).toBe(Object.keys(doc.report?.mapTypes ?? {}).length);
      expect(await page.locator('#helpers tbody tr').count()).toBe(Object.keys(doc.report?.helpers ?? {}).length);
      const dir = mkdtempSync(join(tmpdir(), 'bpfready-shot-'));
      // What a person sees on opening the page, and the whole page.
      for (const [name, fullPage] of [
        ['status-top.png', false],
        ['status.png', true],
      ] as const) {
        const shot = join(dir, name);
        await page.screenshot({ path: shot, fullPage });
        console.info(`screenshot: ${shot}`);
        expect(existsSync(shot)).toBe(true);
      }
    } finally {
      await browser.close();
    }
  });

  it('SIGHUP re-probes', async () => {
    s.child.kill('SIGHUP');
    await until('a sighup probe', async () => {
      const m = await (await fetch(`${s.url}/metrics`)).text();
      return /^bpfready_probes_total\{trigger="sighup"\} 1$/m.test(m) ? true : undefined;
    });
  });

  it('SIGTERM closes the server and exits 0', async () => {
    s.child.kill('SIGTERM');
    expect(await s.exited).toBe(0);
    expect(s.logs.some((l) => l['msg'] === 'stopped')).toBe(true);
    await expect(fetch(`${s.url}/healthz`)).rejects.toThrow();
  });
});

describe('bpfready serve: bad input', () => {
  function run(args: string[], env: Record<string, string> = {}): Promise<{ code: number | null; stderr: string }> {
    return new Promise((resolve) => {
      const child = spawn(BIN, ['serve', ...args], { stdio: ['ignore', 'ignore', 'pipe'], env: { ...process.env, ...env } });
      let stderr = '';
      child.stderr?.on('data', (d: Buffer) => (stderr += d.toString()));
      child.on('exit', (code) => resolve({ code, stderr }));
    });
  }

  it('a bad flag exits 2 with the flag named, no stack trace', async () => {
    const r = await run(['--listen', 'nowhere']);
    expect(r.code).toBe(2);
    expect(r.stderr).toBe('bpfready serve: --listen: "nowhere" is not HOST:PORT (e.g. 127.0.0.1:9842, [::1]:9842, :9842)\n');
  });

  it('a listen address this host does not have exits 2, naming it', async () => {
    const r = await run(['--listen', '192.0.2.1:9842']);
    expect(r.code).toBe(2);
    expect(r.stderr).toContain('listen address 192.0.2.1:9842: no such address on this host (EADDRNOTAVAIL)');
  });

  it('a host root that is not there exits 2, naming it, before anything is read under it', async () => {
    const r = await run(['--host-root', '/nonexistent/host']);
    expect(r.code).toBe(2);
    expect(r.stderr).toMatch(/--host-root \(hostRoot\): \/nonexistent\/host: ENOENT/);
  });

  it('a missing config file exits 2', async () => {
    const r = await run([], { BPFREADY_CONFIG: '/nonexistent.yaml' });
    expect(r.code).toBe(2);
    expect(r.stderr).toContain('BPFREADY_CONFIG=/nonexistent.yaml: cannot read the config file (ENOENT)');
    expect(r.stderr).not.toContain('    at ');
  });

  it('daemon without a node name exits 2', async () => {
    const r = await new Promise<{ code: number | null; stderr: string }>((resolve) => {
      const env = { ...process.env };
      delete env['NODE_NAME'];
      const child = spawn(BIN, ['daemon'], { stdio: ['ignore', 'ignore', 'pipe'], env });
      let stderr = '';
      child.stderr?.on('data', (d: Buffer) => (stderr += d.toString()));
      child.on('exit', (code) => resolve({ code, stderr }));
    });
    expect(r.code).toBe(2);
    expect(r.stderr).toContain('NODE_NAME');
  });
});

describe('bpfready serve: signals during start-up', () => {
  // No clock in these tests (on two busy cores node alone can take over 100 ms to reach our first
  // line, and a SIGTERM before that is node's default action, not ours): each signal is sent at a
  // point the process shows it has reached. The first is the moment src/daemon/signals.ts has run,
  // the first thing `serve` and `daemon` do: it registers SIGTERM, SIGINT and then SIGHUP in one
  // synchronous call, and node itself catches no SIGHUP, so SIGHUP's bit in /proc/<pid>/status
  // SigCgt means our SIGTERM handler is in place, with every import of the daemon still to come.
  const SIGHUP_BIT = 1n << 0n;
  const handlerInPlace = (pid: number) => () => {
    try {
      const cgt = /^SigCgt:\s*([0-9a-f]+)$/m.exec(readFileSync(`/proc/${pid}/status`, 'utf8'))?.[1];
      return cgt !== undefined && (BigInt(`0x${cgt}`) & SIGHUP_BIT) !== 0n ? true : undefined;
    } catch {
      return undefined;
    }
  };

  /** Exit code and signal after `signals`, sent once `ready` holds; 'alive' 10 s later is a failure. */
  async function signalWhen(
    ready: 'handler' | 'listening',
    signals: NodeJS.Signals[],
  ): Promise<{ code: number | null; signal: NodeJS.Signals | null; listened: boolean }> {
    const child = spawn(BIN, ['serve', '--listen', '127.0.0.1:0', '--probe-interval', '1h'], { stdio: ['ignore', 'pipe', 'ignore'] });
    let out = '';
    child.stdout?.on('data', (d: Buffer) => (out += d.toString()));
    const exited = new Promise<{ code: number | null; signal: NodeJS.Signals | null }>((r) =>
      child.on('exit', (code, signal) => r({ code, signal })),
    );
    await until(
      ready === 'handler' ? 'the SIGTERM handler' : 'the "serving" line',
      ready === 'handler' ? handlerInPlace(child.pid!) : () => (out.includes('"msg":"serving"') ? true : undefined),
      60_000,
    );
    const listened = out.includes('"msg":"serving"');
    for (const s of signals) child.kill(s);
    const timeout = new Promise<'alive'>((r) => setTimeout(() => r('alive'), 10_000).unref());
    const r = await Promise.race([exited, timeout]);
    if (r === 'alive') {
      child.kill('SIGKILL');
      throw new Error(`still running 10 s after ${signals.join('+')} (${ready})`);
    }
    return { ...r, listened };
  }

  it('SIGTERM as soon as the handler is in place, before the daemon is imported, exits 0', async () => {
    expect(await signalWhen('handler', ['SIGTERM'])).toEqual({ code: 0, signal: null, listened: false });
  });

  it('SIGTERM once listening, with the first probe under way, exits 0', async () => {
    expect(await signalWhen('listening', ['SIGTERM'])).toEqual({ code: 0, signal: null, listened: true });
  });

  it('a SIGHUP before the first probe is not fatal; SIGTERM then exits 0', async () => {
    expect(await signalWhen('handler', ['SIGHUP', 'SIGTERM'])).toMatchObject({ code: 0, signal: null });
  });
});
