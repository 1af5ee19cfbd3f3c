// `bpfready check --against` and `--emit` end to end, as an operator runs them: saved reports of
// real kernels (fixtures/reports/), bad input refused with one line and exit 2, and the emitted YAML
// held to the schemas of what reads it (the chart via real helm, core types via kubernetes-models,
// the NFD and node-readiness-controller CRDs as published: test/fixtures/crds/README.md).
import { spawnSync } from 'node:child_process';
import { mkdtempSync, readdirSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { gunzipSync } from 'node:zlib';
import { Ajv } from 'ajv';
import { describe, expect, it } from 'vitest';
import { parse, parseAllDocuments } from 'yaml';
import { Pod } from 'kubernetes-models/v1';
import type { AgainstDocument } from '../../src/commands/check-against.ts';
import { NAMED_REPORTS_DIR } from '../../src/requirements/reports.ts';
import { template } from '../../scripts/chart.ts';
import { helmSkip } from '../deploy/k8s.ts';

const BIN = resolve(import.meta.dirname, '../../bin/bpfready');
const CORPUS = (name: string): string => resolve(import.meta.dirname, '../corpus/libbpf-tools', `${name}.bpf.o`);
const CRDS = resolve(import.meta.dirname, '../fixtures/crds');
const run = (...args: string[]) => {
  const r = spawnSync(BIN, ['check', ...args], { encoding: 'utf8', timeout: 120_000 });
  return { code: r.status, stdout: r.stdout, stderr: r.stderr };
};
const dir = mkdtempSync(join(tmpdir(), 'bpfready-against-'));
const amd64 = JSON.parse(gunzipSync(readFileSync(join(NAMED_REPORTS_DIR, 'debian-6.1.0-57-amd64.json.gz'))).toString('utf8')) as Record<
  string,
  unknown
>;
const write = (name: string, text: string): string => {
  writeFileSync(join(dir, name), text);
  return join(dir, name);
};

describe('check --against: bad input → one line, exit 2, nothing on stdout', () => {
  const full = JSON.stringify(amd64);
  it.each([
    [
      'a report of an unknown schema version',
      () => write('v2.json', JSON.stringify({ ...amd64, schemaVersion: 2 })),
      /v2\.json: report schemaVersion 2 is not one this bpfready reads \(it reads 1\)/,
    ],
    ['a truncated report', () => write('cut.json', full.slice(0, full.length >> 1)), /cut\.json: not valid JSON \(a truncated report\?\)/],
    [
      'a kernel view of an unknown version',
      () => write('kv9.json', JSON.stringify({ ...amd64, kernelView: { ...(amd64.kernelView as object), version: 9 } })),
      /kv9\.json: kernelView version 9 is not one this bpfready reads/,
    ],
    [
      'no such report',
      () => 'debian-4.19',
      /debian-4\.19: no such file or directory, and not a named report \(named: .*debian-6\.1\.0-57-amd64/,
    ],
    ['an empty directory', () => mkdtempSync(join(dir, 'empty-')), /a directory without report files/],
  ])('%s', (_what, arg, msg) => {
    const r = run('--elf', CORPUS('opensnoop'), '--against', arg());
    expect(r.code).toBe(2);
    expect(r.stdout).toBe('');
    expect(r.stderr.trim().split('\n')).toHaveLength(1);
    expect(r.stderr).toMatch(msg);
  });

  it('an unknown profile: exit 2 before any report is read, nothing on stdout', () => {
    const r = run('--profile', 'nope', '--against', 'debian-6.1.0-57-amd64');
    expect(r.code).toBe(2);
    expect(r.stdout).toBe('');
    expect(r.stderr.split('\n')[0]).toBe('bpfready check: unknown profile "nope" (built in: cilium, falco-modern-ebpf)');
  });
});

describe('check --against saved reports', () => {
  it('one verdict per report, exit 1 when one does not hold; the 6.18 VM has no tracefs mounted', () => {
    const r = run('--elf', CORPUS('opensnoop'), '--against', 'debian-6.1.0-57-amd64', '--against', NAMED_REPORTS_DIR, '--json');
    expect(r.code).toBe(1);
    const d = JSON.parse(r.stdout) as AgainstDocument;
    const names = readdirSync(NAMED_REPORTS_DIR).filter((f) => f.endsWith('.json.gz')).length;
    expect(d.against).toHaveLength(1 + names);
    const byName = new Map(d.against.map((a) => [a.name, a]));
    expect(byName.get('debian-6.1.0-57-amd64')).toMatchObject({ ok: true, kernelView: true });
    const vm = d.against.find((a) => a.kernel.release.startsWith('6.18'))!;
    expect(vm.ok).toBe(false);
    expect(vm.unmet.map((v) => v.id)).toContain('feature:tracefs');
    expect(vm.unmet.find((v) => v.id === 'feature:tracefs')!.remediation.join(' ')).toMatch(/mount -t tracefs/);
    // The reports were probed as root; the object needs less.
    expect(byName.get('debian-6.1.0-57-amd64')!.context.differs.join(' ')).toMatch(
      /probed with .*cap_sys_admin.*which the workload does not hold/,
    );
  });

  it('exit 0 when every report holds', () => {
    const r = run('--elf', CORPUS('opensnoop'), '--against', 'debian-6.1.0-57-amd64', '--against', 'debian-6.1.0-57-cloud-amd64');
    expect(r.stdout).toMatch(/✓ debian-6\.1\.0-57-amd64 \(6\.1\.0-57-amd64\): ready/);
    expect(r.code).toBe(0);
  });

  it('without a kernel view, CO-RE, tracepoints and kconfig are unknown (report lacks kernel view), never met', () => {
    const { kernelView: _k, ...plain } = amd64;
    const file = write('plain.json', JSON.stringify(plain));
    const r = run('--elf', CORPUS('opensnoop'), '--require', 'kconfig:CONFIG_CRYPTO_SHA1=y/m', '--against', file, '--json');
    expect(r.code).toBe(1);
    const a = (JSON.parse(r.stdout) as AgainstDocument).against[0]!;
    expect(a.kernelView).toBe(false);
    const needView = a.results.filter((v) => ['core', 'attach-target', 'kconfig'].includes(v.requirement.kind));
    expect(needView.length).toBeGreaterThan(4);
    for (const v of needView)
      expect({ id: v.id, status: v.status, detail: v.detail }).toEqual({
        id: v.id,
        status: 'error',
        detail: expect.stringMatching(/^unknown \(report lacks kernel view\)/),
      });
    // The same requirements with the view: decided.
    const withView = (
      JSON.parse(
        run('--elf', CORPUS('opensnoop'), '--require', 'kconfig:CONFIG_CRYPTO_SHA1=y/m', '--against', 'debian-6.1.0-57-amd64', '--json')
          .stdout,
      ) as AgainstDocument
    ).against[0]!;
    expect(withView.results.filter((v) => needView.some((n) => n.id === v.id)).every((v) => v.status === 'supported')).toBe(true);
  });
});

describe('check --emit: YAML that what reads it accepts', () => {
  const emit = (kind: string, obj = 'opensnoop') => {
    const r = run('--elf', CORPUS(obj), '--emit', kind);
    expect(r.code).toBe(0);
    return r.stdout;
  };
  const crd = (file: string) => {
    const doc = parseAllDocuments(readFileSync(join(CRDS, file), 'utf8'))
      .map((d) => d.toJS())
      .find((d) => d?.kind === 'CustomResourceDefinition');
    return doc.spec.versions.find((v: { served: boolean }) => v.served).schema.openAPIV3Schema;
  };
  const ajv = new Ajv({ strict: false, allErrors: true });

  it.skipIf(helmSkip())('profile: real helm template accepts it and the daemon config carries it', () => {
    const values = parse(emit('profile', 'tcpconnect'));
    const out = template({ values: [values] });
    const cm = parseAllDocuments(out)
      .map((d) => d.toJS())
      .find((d) => d?.kind === 'ConfigMap' && JSON.stringify(d).includes('tcpconnect'));
    expect(cm).toBeDefined();
    const reqs = values.config.profiles.tcpconnect as string[];
    expect(reqs.length).toBeGreaterThan(5);
    for (const id of reqs) expect(JSON.stringify(cm)).toContain(id);
  });

  it('node-affinity: a valid core/v1 Pod affinity on the profile label', () => {
    const y = parse(emit('node-affinity'));
    const pod = new Pod({ metadata: { name: 'x' }, spec: { containers: [{ name: 'c', image: 'i' }], affinity: y.affinity } });
    expect(() => pod.validate()).not.toThrow();
    expect(y.affinity.nodeAffinity.requiredDuringSchedulingIgnoredDuringExecution.nodeSelectorTerms[0].matchExpressions[0]).toEqual({
      key: 'bpfready.io/profile.opensnoop',
      operator: 'In',
      values: ['true'],
    });
  });

  it("node-feature-rule: valid against NFD v0.19's NodeFeatureRule schema, matching our NodeFeature domain", () => {
    const y = parse(emit('node-feature-rule'));
    const validate = ajv.compile(crd('nodefeaturerules.nfd.k8s-sigs.io.yaml'));
    expect(validate(y), JSON.stringify(validate.errors)).toBe(true);
    expect(validate({ ...y, spec: { rules: [{ labels: {} }] } })).toBe(false);
    expect(y.spec.rules[0].matchFeatures[0].feature).toBe('bpfready.profile');
  });

  it("node-readiness-rule: valid against node-readiness-controller v0.5's schema and its CEL rules", async () => {
    const y = parse(emit('node-readiness-rule'));
    const schema = crd('nodereadinessrules.readiness.node.x-k8s.io.yaml');
    const validate = ajv.compile(schema);
    expect(validate(y), JSON.stringify(validate.errors)).toBe(true);
    const { evaluate } = (await import('@marcbachmann/cel-js')) as unknown as { evaluate(expr: string, ctx: object): unknown };
    const rules = (schema.properties.spec.properties.taint['x-kubernetes-validations'] as { rule: string }[]).filter(
      (r) => !r.rule.includes('oldSelf'),
    );
    expect(rules.length).toBeGreaterThan(0);
    for (const { rule } of rules) expect({ rule, ok: evaluate(rule, { self: y.spec.taint }) }).toEqual({ rule, ok: true });
    expect(evaluate(rules[0]!.rule, { self: { ...y.spec.taint, key: 'bpfready.io/x' } })).toBe(false);
    expect(y.spec.conditions).toEqual([{ type: 'bpfready.io/ProfileOpensnoop', requiredStatus: 'True' }]);
  });
});
