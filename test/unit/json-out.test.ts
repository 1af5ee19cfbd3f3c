// writeJson (src/base/json-out.ts): the probe's JSON in pieces must be byte for byte
// JSON.stringify(value, null, 2) and a newline, for real reports (the 6.1 kernels' recorded ones)
// and for the shapes JSON.stringify treats specially.
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { writeJson } from '../../src/base/json-out.ts';

const FIXTURES = join(import.meta.dirname, '../kernels/fixtures');

function pieces(value: unknown, chunk?: number): string[] {
  const out: string[] = [];
  writeJson(value, (s) => out.push(s), chunk);
  return out;
}

describe('writeJson', () => {
  it('writes a recorded 6.1 report exactly as JSON.stringify(report, null, 2), in pieces of about the chunk size', () => {
    const report = JSON.parse(readFileSync(join(FIXTURES, '6.1.0-57-amd64.json'), 'utf8')) as unknown;
    const whole = `${JSON.stringify(report, null, 2)}\n`;
    expect(whole.length).toBeGreaterThan(256 * 1024);
    const out = pieces(report, 16 * 1024);
    expect(out.join('')).toBe(whole);
    // A piece passes the chunk size by one value at most, and a value longer than a piece is walked.
    for (const p of out) expect(p.length).toBeLessThan(2 * 16 * 1024 + 1024);
    expect(out.length).toBeGreaterThan(whole.length / (2 * 16 * 1024));
  });

  it('treats empty containers, omitted values, toJSON, class instances and odd keys as JSON.stringify does', () => {
    class Point {
      x: number;
      y: number;
      constructor(x: number, y: number) {
        this.x = x;
        this.y = y;
      }
    }
    const values: unknown[] = [
      {},
      [],
      'text',
      42,
      null,
      true,
      { a: {}, b: [], c: undefined, d: () => 1, e: Symbol('s'), f: null },
      [undefined, () => 1, Symbol('s'), [], {}, [[]], [{}]],
      { when: new Date(0), point: new Point(1, 2), nested: { deeper: { deepest: { x: [1, { y: 'z\nw' }] } } } },
      { 'quote"key': 1, 'new\nline': 2, '': 3, 10: 'numeric keys first', b: 'then the rest' },
      { onlyOmitted: { a: undefined, b: () => 1 } },
      Object.assign(Object.create(null) as object, { bare: true }),
      { custom: { toJSON: () => ({ replaced: [1, 2] }) } },
    ];
    for (const v of values) {
      for (const chunk of [1, 7, 64 * 1024]) expect(pieces(v, chunk).join(''), JSON.stringify(v)).toBe(`${JSON.stringify(v, null, 2)}\n`);
    }
  });

  it('refuses a value without a JSON form and throws where JSON.stringify throws', () => {
    expect(() => pieces(undefined)).toThrow(/no JSON form/);
    expect(() => pieces({ n: 1n })).toThrow(TypeError);
  });
});
