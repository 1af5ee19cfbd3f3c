// CO-RE (compile once, run everywhere) relocations, resolved the way libbpf resolves them against the
// kernel's BTF (docs/requirements.md, "CO-RE"): the local type's name without its `___flavour` suffix
// picks the candidates (vmlinux first, then each module's own types when vmlinux has none), and a
// candidate matches when the access path — member names, array indexes — exists in it with compatible
// kinds. Pure: BTF in, specs and numbers out.
//
// The local side of a relocation is turned into a `CoreSpec` once, when the object is read. A spec is
// plain data (names, indexes and the kinds of the types at each step), so a requirement can carry it and
// be checked later against any kernel's BTF without the object at hand.
import { ParseError } from '../base/errors.ts';
import { Btf, BtfKind, essentialName } from './btf.ts';

/** enum bpf_core_relo_kind, by value. */
export const CORE_KIND_NAMES = [
  'field_byte_offset',
  'field_byte_size',
  'field_exists',
  'field_signed',
  'field_lshift_u64',
  'field_rshift_u64',
  'type_id_local',
  'type_id_target',
  'type_exists',
  'type_size',
  'enumval_exists',
  'enumval_value',
  'type_matches',
] as const;
export type CoreKind = (typeof CORE_KIND_NAMES)[number];

/** Relocations that ask whether something exists: they never fail, they resolve to 0 (libbpf). */
export function isExistence(k: CoreKind): boolean {
  return k === 'field_exists' || k === 'type_exists' || k === 'enumval_exists' || k === 'type_matches';
}

export type CoreClass = 'field' | 'type' | 'enumval';
export function coreClass(k: CoreKind): CoreClass {
  return k.startsWith('field_') ? 'field' : k.startsWith('enumval_') ? 'enumval' : 'type';
}

/**
 * What libbpf's compatibility checks look at in a type: its kind, the name of enums and forward
 * declarations, whether an int is an old-style bitfield int, and what pointers, arrays and function
 * prototypes lead to.
 */
export interface Shape {
  k: 'void' | 'int' | 'ptr' | 'array' | 'struct' | 'union' | 'enum' | 'fwd' | 'float' | 'func_proto' | 'any' | 'other';
  name?: string;
  /** An int with a non-zero bit offset (deprecated bitfield encoding): compatible with nothing. */
  bitOffset?: true;
  of?: Shape;
  params?: Shape[];
}

export type CoreStep = { member: string; shape: Shape } | { index: number };

export interface CoreSpec {
  class: CoreClass;
  /** BTF kind of the root type (struct, union, enum, typedef, ...), as named in BTF_KIND_NAMES. */
  rootKind: string;
  /** The local name, flavour included (task_struct___x). */
  root: string;
  /** field: the index on the root, then each named member or array element on the way. */
  steps: CoreStep[];
  /** enumval: the enumerator's local name. */
  enumerator?: string;
  /** type: the root's shape, for libbpf's type compatibility. */
  shape?: Shape;
}

const KIND_BY_NAME: Record<string, number> = {
  int: BtfKind.INT,
  ptr: BtfKind.PTR,
  array: BtfKind.ARRAY,
  struct: BtfKind.STRUCT,
  union: BtfKind.UNION,
  enum: BtfKind.ENUM,
  fwd: BtfKind.FWD,
  typedef: BtfKind.TYPEDEF,
  float: BtfKind.FLOAT,
  func_proto: BtfKind.FUNC_PROTO,
  enum64: BtfKind.ENUM64,
};
const KIND_NAME: Record<number, string> = Object.fromEntries(Object.entries(KIND_BY_NAME).map(([k, v]) => [v, k]));

const MAX_SHAPE_DEPTH = 8;

/** The shape of a type (modifiers and typedefs skipped), down to MAX_SHAPE_DEPTH levels. */
export function shapeOf(btf: Btf, id: number, depth = 0): Shape {
  if (depth >= MAX_SHAPE_DEPTH) return { k: 'any' };
  const r = btf.skipModsAndTypedefs(id);
  if (r === 0) return { k: 'void' };
  switch (btf.kind(r)) {
    case BtfKind.INT:
      return btf.intInfo(r)!.offset ? { k: 'int', bitOffset: true } : { k: 'int' };
    case BtfKind.PTR:
      return { k: 'ptr', of: shapeOf(btf, btf.typeRef(r), depth + 1) };
    case BtfKind.ARRAY:
      return { k: 'array', of: shapeOf(btf, btf.arrayInfo(r)!.type, depth + 1) };
    case BtfKind.STRUCT:
      return { k: 'struct', name: btf.name(r) };
    case BtfKind.UNION:
      return { k: 'union', name: btf.name(r) };
    case BtfKind.ENUM:
    case BtfKind.ENUM64:
      return { k: 'enum', name: btf.name(r) };
    case BtfKind.FWD:
      return { k: 'fwd', name: btf.name(r) };
    case BtfKind.FLOAT:
      return { k: 'float' };
    case BtfKind.FUNC_PROTO:
      return {
        k: 'func_proto',
        of: shapeOf(btf, btf.typeRef(r), depth + 1),
        params: btf.funcParams(r).map((p) => shapeOf(btf, p.type, depth + 1)),
      };
    default:
      return { k: 'other' };
  }
}

/** The local side of one relocation, from the object's BTF (libbpf's bpf_core_parse_spec). */
export function coreSpec(btf: Btf, typeId: number, access: string, kind: CoreKind, input: string): CoreSpec {
  const fail = (why: string): never => {
    throw new ParseError(input, `CO-RE relocation on type ${typeId} ("${access}"): ${why}`);
  };
  if (!/^\d+(:\d+)*$/.test(access)) fail('the access string is not colon-separated indexes');
  const idx = access.split(':').map(Number);
  const rootKind = KIND_NAME[btf.kind(typeId)];
  const root = btf.name(typeId);
  const cls = coreClass(kind);
  if (!rootKind) fail(`the root type has kind ${btf.kind(typeId)}`);
  if (cls === 'type') {
    if (kind !== 'type_id_local' && root === '') fail('the root type is anonymous');
    return { class: 'type', rootKind: rootKind!, root, steps: [], shape: shapeOf(btf, typeId) };
  }
  if (root === '') fail('the root type is anonymous');
  if (cls === 'enumval') {
    const e = btf.skipModsAndTypedefs(typeId);
    const k = btf.kind(e);
    if (k !== BtfKind.ENUM && k !== BtfKind.ENUM64) fail('an enum value relocation whose type is not an enum');
    const names = [...btf.enumValuesOf(e)!.keys()];
    if (idx.length !== 1 || idx[0]! >= names.length) fail(`enumerator ${idx[0]} of ${names.length}`);
    return { class: 'enumval', rootKind: rootKind!, root, steps: [], enumerator: names[idx[0]!]! };
  }
  const steps: CoreStep[] = [{ index: idx[0]! }];
  let t = btf.skipModsAndTypedefs(typeId);
  for (const i of idx.slice(1)) {
    const k = btf.kind(t);
    if (k === BtfKind.STRUCT || k === BtfKind.UNION) {
      const m = btf.structMembers(t)[i];
      if (!m) fail(`member ${i} of a ${btf.structMembers(t).length}-member ${KIND_NAME[k]}`);
      // Anonymous members are walked through, not matched: libbpf searches the target's members,
      // anonymous ones included, by name.
      if (m!.name) steps.push({ member: m!.name, shape: shapeOf(btf, m!.type) });
      t = btf.skipModsAndTypedefs(m!.type);
    } else if (k === BtfKind.ARRAY) {
      steps.push({ index: i });
      t = btf.skipModsAndTypedefs(btf.arrayInfo(t)!.type);
    } else {
      fail(`index ${i} into a ${KIND_NAME[k] ?? `kind ${k}`}`);
    }
  }
  return { class: 'field', rootKind: rootKind!, root, steps };
}

/** "cfs_rq.nr_running", "task_struct.se.cfs_rq", "bpf_func_id::BPF_FUNC_x", "trace_event_raw_x". */
export function coreSpecName(s: CoreSpec): string {
  if (s.class === 'enumval') return `${s.root}::${s.enumerator}`;
  if (s.class === 'type') return s.root;
  let out = s.root;
  const [first, ...rest] = s.steps;
  if (first && 'index' in first && first.index !== 0) out += `[${first.index}]`;
  for (const st of rest) out += 'member' in st ? `.${st.member}` : `[${st.index}]`;
  return out;
}

// ---------------------------------------------------------------------------------------------------
// Matching against a target (kernel) BTF.

const compatKinds = (k: number): number[] => (k === BtfKind.ENUM || k === BtfKind.ENUM64 ? [BtfKind.ENUM, BtfKind.ENUM64] : [k]);

/** Candidates for a spec's root in one BTF (its own types): same kind, same name without flavour. */
export function candidates(spec: CoreSpec, btf: Btf): number[] {
  const kind = KIND_BY_NAME[spec.rootKind];
  if (kind === undefined) return [];
  return btf.ownIdsByEssentialName(compatKinds(kind), essentialName(spec.root));
}

const isComposite = (k: string): boolean => k === 'struct' || k === 'union';

function targetShapeKind(btf: Btf, id: number): Shape['k'] {
  if (id === 0) return 'void';
  switch (btf.kind(id)) {
    case BtfKind.INT:
      return 'int';
    case BtfKind.PTR:
      return 'ptr';
    case BtfKind.ARRAY:
      return 'array';
    case BtfKind.STRUCT:
      return 'struct';
    case BtfKind.UNION:
      return 'union';
    case BtfKind.ENUM:
    case BtfKind.ENUM64:
      return 'enum';
    case BtfKind.FWD:
      return 'fwd';
    case BtfKind.FLOAT:
      return 'float';
    case BtfKind.FUNC_PROTO:
      return 'func_proto';
    default:
      return 'other';
  }
}

const namesMatch = (a: string | undefined, b: string): boolean => {
  const x = essentialName(a ?? '');
  const y = essentialName(b);
  return x === '' || y === '' || x === y;
};

/** libbpf's bpf_core_fields_are_compat: may a field of local shape `l` be read from target type `id`? */
export function fieldsCompat(l: Shape, btf: Btf, id: number, depth = 0): boolean {
  if (l.k === 'any' || depth > 32) return true;
  const r = btf.skipModsAndTypedefs(id);
  const tk = targetShapeKind(btf, r);
  if (isComposite(l.k) && isComposite(tk)) return true;
  if (l.k !== tk) return false;
  switch (l.k) {
    case 'ptr':
    case 'float':
      return true;
    case 'fwd':
    case 'enum':
      return namesMatch(l.name, btf.name(r));
    case 'int':
      return !l.bitOffset && btf.intInfo(r)!.offset === 0;
    case 'array':
      return fieldsCompat(l.of!, btf, btf.arrayInfo(r)!.type, depth + 1);
    default:
      return false;
  }
}

/** libbpf's bpf_core_types_are_compat, for type-based relocations. */
export function typesCompat(l: Shape, btf: Btf, id: number, depth = 0): boolean {
  if (l.k === 'any') return true;
  if (depth > 32) return false;
  const r = btf.skipModsAndTypedefs(id);
  const tk = targetShapeKind(btf, r);
  if (l.k !== tk) return false;
  switch (l.k) {
    case 'void':
    case 'struct':
    case 'union':
    case 'enum':
    case 'fwd':
    case 'float':
      return true;
    case 'int':
      return !l.bitOffset && btf.intInfo(r)!.offset === 0;
    case 'ptr':
      return typesCompat(l.of!, btf, btf.typeRef(r), depth + 1);
    case 'array':
      return typesCompat(l.of!, btf, btf.arrayInfo(r)!.type, depth + 1);
    case 'func_proto': {
      const params = btf.funcParams(r);
      if (params.length !== l.params!.length) return false;
      if (!params.every((p, i) => typesCompat(l.params![i]!, btf, p.type, depth + 1))) return false;
      return typesCompat(l.of!, btf, btf.typeRef(r), depth + 1);
    }
    default:
      return false;
  }
}

/** Where a matched field lies in the target. */
export interface FieldMatch {
  /** Bit offset from the start of the root object (the root index included). */
  bitOffset: number;
  /** The field's type id (in the target BTF). */
  type: number;
  /** Bitfield width, 0 for a whole field. */
  bitfieldSize: number;
}

/** A member named `name` of composite `id`, searching anonymous members too (libbpf's match_member). */
function findMember(
  btf: Btf,
  id: number,
  name: string,
  l: Shape,
  depth = 0,
): { bitOffset: number; type: number; bitfieldSize: number } | undefined {
  if (depth > 32) return undefined;
  for (const m of btf.structMembers(id)) {
    if (m.name === '') {
      const inner = btf.skipModsAndTypedefs(m.type);
      const k = btf.kind(inner);
      if (k !== BtfKind.STRUCT && k !== BtfKind.UNION) continue;
      const found = findMember(btf, inner, name, l, depth + 1);
      if (found) return { ...found, bitOffset: found.bitOffset + m.bitOffset };
    } else if (m.name === name) {
      return fieldsCompat(l, btf, m.type) ? { bitOffset: m.bitOffset, type: m.type, bitfieldSize: m.bitfieldSize ?? 0 } : undefined;
    }
  }
  return undefined;
}

/** A field spec matched in candidate `id` of `btf` (libbpf's bpf_core_spec_match), or undefined. */
export function matchField(spec: CoreSpec, btf: Btf, id: number): FieldMatch | undefined {
  const [first, ...rest] = spec.steps;
  const rootSize = btf.sizeOf(id);
  if (!first || !('index' in first)) return undefined;
  if (first.index !== 0 && rootSize === undefined) return undefined;
  let bitOffset = first.index * (rootSize ?? 0) * 8;
  let t = id;
  let bitfieldSize = 0;
  for (let i = 0; i < rest.length; i++) {
    const st = rest[i]!;
    const r = btf.skipModsAndTypedefs(t);
    const k = btf.kind(r);
    if ('member' in st) {
      if (k !== BtfKind.STRUCT && k !== BtfKind.UNION) return undefined;
      const m = findMember(btf, r, st.member, st.shape);
      if (!m) return undefined;
      bitOffset += m.bitOffset;
      t = m.type;
      bitfieldSize = m.bitfieldSize;
    } else {
      if (k !== BtfKind.ARRAY) return undefined;
      const a = btf.arrayInfo(r)!;
      // A flexible array (0 elements, last in its struct) may be indexed past its declared length.
      if (a.nelems !== 0 && st.index >= a.nelems) return undefined;
      const es = btf.sizeOf(a.type);
      if (es === undefined) return undefined;
      bitOffset += st.index * es * 8;
      t = a.type;
      bitfieldSize = 0;
    }
  }
  return { bitOffset, type: t, bitfieldSize };
}

/** An enumerator of target enum `id` whose name, without flavour, is the spec's (libbpf). */
function matchEnumval(spec: CoreSpec, btf: Btf, id: number): bigint | undefined {
  const want = essentialName(spec.enumerator ?? '');
  const values = btf.enumValuesOf(btf.skipModsAndTypedefs(id));
  if (!values) return undefined;
  for (const [n, v] of values) if (n !== '' && essentialName(n) === want) return v;
  return undefined;
}

/** The value libbpf patches into the instruction for relocation `kind` against candidate `id`. */
export function coreValue(kind: CoreKind, spec: CoreSpec, btf: Btf, id: number, bigEndian = false): bigint | undefined {
  switch (coreClass(kind)) {
    case 'type': {
      if (kind === 'type_id_local') return BigInt(id);
      if (!spec.shape || !typesCompat(spec.shape, btf, id)) return undefined;
      if (kind === 'type_exists' || kind === 'type_matches') return 1n;
      if (kind === 'type_id_target') return BigInt(id);
      const size = btf.sizeOf(id);
      return size === undefined ? undefined : BigInt(size);
    }
    case 'enumval': {
      const v = matchEnumval(spec, btf, id);
      if (v === undefined) return undefined;
      return kind === 'enumval_exists' ? 1n : v;
    }
    case 'field': {
      const m = matchField(spec, btf, id);
      if (!m) return undefined;
      if (kind === 'field_exists') return 1n;
      const ft = btf.skipModsAndTypedefs(m.type);
      if (kind === 'field_signed') {
        const k = btf.kind(ft);
        const signed = ((k === BtfKind.ENUM || k === BtfKind.ENUM64) && btf.kindFlag(ft)) || ((btf.intInfo(ft)?.encoding ?? 0) & 1) === 1;
        return signed ? 1n : 0n;
      }
      const size = btf.sizeOf(m.type);
      if (size === undefined) return undefined;
      let byteOff: number;
      let byteSize: number;
      let bitSize: number;
      if (m.bitfieldSize === 0) {
        byteOff = Math.floor(m.bitOffset / 8);
        byteSize = size;
        bitSize = size * 8;
        if (m.bitOffset % 8 !== 0) return undefined;
      } else {
        // A bitfield is read as the smallest naturally aligned load that covers it, starting from the
        // size of its declared type (libbpf's rule).
        bitSize = m.bitfieldSize;
        byteSize = size;
        byteOff = Math.floor(m.bitOffset / 8 / byteSize) * byteSize;
        while (m.bitOffset + bitSize - byteOff * 8 > byteSize * 8) {
          if (byteSize >= 8) return undefined;
          byteSize *= 2;
          byteOff = Math.floor(m.bitOffset / 8 / byteSize) * byteSize;
        }
      }
      switch (kind) {
        case 'field_byte_offset':
          return BigInt(byteOff);
        case 'field_byte_size':
          return BigInt(byteSize);
        case 'field_lshift_u64':
          return BigInt(bigEndian ? (8 - byteSize) * 8 + (m.bitOffset - byteOff * 8) : 64 - (m.bitOffset + bitSize - byteOff * 8));
        case 'field_rshift_u64':
          return BigInt(64 - bitSize);
        default:
          return undefined;
      }
    }
  }
}

export type CoreResolution =
  | { ok: true; value: bigint; candidates: number; btf: Btf; id: number }
  | { ok: false; reason: 'no-candidate' | 'no-match' | 'ambiguous'; detail: string };

/**
 * Resolve one relocation against the kernel: vmlinux first, then (only when vmlinux has no candidate
 * at all) each module's BTF. Several matching candidates must agree on the value, or libbpf refuses
 * the relocation as ambiguous. Existence relocations resolve to 0 instead of failing.
 */
export function resolveCore(kind: CoreKind, spec: CoreSpec, vmlinux: Btf, modules: readonly Btf[] = [], bigEndian = false): CoreResolution {
  let cands = candidates(spec, vmlinux).map((id) => ({ btf: vmlinux, id }));
  if (!cands.length) cands = modules.flatMap((m) => candidates(spec, m).map((id) => ({ btf: m, id })));
  const name = coreSpecName(spec);
  if (!cands.length) {
    if (isExistence(kind)) return { ok: true, value: 0n, candidates: 0, btf: vmlinux, id: 0 };
    return { ok: false, reason: 'no-candidate', detail: `no ${spec.rootKind} ${essentialName(spec.root)} in the kernel's BTF` };
  }
  let found: { value: bigint; btf: Btf; id: number } | undefined;
  for (const c of cands) {
    const v = coreValue(kind, spec, c.btf, c.id, bigEndian);
    if (v === undefined) continue;
    if (found && found.value !== v && kind !== 'type_id_target') {
      return {
        ok: false,
        reason: 'ambiguous',
        detail: `${name}: candidates [${found.id}] and [${c.id}] of the kernel's BTF give ${found.value} and ${v}`,
      };
    }
    found ??= { value: v, btf: c.btf, id: c.id };
  }
  if (found) return { ok: true, ...found, candidates: cands.length };
  if (isExistence(kind)) return { ok: true, value: 0n, candidates: cands.length, btf: vmlinux, id: 0 };
  return {
    ok: false,
    reason: 'no-match',
    detail: `${spec.rootKind} ${essentialName(spec.root)} is in the kernel's BTF, but ${missingPart(spec)}`,
  };
}

function missingPart(spec: CoreSpec): string {
  if (spec.class === 'enumval') return `has no enumerator ${essentialName(spec.enumerator ?? '')}`;
  if (spec.class === 'type') return "not in a shape compatible with the object's";
  const members = spec.steps.filter((s): s is { member: string; shape: Shape } => 'member' in s).map((s) => s.member);
  return `the path ${members.join('.')} does not resolve (a member is missing, renamed or of another kind)`;
}
