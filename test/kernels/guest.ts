// The guest: one initramfs holding busybox, the pinned Node runtime, the project (src/ and the
// production node_modules), Debian's bpftool and setpriv, our native-shim (exact capability sets),
// with the shared libraries ldd says they need.
// The 6.1 images have no 9p (CONFIG_NET_9P unset in cloud) and virtio is modular, so sharing the host
// tree would need modules per flavour; an initramfs needs none and boots the same on every flavour.
import { execFileSync } from 'node:child_process';
import { existsSync, mkdirSync, readdirSync, readFileSync, rmSync, statSync, symlinkSync, writeFileSync } from 'node:fs';
import { dirname, join } from 'node:path';

/** A command the guest runs; its stdout, stderr, exit code and time come back under `name`. */
export interface GuestStep {
  name: string;
  /** A busybox sh command line, run in /bpfready. */
  command: string;
}

export const GUEST_ROOT = '/bpfready';
export const DATA_BEGIN = '@@bpfready-begin ';
export const DATA_END = '@@bpfready-end ';
export const DATA_DONE = '@@bpfready-done';

const NODE = 'node_modules/node/bin/node';
const BPFTOOL = '/usr/sbin/bpftool';
// util-linux's: busybox's setpriv cannot change uid/gid.
const SETPRIV = '/usr/bin/setpriv';
// Built by `npm ci` (docs/native-shim.md); the guest runs probes under capability subsets with it.
const SHIM = 'native-shim/build/bpfready-shim';

/** The project as the guest sees it: the launcher, the sources, and production dependencies only. */
function productionPackages(project: string): string[] {
  const lock = JSON.parse(readFileSync(join(project, 'package-lock.json'), 'utf8')) as {
    packages: Record<string, { dev?: boolean }>;
  };
  const keys = Object.entries(lock.packages)
    .filter(([k, v]) => k.startsWith('node_modules/') && !v.dev)
    .map(([k]) => k)
    // Optional per-platform packages (koffi's prebuilt binaries) are only on disk for this platform.
    .filter((k) => existsSync(join(project, k)));
  // A nested package travels with its parent directory.
  return keys.filter((k) => !keys.some((p) => p !== k && k.startsWith(`${p}/`)));
}

function sharedLibraries(binaries: string[]): string[] {
  const out = execFileSync('ldd', binaries, { encoding: 'utf8' });
  return [...new Set(out.match(/\/\S+\.so[.\d]*/g) ?? [])];
}

function link(staging: string, guestPath: string, hostPath: string): void {
  const at = join(staging, guestPath);
  mkdirSync(dirname(at), { recursive: true });
  symlinkSync(hostPath, at);
}

function initScript(steps: GuestStep[]): string {
  const run = steps
    .map((s) => {
      const q = `/out/${s.name}`;
      return [
        `t0=$(cut -d' ' -f1 /proc/uptime)`,
        `( ${s.command} ) >${q}.stdout 2>${q}.stderr; echo $? >${q}.rc`,
        `echo "$t0 $(cut -d' ' -f1 /proc/uptime)" >${q}.time`,
        `echo "step ${s.name}: rc=$(cat ${q}.rc)"`,
      ].join('\n');
    })
    .join('\n');
  // ttyS0 is the console (kernel messages may land on it at any time); results go to ttyS1, which
  // only this script writes, gzip+base64 so the tty layer cannot mangle them.
  return `#!/bin/busybox sh
/bin/busybox --install -s /bin
export PATH=/bin:/usr/bin:/usr/sbin HOME=/root TMPDIR=/tmp
mkdir -p /proc /sys /dev /tmp /root /out
chmod 1777 /tmp
mount -t proc proc /proc
mount -t sysfs sysfs /sys
mount -t devtmpfs devtmpfs /dev
mount -t bpf bpffs /sys/fs/bpf
mount -t cgroup2 cgroup2 /sys/fs/cgroup
mount -t securityfs securityfs /sys/kernel/security
mount -t tracefs tracefs /sys/kernel/tracing
mount -t debugfs debugfs /sys/kernel/debug
echo "guest up: $(uname -r)"
cd ${GUEST_ROOT}
${run}
for f in /out/*; do
  echo "${DATA_BEGIN}\${f#/out/}"
  gzip -c "$f" | base64
  echo "${DATA_END}\${f#/out/}"
done >/dev/ttyS1
echo "${DATA_DONE}" >/dev/ttyS1
poweroff -f
`;
}

/**
 * Writes the initramfs to `out`; `extraPaths` (relative to the project) go into the guest's copy too. Kernel configs go to /boot/config-<release> so the probe (and
 * bpftool's syscall_config section) can read the booted kernel's config as on a Debian host.
 */
export function buildInitramfs(
  project: string,
  out: string,
  steps: GuestStep[],
  configs: Record<string, string>,
  extraPaths: readonly string[] = [],
): void {
  const staging = `${out}.d`;
  rmSync(staging, { recursive: true, force: true });
  mkdirSync(staging, { recursive: true });
  link(staging, 'bin/busybox', '/bin/busybox');
  const nodeBin = join(project, NODE);
  const shim = join(project, SHIM);
  if (!existsSync(shim)) throw new Error(`${shim} is missing: build it with make -C native-shim (npm ci does)`);
  for (const lib of sharedLibraries([nodeBin, BPFTOOL, SETPRIV, shim])) link(staging, lib.slice(1), lib);
  for (const bin of [BPFTOOL, SETPRIV]) link(staging, bin.slice(1), bin);
  const root = GUEST_ROOT.slice(1);
  // The matrix's own guest-side scripts (record-raw.ts and any --step script), not its cache.
  const scripts = readdirSync(join(project, 'test/kernels'))
    .filter((f) => f.endsWith('.ts'))
    .map((f) => `test/kernels/${f}`);
  for (const p of ['bin', 'src', 'package.json', SHIM, ...scripts, ...extraPaths]) link(staging, join(root, p), join(project, p));
  for (const p of productionPackages(project)) link(staging, join(root, p), join(project, p));
  link(staging, join(root, NODE), nodeBin);
  for (const [release, config] of Object.entries(configs)) link(staging, `boot/config-${release}`, config);
  writeFileSync(join(staging, 'init'), initScript(steps), { mode: 0o755 });
  // -L on both sides: the staging tree is symlinks into the host, the archive must hold the files.
  execFileSync('sh', ['-c', 'cd "$1" && find -L . | cpio --quiet -o -H newc -L >"$2"', 'sh', staging, out], { stdio: 'inherit' });
  rmSync(staging, { recursive: true, force: true });
  if (statSync(out).size < 1 << 20) throw new Error(`${out}: initramfs is implausibly small`);
}
