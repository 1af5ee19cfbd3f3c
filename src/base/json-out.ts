// JSON.stringify(value, null, 2) written out in pieces instead of built as one string: a probe
// report is ~1.5 MB of JSON, and the whole string plus the bytes written from it cost a one-shot
// probe ~3 MiB at its peak (docs/probes.md, "Memory"). The output is byte for byte what
// JSON.stringify(value, null, 2) gives. Only plain objects and arrays are walked here, the top two
// levels always and a deeper one only when its JSON is longer than a piece; everything else (and
// anything with a toJSON) is left to JSON.stringify itself, which is several times faster than a
// walk in JavaScript: a report's helper rows (~25 KB each) are one call each.

/** Levels always walked here; below them a value is stringified whole unless that is longer than a piece. */
const WALK_DEPTH = 2;

function walkable(v: unknown): v is Record<string, unknown> | unknown[] {
  if (v === null || typeof v !== 'object') return false;
  if (typeof (v as { toJSON?: unknown }).toJSON === 'function') return false;
  if (Array.isArray(v)) return true;
  const proto = Object.getPrototypeOf(v) as unknown;
  return proto === Object.prototype || proto === null;
}

/** What JSON.stringify leaves out of an object (and writes as null in an array). */
function omitted(v: unknown): boolean {
  return v === undefined || typeof v === 'function' || typeof v === 'symbol';
}

/**
 * Write `JSON.stringify(value, null, 2)` and a newline through `write`, in pieces of about
 * `chunkBytes` characters. `value` must be something JSON.stringify turns into a string (not undefined).
 */
export function writeJson(value: unknown, write: (s: string) => void, chunkBytes = 64 * 1024): void {
  let parts: string[] = [];
  let size = 0;
  const out = (s: string): void => {
    parts.push(s);
    size += s.length;
    if (size >= chunkBytes) {
      write(parts.join(''));
      parts = [];
      size = 0;
    }
  };
  const emit = (v: unknown, indent: string, depth: number): void => {
    const canWalk = walkable(v);
    if (depth >= WALK_DEPTH || !canWalk) {
      const s = JSON.stringify(v, null, 2);
      if (s === undefined) throw new TypeError('writeJson: the value has no JSON form');
      if (!canWalk || s.length <= chunkBytes) return void out(indent ? s.replaceAll('\n', `\n${indent}`) : s);
    }
    const inner = `${indent}  `;
    if (Array.isArray(v)) {
      if (!v.length) return void out('[]');
      for (let i = 0; i < v.length; i++) {
        out(i ? `,\n${inner}` : `[\n${inner}`);
        if (omitted(v[i])) out('null');
        else emit(v[i], inner, depth + 1);
      }
      out(`\n${indent}]`);
      return;
    }
    let first = true;
    for (const k of Object.keys(v)) {
      const x = v[k];
      if (omitted(x)) continue;
      out(`${first ? '{' : ','}\n${inner}${JSON.stringify(k)}: `);
      first = false;
      emit(x, inner, depth + 1);
    }
    out(first ? '{}' : `\n${indent}}`);
  };
  emit(value, '', 0);
  out('\n');
  if (parts.length) write(parts.join(''));
}
