// The Dockerfile, read statically (no Docker engine here; docs/deploy.md says what was run instead):
// two stages, pinned bases, no compilers in the runtime stage, production dependencies only, and an
// image that contains what the daemon loads at run time.
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { REPO_ROOT } from '../../scripts/chart.ts';

const text = readFileSync(join(REPO_ROOT, 'Dockerfile'), 'utf8');
const lines = text.split('\n').filter((l) => !l.startsWith('#'));
const joined = lines.join('\n').replace(/\\\n/g, ' ');
const stages = joined.split(/^FROM /m).slice(1);
const args = Object.fromEntries([...joined.matchAll(/^ARG (\w+)=(\S+)/gm)].map((m) => [m[1]!, m[2]!]));
const image = (from: string): string => from.split(/\s/)[0]!.replace(/^\$\{(\w+)\}$/, (_m, a: string) => args[a] ?? '');

describe('Dockerfile', () => {
  it('has a build stage and a runtime stage', () => {
    expect(stages).toHaveLength(2);
    expect(stages[0]).toMatch(/ AS build/);
  });

  it('pins every base image to an exact version (or a digest)', () => {
    for (const s of stages) expect(image(s)).toMatch(/^node:\d+\.\d+\.\d+-[a-z]+-slim(@sha256:[0-9a-f]{64})?$/);
  });

  it('uses the Node major the project pins (package.json devDependency "node")', () => {
    const pkg = JSON.parse(readFileSync(join(REPO_ROOT, 'package.json'), 'utf8')) as { devDependencies: Record<string, string> };
    const pinned = /(\d+)\./.exec(pkg.devDependencies['node'] ?? '')?.[1];
    expect(image(stages[1]!)).toMatch(new RegExp(`^node:${pinned}\\.`));
  });

  it('installs compilers only in the build stage', () => {
    expect(stages[0]).toMatch(/apt-get install[^\n]*\bgcc\b/);
    expect(stages[1]).not.toMatch(/\b(gcc|clang|make|build-essential|g\+\+)\b/);
    expect(stages[1]).not.toMatch(/npm (ci|install)/);
  });

  it('installs production dependencies only and builds native-shim', () => {
    expect(stages[0]).toMatch(/npm ci --omit=dev/);
    expect(stages[0]).toMatch(/make -s -C native-shim/);
  });

  it('copies everything the daemon imports at run time', () => {
    for (const p of ['package.json', 'node_modules/', 'bin/', 'src/', 'native-shim/build/bpfready-shim'])
      expect(stages[1], p).toContain(`/app/${p}`);
    expect(stages[1]).toMatch(/ENTRYPOINT \["\/app\/bin\/bpfready"\]/);
    expect(stages[1]).toMatch(/CMD \["daemon"\]/);
  });

  it('ships a compile cache made with the launcher, and points Node at it', () => {
    expect(stages[0]).toMatch(/COPY scripts\/warm-compile-cache\.ts scripts\//);
    expect(stages[0]).toMatch(/RUN NODE_COMPILE_CACHE=\/app\/\.compile-cache bin\/bpfready warm-compile-cache/);
    expect(stages[1]).toContain('COPY --from=build /app/.compile-cache/ .compile-cache/');
    expect(stages[1]).toMatch(/^ENV .*NODE_COMPILE_CACHE=\/app\/\.compile-cache/m);
  });

  it('sends every file the build stage copies (none is excluded by .dockerignore)', () => {
    const rules = readFileSync(join(REPO_ROOT, '.dockerignore'), 'utf8')
      .split('\n')
      .map((l) => l.trim())
      .filter((l) => l && !l.startsWith('#'));
    // Docker's rule: the last pattern that matches a path (or one of its parent directories) decides.
    const glob = (p: string) =>
      new RegExp(
        `^${p
          .replace(/[.+^${}()|[\]\\]/g, '\\$&')
          .replace(/\*/g, '[^/]*')
          .replace(/\?/g, '[^/]')}$`,
      );
    const excluded = (path: string): boolean => {
      let out = false;
      const prefixes = path.split('/').map((_, i, parts) => parts.slice(0, i + 1).join('/'));
      for (const rule of rules) {
        const negated = rule.startsWith('!');
        const re = glob(negated ? rule.slice(1) : rule);
        if (prefixes.some((p) => re.test(p))) out = !negated;
      }
      return out;
    };
    const sources = [...stages[0]!.matchAll(/^COPY (?!--from)(.+)$/gm)].flatMap((m) => m[1]!.trim().split(/\s+/).slice(0, -1));
    expect(sources).toContain('scripts/warm-compile-cache.ts');
    for (const src of sources) expect(excluded(src.replace(/\/$/, '')), src).toBe(false);
    expect(excluded('test/kernel/probe.test.ts')).toBe(true);
  });

  it('keeps the build context small', () => {
    const ignore = readFileSync(join(REPO_ROOT, '.dockerignore'), 'utf8').split('\n');
    for (const p of ['.git', 'node_modules', 'native-shim/build', 'test']) expect(ignore).toContain(p);
    for (const p of ['src', 'bin', 'native-shim', 'package.json']) expect(ignore).not.toContain(p);
  });
});
