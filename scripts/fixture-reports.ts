// The named reports bpfready ships (fixtures/reports/, `check --against NAME`, docs/json.md "Named
// reports"), from real runs: this kernel's `probe --json --kernel-view` as root, and the same inside
// a qemu guest of each Debian 6.1 flavour, booted the way `npm run test:kernels` boots it
// (test/kernels/). In the same guests, scripts/corpus-truth.ts writes what that kernel did with each
// corpus object (test/corpus/truth/<release>.json): the ground truth `check --against` is measured by.
//
//   node scripts/fixture-reports.ts [--flavours cloud-amd64,amd64,rt-amd64] [--no-host] [--no-truth] [--timeout 1800]
import { execFileSync } from 'node:child_process';
import { mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { release } from 'node:os';
import { dirname, join, resolve } from 'node:path';
import { parseArgs } from 'node:util';
import { gzipSync } from 'node:zlib';
import { buildInitramfs, type GuestStep } from '../test/kernels/guest.ts';
import { fetchKernel, FLAVOURS } from '../test/kernels/kernels.ts';
import { boot } from '../test/kernels/qemu.ts';

const ROOT = resolve(dirname(new URL(import.meta.url).pathname), '..');
const OUT = join(ROOT, 'fixtures/reports');
const CACHE = join(ROOT, 'test/kernels/.cache');
/** Bumped when the set's meaning changes (not when a report is regenerated). */
const FIXTURE_SET_VERSION = 1;

interface Entry {
  name: string;
  file: string;
  release: string;
  source: string;
  generatedAt: string;
}

function save(name: string, json: string, source: string): Entry {
  const report = JSON.parse(json) as {
    kernel: { release: string };
    generatedAt: string;
    schemaVersion: number;
    kernelView?: { version: number };
  };
  if (report.schemaVersion !== 1 || report.kernelView?.version !== 1)
    throw new Error(`${name}: not a schema 1 report with a version 1 kernel view`);
  const file = `${name}.json.gz`;
  writeFileSync(join(OUT, file), gzipSync(`${JSON.stringify(report)}\n`, { level: 9 }));
  return { name, file, release: report.kernel.release, source, generatedAt: report.generatedAt };
}

async function main(): Promise<number> {
  const { values } = parseArgs({
    options: {
      flavours: { type: 'string', default: FLAVOURS.join(',') },
      'no-host': { type: 'boolean', default: false },
      'no-truth': { type: 'boolean', default: false },
      timeout: { type: 'string', default: '1800' },
    },
  });
  mkdirSync(OUT, { recursive: true });
  const indexFile = join(OUT, 'index.json');
  let entries: Entry[] = [];
  try {
    entries = (JSON.parse(readFileSync(indexFile, 'utf8')) as { reports: Entry[] }).reports;
  } catch {
    // First run: no index yet.
  }
  const put = (e: Entry): void => {
    entries = [...entries.filter((x) => x.name !== e.name), e].sort((a, b) => (a.name < b.name ? -1 : 1));
    writeFileSync(
      indexFile,
      `${JSON.stringify({ version: FIXTURE_SET_VERSION, generator: 'scripts/fixture-reports.ts', reports: entries }, null, 1)}\n`,
    );
  };
  if (!values['no-host']) {
    const json = execFileSync(join(ROOT, 'bin/bpfready'), ['probe', '--json', '--kernel-view'], { encoding: 'utf8', maxBuffer: 256 << 20 });
    put(save(release(), json, `bpfready probe --json --kernel-view as root on the development VM (kernel ${release()})`));
    console.log(`${release()}: written`);
  }
  const flavours = values.flavours.split(',').filter(Boolean);
  const kernels = flavours.map((f) => fetchKernel(CACHE, f));
  const steps: GuestStep[] = [
    { name: 'uname', command: 'uname -r' },
    { name: 'report', command: './bin/bpfready probe --json --kernel-view' },
    ...(values['no-truth']
      ? []
      : [
          {
            name: 'truth',
            command:
              'node_modules/node/bin/node --disable-warning=ExperimentalWarning scripts/corpus-truth.ts --no-tools --out /tmp/truth.json && cat /tmp/truth.json',
          },
        ]),
  ];
  const initramfs = join(CACHE, 'fixture-initramfs.cpio');
  buildInitramfs(ROOT, initramfs, steps, Object.fromEntries(kernels.map((k) => [k.release, k.config])), [
    'scripts/corpus-truth.ts',
    'test/corpus/libbpf-tools',
  ]);
  let failed = 0;
  // One guest at a time: two vCPUs, shared.
  for (const k of kernels) {
    const dir = join(CACHE, 'fixture-runs', k.release);
    mkdirSync(dir, { recursive: true });
    const b = await boot({
      vmlinuz: k.vmlinuz,
      initramfs,
      consoleLog: join(dir, 'console.log'),
      dataLog: join(dir, 'data.log'),
      memoryMiB: 2048,
      timeoutMs: Number(values.timeout) * 1000,
    });
    for (const [n, s] of Object.entries(b.steps)) {
      writeFileSync(join(dir, `${n}.stdout`), s.stdout);
      writeFileSync(join(dir, `${n}.stderr`), s.stderr);
    }
    const r = b.steps.report;
    if (b.steps.uname?.stdout.trim() !== k.release || !r || r.rc !== 0) {
      console.log(
        `${k.release}: FAILED (${b.timedOut ? 'timed out; ' : ''}report step ${r ? `exit ${r.rc}: ${r.stderr.slice(-400)}` : 'missing'}); see ${dir}`,
      );
      failed++;
      continue;
    }
    put(
      save(
        `debian-${k.release}`,
        r.stdout,
        `bpfready probe --json --kernel-view as root in a qemu guest booting Debian's ${k.pkg} ${k.version} (scripts/fixture-reports.ts)`,
      ),
    );
    const t = b.steps.truth;
    if (t && t.rc === 0) {
      writeFileSync(join(ROOT, 'test/corpus/truth', `${k.release}.json`), t.stdout);
      console.log(`${k.release}: report and corpus truth written (guest: report ${r.seconds} s, truth ${t.seconds} s)`);
    } else if (t) {
      console.log(`${k.release}: report written; corpus truth FAILED (exit ${t.rc}: ${t.stderr.slice(-400)})`);
      failed++;
    } else console.log(`${k.release}: report written`);
  }
  return failed ? 1 : 0;
}

process.exitCode = await main();
