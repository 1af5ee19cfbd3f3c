// The kernel view's process (src/daemon/kernel-view.ts), with a named double of its entry file
// (kernel-view-child-double.ts) in place of the real collector: its answer is read back byte for
// byte; a child that crashes, is killed, writes garbage or too little, or hangs is an error of one
// line; and through the real publisher against the API-server double, a failing child only delays
// the view: the view is retried with backoff and logged a line each time, the node's labels,
// conditions and report are written meanwhile, and the view lands once the child answers. The real
// child on this kernel: test/kernel/kernel-view-child.test.ts.
import { existsSync, mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { pino } from 'pino';
import { afterAll, afterEach, describe, expect, it, vi } from 'vitest';
import { CHILD_SCRIPT, childCommand, collectViewInChild, type ViewProcessOptions } from '../../src/daemon/kernel-view.ts';
import { createConfigMapApi, createNodeApi } from '../../src/publish/client.ts';
import { createPublisher, type NodePublisher } from '../../src/publish/index.ts';
import { kernelIndexName, readPublished, type ConfigMapObject } from '../../src/publish/reports.ts';
import { loadReports } from '../../src/requirements/reports.ts';
import { ApiServerDouble } from '../publish/apiserver-double.ts';
import { RecordingClock } from '../publish/clock.ts';
import { checksOk, foreignNode } from '../publish/fixtures.ts';
import { brotliDecompressSync } from 'node:zlib';

const NODE = join(import.meta.dirname, '../../node_modules/node/bin/node');
const DOUBLE = join(import.meta.dirname, 'kernel-view-child-double.ts');
const REPORT = loadReports('debian-6.1.0-57-amd64')[0]!.report;
const VIEW = REPORT.kernelView!;
const dir = mkdtempSync(join(tmpdir(), 'bpfready-kv-'));
afterAll(() => rmSync(dir, { recursive: true, force: true }));

const viaDouble = (env: Record<string, string>, o: Partial<ViewProcessOptions> = {}): ViewProcessOptions => ({
  hostRoot: '/',
  execPath: NODE,
  execArgv: ['--disable-warning=ExperimentalWarning'],
  script: DOUBLE,
  env: { ...process.env, ...env },
  ...o,
});

describe('the kernel view process', () => {
  it("hands back the child's packed view: digest, release, set and bytes that decode to the view", async () => {
    const got = await collectViewInChild(REPORT, viaDouble({ KV_DOUBLE_MODE: 'ok' }));
    expect({ digest: got.digest, release: got.release }).toEqual({ digest: VIEW.build.digest, release: VIEW.build.release });
    expect(got.set).toMatch(/^[0-9a-f]{12}$/);
    expect(JSON.parse(brotliDecompressSync(got.bytes).toString('utf8'))).toEqual(VIEW);
  });

  it.each([
    ['crash', /exited with code 3: bpfready kernel view: the double crashed as asked$/],
    ['signal', /was killed by SIGSEGV$/],
    ['garbage', /wrote \d+ bytes with no header line$/],
    ['short', /announced (\d+) bytes and wrote (\d+)$/],
    ['hang', /ran longer than 1 s: killed$/],
  ])('a child that does %s is an error of one line', async (mode, why) => {
    const err = await collectViewInChild(REPORT, viaDouble({ KV_DOUBLE_MODE: mode }, mode === 'hang' ? { timeoutMs: 1000 } : {})).then(
      () => undefined,
      (e: Error) => e,
    );
    expect(err).toBeInstanceOf(Error);
    expect(err!.message).toMatch(/^kernel view process \(\S+ \S+kernel-view-child-double\.ts\) /);
    expect(err!.message).toMatch(why);
    expect(err!.message).not.toContain('\n');
  });

  it("is this process's node with this process's flags by default, given the report's kernel and the host root", async () => {
    const { file, args } = childCommand({ hostRoot: '/host', kernel: REPORT.kernel });
    expect(file).toBe(process.execPath);
    expect(args).toEqual([...process.execArgv, CHILD_SCRIPT, JSON.stringify({ hostRoot: '/host', kernel: REPORT.kernel })]);
    // And the child really runs with the flags it is given.
    const flags = ['--disable-warning=ExperimentalWarning', '--max-semi-space-size=1', '--expose-gc'];
    const seen = join(dir, 'args.json');
    await collectViewInChild(REPORT, viaDouble({ KV_DOUBLE_MODE: 'ok', KV_DOUBLE_ARGS: seen }, { execArgv: flags, hostRoot: '/host' }));
    const { kernel } = REPORT;
    expect(JSON.parse(readFileSync(seen, 'utf8'))).toMatchObject({
      argv: [JSON.stringify({ hostRoot: '/host', kernel: { release: kernel.release, version: kernel.version, machine: kernel.machine } })],
      execArgv: flags,
    });
  });
});

describe('the publisher with a kernel view process that fails', () => {
  const NS = 'bpfready';
  let server: ApiServerDouble | undefined;
  let publisher: NodePublisher | undefined;
  afterEach(async () => {
    await publisher?.close();
    await server?.close();
    publisher = server = undefined;
  });

  async function start(env: Record<string, string>) {
    server = new ApiServerDouble();
    await server.start();
    server.addNode(foreignNode('node-a'));
    const lines: Record<string, unknown>[] = [];
    const logger = pino({ level: 'info' }, { write: (s: string) => void lines.push(JSON.parse(s) as Record<string, unknown>) });
    const kc = server.kubeConfig();
    publisher = createPublisher({
      nodeName: 'node-a',
      labelPrefix: 'bpfready.io',
      heartbeatSeconds: 0,
      startJitterSeconds: 0,
      api: createNodeApi(kc),
      reports: {
        api: createConfigMapApi(kc, NS),
        buildDigest: async () => VIEW.build.digest,
        kernelView: (r, signal) => collectViewInChild(r, { ...viaDouble(env), signal }),
      },
      logger,
      clock: new RecordingClock(),
      random: () => 0.5,
      backoff: { baseMs: 20, maxMs: 200 },
    });
    publisher.publish(REPORT, checksOk);
    const s = server;
    const stored = () => s.objects(`/v1/${NS}/configmaps`) as unknown as ConfigMapObject[];
    const failures = () => lines.filter((l) => l['msg'] === 'kernel view publish failed; will retry');
    return { s, lines, stored, failures };
  }

  it('writes the labels, conditions and the node report without the view, and keeps retrying the view with backoff, a line each time', async () => {
    const { s, stored, failures } = await start({ KV_DOUBLE_MODE: 'crash' });
    await vi.waitFor(() => expect(failures().length).toBeGreaterThanOrEqual(3), { timeout: 30_000, interval: 20 });
    await publisher!.whenInSync();
    // The node's own state: our labels and conditions written, everything else on it as it was.
    const node = s.node('node-a');
    expect(Object.keys(node.metadata.labels ?? {}).filter((k) => k.startsWith('bpfready.io/')).length).toBeGreaterThan(10);
    expect(node.metadata.labels?.['team.example.com/owner']).toBe('infra');
    expect(node.status?.conditions?.some((c) => c.type.startsWith('bpfready.io/'))).toBe(true);
    // The node report, readable without its view; no part or index of a view.
    const [read] = readPublished(stored());
    expect(read?.node).toBe('node-a');
    const { kernelView, generatedAt: _g, durationMs: _d, ...facts } = read!.report as typeof REPORT;
    const { kernelView: _k, generatedAt: _g2, durationMs: _d2, ...expected } = REPORT;
    expect(kernelView).toBeUndefined();
    expect(facts).toEqual(expected);
    expect(stored().filter((o) => o.metadata.labels['bpfready.io/object'] !== 'node-report')).toEqual([]);
    // One line each, saying why; the waits grow.
    const [first, second, third] = failures();
    expect(String(first!['err'])).toMatch(
      /^kernel view: kernel view process \(.*\) exited with code 3: bpfready kernel view: the double crashed as asked$/,
    );
    expect(Number(third!['retryInMs'])).toBeGreaterThan(Number(first!['retryInMs']));
    expect(second!['level']).toBe(40);
    // And a changed report is still published while the view keeps failing.
    const later = { ...REPORT, kernel: { ...REPORT.kernel, release: `${REPORT.kernel.release}+1` } };
    publisher!.publish(later, checksOk);
    await vi.waitFor(() => expect((readPublished(stored())[0]!.report as typeof REPORT).kernel.release).toBe(later.kernel.release), {
      timeout: 30_000,
      interval: 20,
    });
  });

  it('kills a child still collecting when it is closed, and says nothing of it', async () => {
    const seen = join(dir, 'hanging.json');
    rmSync(seen, { force: true });
    const { failures } = await start({ KV_DOUBLE_MODE: 'hang', KV_DOUBLE_ARGS: seen });
    await vi.waitFor(() => expect(existsSync(seen)).toBe(true), { timeout: 30_000, interval: 20 });
    const { pid } = JSON.parse(readFileSync(seen, 'utf8')) as { pid: number };
    await publisher!.close();
    const alive = () => {
      try {
        process.kill(pid, 0);
        return true;
      } catch {
        return false;
      }
    };
    await vi.waitFor(() => expect(alive()).toBe(false), { timeout: 30_000, interval: 20 });
    expect(failures()).toEqual([]);
  });

  it.each(['garbage', 'badset', 'signal'])('publishes the view once a child that did %s twice answers', async (mode) => {
    const counter = join(dir, `runs-${mode}`);
    rmSync(counter, { force: true });
    const { s, stored, failures } = await start({ KV_DOUBLE_MODE: mode, KV_DOUBLE_FAILS: '2', KV_DOUBLE_COUNTER: counter });
    await vi.waitFor(() => expect(s.customObject(`/v1/${NS}/configmaps/${kernelIndexName(VIEW.build.digest)}`)).toBeDefined(), {
      timeout: 30_000,
      interval: 20,
    });
    await publisher!.whenInSync();
    expect(failures()).toHaveLength(2);
    if (mode === 'badset')
      expect(String(failures()[0]!['err'])).toMatch(/the collected view is unusable: its bytes do not hash to its set/);
    expect(existsSync(counter) && readFileSync(counter, 'utf8')).toBe('3');
    const [read] = readPublished(stored());
    expect((read!.report as typeof REPORT).kernelView).toEqual(VIEW);
  });
});
