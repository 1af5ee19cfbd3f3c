// Debian's kernel images, fetched with apt and unpacked into the cache — never installed: installing
// would touch /boot and the bootloader of the machine running the tests.
import { execFileSync } from 'node:child_process';
import { existsSync, mkdirSync, readdirSync, renameSync, rmSync } from 'node:fs';
import { join } from 'node:path';

export interface KernelImage {
  /** Debian flavour: cloud-amd64, amd64, rt-amd64. */
  flavour: string;
  /** The versioned package, e.g. linux-image-6.1.0-56-cloud-amd64. */
  pkg: string;
  /** Debian package version, e.g. 6.1.192-2. */
  version: string;
  /** `uname -r` of the image, from its file names. */
  release: string;
  vmlinuz: string;
  config: string;
}

/** Bookworm's 6.1 flavours; the metapackages point at the current ABI's versioned image. */
export const FLAVOURS = ['cloud-amd64', 'amd64', 'rt-amd64'] as const;

function sh(cmd: string, args: string[], cwd?: string): string {
  return execFileSync(cmd, args, { cwd, encoding: 'utf8', stdio: ['ignore', 'pipe', 'pipe'] });
}

/** linux-image-<flavour> → linux-image-6.1.0-NN-<flavour> and its version, from the local apt lists. */
function resolve(flavour: string): { pkg: string; version: string } {
  const meta = `linux-image-${flavour}`;
  const deps = sh('apt-cache', ['depends', meta]);
  const pkg = /Depends: (linux-image-\d\S*)/.exec(deps)?.[1];
  if (!pkg) throw new Error(`apt-cache depends ${meta}: no versioned linux-image dependency in:\n${deps}`);
  const policy = sh('apt-cache', ['policy', pkg]);
  const version = /Candidate: (\S+)/.exec(policy)?.[1];
  if (!version || version === '(none)') throw new Error(`apt-cache policy ${pkg}: no candidate version`);
  return { pkg, version };
}

/** Only boot/ (vmlinuz, config) is needed: the guest runs from an initramfs, without modules. */
function unpack(deb: string, dir: string): void {
  const tmp = `${dir}.partial`;
  rmSync(tmp, { recursive: true, force: true });
  mkdirSync(tmp, { recursive: true });
  execFileSync('sh', ['-c', 'dpkg-deb --fsys-tarfile "$1" | tar -x -C "$2" ./boot', 'sh', deb, tmp], { stdio: 'inherit' });
  renameSync(tmp, dir);
}

function imageIn(dir: string, flavour: string, pkg: string, version: string): KernelImage {
  const boot = join(dir, 'boot');
  const vmlinuz = readdirSync(boot).find((f) => f.startsWith('vmlinuz-'));
  if (!vmlinuz) throw new Error(`${boot}: no vmlinuz-* in the unpacked ${pkg}`);
  const release = vmlinuz.slice('vmlinuz-'.length);
  return { flavour, pkg, version, release, vmlinuz: join(boot, vmlinuz), config: join(boot, `config-${release}`) };
}

function cachedKernel(cache: string, flavour: string): { pkg: string; version: string } | undefined {
  const dirs = existsSync(join(cache, 'kernels')) ? readdirSync(join(cache, 'kernels')) : [];
  // "-<abi>-<flavour>_": the ABI number keeps "amd64" from matching "cloud-amd64".
  const pattern = new RegExp(`^(linux-image-[\\d.]+-\\d+-${flavour})_(.+)$`);
  const last = dirs
    .filter((d) => pattern.test(d))
    .sort()
    .at(-1);
  const m = last ? pattern.exec(last) : null;
  return m?.[1] && m[2] ? { pkg: m[1], version: m[2] } : undefined;
}

/** The image for one flavour, downloaded on first use and cached per package version. */
export function fetchKernel(cache: string, flavour: string): KernelImage {
  let pkg: string;
  let version: string;
  try {
    ({ pkg, version } = resolve(flavour));
  } catch (err) {
    // Without apt lists (no `apt-get update` yet) a cached image still lets the matrix run offline.
    const cached = cachedKernel(cache, flavour);
    if (!cached) throw err;
    console.warn(`test:kernels: ${(err as Error).message.split('\n')[0]}; using the cached ${cached.pkg} ${cached.version}`);
    ({ pkg, version } = cached);
  }
  const dir = join(cache, 'kernels', `${pkg}_${version}`);
  if (!existsSync(dir)) {
    const debs = join(cache, 'debs');
    mkdirSync(debs, { recursive: true });
    // apt names the file with the epoch's ':' escaped as %3a; look it up rather than rebuild the name.
    const file = `${pkg}_${version.replace(':', '%3a')}_amd64.deb`;
    if (!existsSync(join(debs, file))) sh('apt-get', ['download', `${pkg}=${version}`], debs);
    unpack(join(debs, file), dir);
  }
  return imageIn(dir, flavour, pkg, version);
}
