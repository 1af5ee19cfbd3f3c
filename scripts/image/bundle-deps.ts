// The image's node_modules, made lean (docs/adr/0005-image-dependencies.md): the Dockerfile's build
// stage runs this after `npm ci --omit=dev`. Every runtime dependency src/ imports is bundled with
// esbuild into one ES module per package, holding only the exports src/ imports and what they reach
// (@kubernetes/client-node is 64 MB installed, most of it generated API groups and models bpfready
// never loads); shared code goes into common chunks. Packages with native code (koffi) are copied as
// they are, less sources and headers. The import names come from src/ itself, so a new import cannot
// be missed, and every bundled name is checked to be defined before the tree replaces node_modules.
// Each package keeps a package.json with its name and version, and the licence files of every
// package the bundles contain are kept under node_modules/.licenses/.
//
//   node scripts/image/bundle-deps.ts APP_DIR     APP_DIR has src/, package.json, node_modules/
import { cpSync, existsSync, mkdirSync, readdirSync, readFileSync, renameSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import { join, relative, sep } from 'node:path';
import { pathToFileURL } from 'node:url';

/** Packages whose native addon is loaded by path at run time: not bundled. */
const NATIVE = new Set(['koffi']);
/** What a native package needs only to be built: its C/C++ sources, vendored headers, docs. */
const NATIVE_DROP_DIRS = ['vendor', 'doc'];
const NATIVE_DROP_FILES = /\.(cc|c|h|hh|hpp|inc|S|asm|def|d\.ts|md)$/;

interface EsbuildResult {
  errors: unknown[];
  warnings: { text: string }[];
  metafile: { inputs: Record<string, unknown>; outputs: Record<string, { bytes: number }> };
}
interface Esbuild {
  build(options: Record<string, unknown>): Promise<EsbuildResult>;
}

const app = process.argv[2];
if (!app || !existsSync(join(app, 'src')) || !existsSync(join(app, 'node_modules'))) {
  console.error('usage: node scripts/image/bundle-deps.ts APP_DIR (with src/ and node_modules/)');
  process.exit(2);
}
const modules = join(app, 'node_modules');
const pkg = JSON.parse(readFileSync(join(app, 'package.json'), 'utf8')) as { dependencies: Record<string, string> };

/** Runtime imports of the non-test sources: package -> imported names ('default', or '*' for all). */
function runtimeImports(srcDir: string): Map<string, Set<string>> {
  const out = new Map<string, Set<string>>();
  const files = readdirSync(srcDir, { recursive: true, encoding: 'utf8' }).filter((f) => f.endsWith('.ts') && !f.endsWith('.test.ts'));
  // `import type` and `export type` carry no run-time import; inline `type X` names are dropped.
  const re = /^\s*import\s+(?!type\s)([^'";]*?)\s*from\s*'([^'.][^']*)'/gms;
  for (const f of files) {
    const text = readFileSync(join(srcDir, f), 'utf8');
    for (const m of text.matchAll(re)) {
      const [, clause = '', spec = ''] = m;
      if (spec.startsWith('node:')) continue;
      const name = spec.startsWith('@') ? spec.split('/').slice(0, 2).join('/') : spec.split('/')[0]!;
      if (name !== spec) throw new Error(`${f}: imports ${spec}: a deep import would bypass the bundle; import from ${name}`);
      const names = out.get(name) ?? new Set<string>();
      out.set(name, names);
      const braces = /\{([^}]*)\}/.exec(clause);
      const outside = clause
        .replace(/\{[^}]*\}/, '')
        .split(',')
        .map((s) => s.trim())
        .filter(Boolean);
      for (const o of outside) names.add(o.startsWith('*') ? '*' : 'default');
      for (const n of braces?.[1]?.split(',') ?? []) {
        const t = n.trim();
        if (!t || t.startsWith('type ')) continue;
        names.add(t.split(/\s+as\s+/)[0]!.trim());
      }
    }
    if (/\bimport\(\s*'[^'.]/.test(text))
      throw new Error(`${f}: a dynamic import of a package; list it statically or extend bundle-deps.ts`);
  }
  return out;
}

const imports = runtimeImports(join(app, 'src'));
for (const name of imports.keys()) {
  if (!(name in pkg.dependencies)) throw new Error(`src/ imports ${name}, which is not a dependency in package.json`);
}

const { build } = (await import(pathToFileURL(join(import.meta.dirname, 'node_modules/esbuild/lib/main.js')).href)) as Esbuild;
const work = join(app, '.bundle-work');
const out = join(app, 'node_modules.bundled');
rmSync(work, { recursive: true, force: true });
rmSync(out, { recursive: true, force: true });
mkdirSync(work, { recursive: true });

const entryPoints: { in: string; out: string }[] = [];
for (const [name, names] of imports) {
  if (NATIVE.has(name)) continue;
  const entry = join(work, `${name.replace('/', '+')}.mjs`);
  const list = [...names].sort();
  writeFileSync(
    entry,
    list.includes('*')
      ? `export * from '${name}';\nexport { default } from '${name}';\n`
      : `export { ${list.join(', ')} } from '${name}';\n`,
  );
  entryPoints.push({ in: entry, out: `${name}/index` });
}

const result = await build({
  entryPoints,
  bundle: true,
  splitting: true,
  format: 'esm',
  platform: 'node',
  target: 'node24',
  outdir: out,
  chunkNames: '.chunks/[name]-[hash]',
  nodePaths: [modules],
  external: [...NATIVE],
  metafile: true,
  // The bundled packages' licence comments go to <bundle>.LEGAL.txt beside each bundle, not into
  // it: they are the only non-ASCII text esbuild leaves in its output (it escapes the rest), and a
  // module source with a non-ASCII character is kept by V8 as a two-byte string for the life of the
  // process (client-node's: 4.1 instead of 2.0 MiB; docs/daemon.md, "Memory after the first publish").
  legalComments: 'external',
  // Minified: V8 keeps every module's source text for its whole life (lazy compilation), and the
  // generated Kubernetes client's is most of it (docs/daemon.md, "Issue 20: footprint before and after"). Class and function
  // names are kept: error messages and the client's own serializer name types by them.
  minify: true,
  keepNames: true,
  logLevel: 'warning',
  // CommonJS code inside an ES module bundle still calls require() for Node's built-ins.
  banner: { js: "import { createRequire as __bpfreadyRequire } from 'node:module'; const require = __bpfreadyRequire(import.meta.url);" },
});
if (result.errors.length) process.exit(1);

for (const f of Object.keys(result.metafile.outputs)) {
  if (!f.endsWith('.js')) continue;
  const at = readFileSync(f).findIndex((b) => b > 0x7f);
  if (at >= 0) throw new Error(`bundle-deps: ${f} has a non-ASCII byte at ${at}: V8 would keep it as a two-byte string`);
}

const version = (name: string): string =>
  (JSON.parse(readFileSync(join(modules, name, 'package.json'), 'utf8')) as { version: string }).version;
for (const [name] of imports) {
  if (NATIVE.has(name)) continue;
  writeFileSync(
    join(out, name, 'package.json'),
    `${JSON.stringify({ name, version: version(name), type: 'module', main: 'index.js', description: `${name} bundled for the bpfready image (scripts/image/bundle-deps.ts)` }, null, 2)}\n`,
  );
}

// Licences of every package whose code is in a bundle.
const bundled = new Set<string>();
for (const input of Object.keys(result.metafile.inputs)) {
  const parts = input.split(/[\\/]/);
  const at = parts.lastIndexOf('node_modules');
  if (at < 0) continue;
  const p = parts[at + 1]!.startsWith('@') ? parts.slice(at + 1, at + 3) : parts.slice(at + 1, at + 2);
  bundled.add(join(...parts.slice(0, at + 1), ...p));
}
for (const dir of bundled) {
  const name = relative(modules, dir)
    .split(sep)
    .filter((s) => s !== 'node_modules')
    .join('/');
  for (const f of readdirSync(dir)) {
    if (/^(licen[cs]e|copying|notice)/i.test(f) && statSync(join(dir, f)).isFile()) {
      mkdirSync(join(out, '.licenses', name), { recursive: true });
      cpSync(join(dir, f), join(out, '.licenses', name, f));
    }
  }
}

// Native packages and their platform packages, as installed, less what is only for building them.
for (const name of NATIVE) {
  if (!imports.has(name)) continue;
  const deps = Object.keys(
    (JSON.parse(readFileSync(join(modules, name, 'package.json'), 'utf8')) as { optionalDependencies?: Record<string, string> })
      .optionalDependencies ?? {},
  );
  for (const n of [name, ...deps]) {
    if (!existsSync(join(modules, n))) continue;
    cpSync(join(modules, n), join(out, n), { recursive: true, filter: (f) => !NATIVE_DROP_FILES.test(f) });
    for (const d of NATIVE_DROP_DIRS) rmSync(join(out, n, d), { recursive: true, force: true });
  }
}

const bytes = (dir: string): number =>
  readdirSync(dir, { recursive: true, encoding: 'utf8' }).reduce((s, f) => {
    const st = statSync(join(dir, f));
    return st.isFile() ? s + st.size : s;
  }, 0);
const before = bytes(modules);
rmSync(work, { recursive: true, force: true });
rmSync(modules, { recursive: true, force: true });
renameSync(out, modules);

// Every name src/ imports must be defined, resolved and loaded from APP_DIR as Node's loader does it.
const resolveFromApp = createRequire(join(app, 'package.json')).resolve;
for (const [name, names] of imports) {
  const ns = (await import(pathToFileURL(resolveFromApp(name)).href)) as Record<string, unknown>;
  for (const n of names) {
    if (n !== '*' && ns[n] === undefined) throw new Error(`bundle of ${name}: ${n} is undefined`);
  }
}
console.log(
  `bundle-deps: ${imports.size} packages (${[...imports.keys()].join(', ')}), ${bundled.size} bundled in; node_modules ${(before / 1e6).toFixed(1)} MB -> ${(bytes(modules) / 1e6).toFixed(1)} MB`,
);
