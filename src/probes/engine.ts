// The probe families run against the kernel: program types, map types, the helper matrix, attach
// types and misc features. Each function turns a table row into bpf() calls through src/native and
// hands the raw outcome to interpret.ts. Every fd is closed before the function returns.
import { btfLoad, mapCreate, OwnedFd, progLoad, tokenCreate, type LoadResult, type ProgLoadSpec } from '../native/bpf.ts';
import { BPF_F_MMAPABLE, BPF_F_SLEEPABLE, BPF_F_XDP_HAS_FRAGS } from '../native/bpf.ts';
import {
  callKfunc,
  callLocal,
  encode,
  exit,
  bswap64,
  gotol,
  jeqImm,
  jlt32Imm,
  jltImm,
  jneImm,
  add64Imm,
  ldImm64,
  ldxsb,
  mov64Imm,
  movsx64,
  sdiv64Imm,
  smod64Imm,
  RETURN_ZERO,
  stMem64,
  BPF_PSEUDO_MAP_VALUE,
  type Insn,
} from '../native/insn.ts';
import { errnoName } from '../native/libc.ts';
import { ATTACH_TYPE_NAMES, MAP_TYPE_NAMES } from '../native/uapi-names.ts';
import { BtfKind } from '../kernel/btf.ts';
import { BTF_KIND_BLOBS, intBtf, xdpFuncBtf } from './btf-blobs.ts';
import { CAP, hasCap, mapTypeCaps, progTypeCaps } from '../contract/capabilities.ts';
import { EBADF, EINVAL, ENOTSUPP, EPERM, interpretCreate, interpretFdTrick, logExcerpt } from '../contract/interpret.ts';
import { MAP_TYPES, type MapRecipe } from './maps.ts';
import { ATTACH_TYPES, PROGRAM_TYPES, type ProgRecipe } from './programs.ts';
import { explainDenied, outcome, progTypeId, viaToken, type ProbeEnv, type TokenOp } from '../contract/probe-env.ts';
import { refusedForPrivilege } from './privilege.ts';
export { progTypeId } from '../contract/probe-env.ts';
export { inheritHelpers, probeHelpers } from './helpers.ts';
export type { EngineBtf, ProbeEnv, TokenOp } from '../contract/probe-env.ts';
import { notPermitted, probeError, supported, unsupported, type ProbeResult, type ResultMap } from '../contract/result.ts';

/** Every vmlinux BTF name the tables can ask for, so the answers come from one pass over BTF. */
export function btfQueries(): [kind: number, name: string][] {
  const kinds = { func: BtfKind.FUNC, typedef: BtfKind.TYPEDEF, struct: BtfKind.STRUCT } as const;
  const recipes: ProgRecipe[] = [
    ...Object.values(PROGRAM_TYPES).flat(),
    ...Object.values(ATTACH_TYPES).flatMap(([, r]) => (Array.isArray(r) ? r : [r]) as ProgRecipe[]),
  ];
  const q: [number, string][] = recipes.flatMap((r) => (r.btf ? [[kinds[r.btf[0]], r.btf[1]] as [number, string]] : []));
  for (const m of Object.values(MAP_TYPES)) if (m.structOps) q.push([BtfKind.STRUCT, `bpf_struct_ops_${m.structOps}`]);
  for (const [, names] of KFUNC_CANDIDATES) for (const n of names) q.push([BtfKind.FUNC, n]);
  q.push([BtfKind.ENUM, 'bpf_attach_type'], [BtfKind.ENUM64, 'bpf_attach_type']);
  return q;
}

export const mapTypeId = (name: string): number => MAP_TYPE_NAMES.indexOf(name);
export const attachTypeId = (name: string): number => ATTACH_TYPE_NAMES.indexOf(name);

function closeAll(fds: OwnedFd[]): void {
  for (const fd of fds) fd.close();
}

/**
 * No vmlinux BTF to ask. Only its absence (ENOENT) says the kernel lacks it; a file we may not read
 * (EACCES, EPERM: a host mount missing or restricted) leaves availability unknown.
 */
function noBtf(env: ProbeEnv, what: string): ProbeResult {
  const why = `${what}: ${env.btfMissing ?? 'no vmlinux BTF'}`;
  if (env.btfErrno === 'ENOENT' || env.btfErrno === undefined) return unsupported(undefined, why);
  if (env.btfErrno === 'EACCES' || env.btfErrno === 'EPERM') return notPermitted(env.btfErrno, why);
  return probeError(env.btfErrno, why);
}

/** BPF_BTF_LOAD refused: it needs cap_bpf (or a token delegating btf_load). */
function btfDenied(r: ProbeResult, env: ProbeEnv, needer: string): ProbeResult {
  if (r.status !== 'not-permitted') return r;
  const why =
    env.tokenFd !== undefined
      ? env.explainTokenEperm?.({ cmd: 'btf_load' })
      : hasCap(env.caps, CAP.BPF)
        ? 'BPF_BTF_LOAD denied although cap_bpf is present'
        : 'BPF_BTF_LOAD needs cap_bpf; missing: cap_bpf';
  return { ...r, detail: `${needer} needs BTF: ${why ?? r.detail}; availability unknown` };
}

// ---------------------------------------------------------------------------------------------
// Program loads

/** A program load request built from a recipe, plus fds it depends on (closed by the caller). */
export interface PreparedLoad {
  spec: ProgLoadSpec;
  deps: OwnedFd[];
  /** For reporting: which attach type made the type load. */
  label: string;
}

function btfTarget(recipe: ProgRecipe, env: ProbeEnv): number | ProbeResult {
  if (!recipe.btf) return 0;
  const [kind, name] = recipe.btf;
  if (!env.btf) return noBtf(env, 'needs vmlinux BTF to name its target');
  const k = kind === 'func' ? BtfKind.FUNC : kind === 'typedef' ? BtfKind.TYPEDEF : BtfKind.STRUCT;
  const id = env.btf.findId(k, name);
  // A missing target says nothing about the program type: report it as our limitation.
  if (id === undefined)
    return probeError(
      undefined,
      env.btf.parseError ? `vmlinux BTF is unreadable: ${env.btf.parseError}` : `attach target ${kind} ${name} not found in vmlinux BTF`,
    );
  return id;
}

/** Build the load for one recipe; a ProbeResult when it cannot be built here. */
export function prepareLoad(progType: string, recipe: ProgRecipe, env: ProbeEnv): PreparedLoad | ProbeResult {
  const spec: ProgLoadSpec = { progType: progTypeId(progType), insns: RETURN_ZERO, license: 'GPL', logLevel: 1 };
  const deps: OwnedFd[] = [];
  let label = recipe.attach ?? (recipe.member ? `${recipe.btf?.[1]}.${recipe.member}` : progType);
  if (recipe.attach) spec.expectedAttachType = attachTypeId(recipe.attach);
  if (recipe.ret !== undefined) spec.insns = [mov64Imm(0, recipe.ret), exit()];
  if (recipe.flags) spec.progFlags = recipe.flags;
  if (recipe.kernVersion) spec.kernVersion = env.kernVersion;
  if (env.tokenFd !== undefined) spec.tokenFd = env.tokenFd;
  const id = btfTarget(recipe, env);
  if (typeof id !== 'number') return id;
  if (id) spec.attachBtfId = id;
  if (recipe.member) {
    const members = env.btf!.structMembers(id);
    const idx = members.findIndex((m) => m.name === recipe.member);
    if (idx < 0) return probeError(undefined, `struct ${recipe.btf![1]} has no member ${recipe.member}`);
    spec.expectedAttachType = idx;
  }
  if (recipe.extTarget) {
    // freplace needs a target program with BTF func info, and BTF of its own whose prototype
    // matches the replaced function (kernel: "Program extension requires BTF").
    const { blob, funcId } = xdpFuncBtf();
    const btf = btfLoad(blob, viaToken(env));
    if (!btf.ok) return btfDenied(interpretCreate(outcome(btf), 'BTF for the extension target'), env, 'program type ext');
    deps.push(btf.fd);
    const funcInfo = new Uint8Array(8);
    new DataView(funcInfo.buffer).setUint32(4, funcId, true);
    const target = progLoad({
      progType: progTypeId('xdp'),
      insns: RETURN_ZERO,
      progBtfFd: btf.fd.fd,
      funcInfo,
      ...viaToken(env),
    });
    if (!target.ok) {
      closeAll(deps);
      return interpretCreate(outcome(target), 'the XDP program an extension replaces');
    }
    deps.push(target.fd);
    Object.assign(spec, { attachProgFd: target.fd.fd, attachBtfId: funcId, progBtfFd: btf.fd.fd, funcInfo });
    label = 'freplace';
  }
  return { spec, deps, label };
}

function load(spec: ProgLoadSpec, insns?: readonly Insn[] | Uint8Array): LoadResult {
  return progLoad(insns ? { ...spec, insns } : spec);
}

export interface ProgTypeOutcome {
  result: ProbeResult;
  /** The recipe that loaded, reused by the helper matrix. */
  recipe?: ProgRecipe;
}

/**
 * Load the recipes in order until one loads: the outcome names the recipe that did, or combines
 * every failure (each explained: missing capability, token delegation, verifier excerpt).
 */
function loadFirst(
  progType: string,
  recipes: readonly ProgRecipe[],
  env: ProbeEnv,
  what: string,
): { recipe: ProgRecipe; label: string } | ProbeResult {
  const failures: ProbeResult[] = [];
  // The variant each failure belongs to ('' for one that could not be prepared).
  const labels: string[] = [];
  for (const recipe of recipes) {
    const prepared = prepareLoad(progType, recipe, env);
    if (!('spec' in prepared)) {
      failures.push(prepared);
      labels.push(recipe.attach ?? '');
      continue;
    }
    const r = load(prepared.spec);
    closeAll(prepared.deps);
    if (r.ok) {
      r.fd.close();
      return { recipe, label: prepared.label };
    }
    // Last-resort variant: this errno can only come from a kernel that knows the type.
    if (recipe.expectErrno !== undefined && r.errno === recipe.expectErrno) {
      return {
        recipe,
        label: `a program without a target (the kernel answered ${errnoName(r.errno)}, as only a kernel with the type does)`,
      };
    }
    const res = refusedForPrivilege(interpretCreate(outcome(r), what), outcome(r), env, prepared.label);
    const op: TokenOp = {
      cmd: 'prog_load',
      progType: progTypeId(progType),
      ...(prepared.spec.expectedAttachType !== undefined ? { attachType: prepared.spec.expectedAttachType } : {}),
    };
    const explained = explainDenied(res, env, op, 'program type', progType, progTypeCaps(progType));
    failures.push(explained);
    labels.push(
      recipe.btf && recipes.some((o) => o !== recipe && o.attach === recipe.attach)
        ? `${prepared.label} on ${recipe.btf[1]}`
        : prepared.label,
    );
  }
  if (failures.length === 1) return failures[0]!;
  // Name the variants that failed alike once: "lsm_mac, lsm_cgroup: <why>".
  const byWhy = new Map<string, string[]>();
  failures.forEach((f, i) => {
    const why = f.detail ?? f.errno ?? f.status;
    byWhy.set(why, [...(byWhy.get(why) ?? []), labels[i] ?? '']);
  });
  const labelled = failures.map((f, i) => ({ ...f, detail: `${labels[i]}: ${f.detail ?? f.errno ?? f.status}` }));
  const merged = combine(labelled);
  const detail = [...byWhy].map(([why, ls]) => `${ls.filter(Boolean).join(', ')}${ls.some(Boolean) ? ': ' : ''}${why}`).join('; ');
  return { ...merged, detail };
}

/**
 * Whether a program of this type loads with this expected attach type (its ATTACH_TYPES recipes),
 * and the recipe that did: the load of a `<type>/<attach>` helper row (programs.ts HELPER_VARIANTS).
 */
export function probeAttachVariant(progType: string, attach: string, env: ProbeEnv): ProgTypeOutcome {
  const row = ATTACH_TYPES[attach];
  if (!row || row[0] !== progType)
    return { result: probeError(undefined, `no load recipe for ${progType} programs with expected attach type ${attach}`) };
  const list = (Array.isArray(row[1]) ? row[1] : [row[1]]) as ProgRecipe[];
  const r = loadFirst(progType, list, env, `${progType} programs with expected attach type ${attach}`);
  if (!('recipe' in r)) return { result: r };
  return { result: supported(list.length > 1 && r.recipe.btf ? `loads on ${r.recipe.btf[1]}` : undefined), recipe: r.recipe };
}

export function probeProgramType(name: string, env: ProbeEnv): ProgTypeOutcome {
  const variants = PROGRAM_TYPES[name];
  if (!variants) return { result: probeError(undefined, `no probe for program type ${name}`) };
  const r = loadFirst(name, variants, env, `program type ${name}`);
  if (!('recipe' in r)) return { result: r };
  // A type proven only by the errno of a targetless load has no program to run helpers in.
  const loadable = r.recipe.expectErrno === undefined;
  return { result: variants.length > 1 ? supported(`loads as ${r.label}`) : supported(), ...(loadable ? { recipe: r.recipe } : {}) };
}

/**
 * No variant loaded. Availability is unknown if any variant was refused for permission or failed
 * for a reason of ours; it is unsupported only when every variant was rejected as unknown.
 */
function combine(failures: ProbeResult[]): ProbeResult {
  const pick = (s: ProbeResult['status']) => failures.filter((f) => f.status === s);
  for (const status of ['not-permitted', 'error', 'unsupported'] as const) {
    const group = pick(status);
    if (group.length) {
      const detail = [...new Set(failures.map((f) => f.detail).filter(Boolean))].join('; ');
      return { status, ...(group[0]!.errno ? { errno: group[0]!.errno } : {}), ...(detail ? { detail } : {}) };
    }
  }
  return probeError(undefined, 'no variant could be tried');
}

// ---------------------------------------------------------------------------------------------
// Maps

function createMap(
  name: string,
  recipe: MapRecipe,
  env: ProbeEnv,
  deps: OwnedFd[],
): { r: { ok: boolean; errno?: number; fd?: OwnedFd }; detail?: string } | ProbeResult {
  const attr: Parameters<typeof mapCreate>[0] = {
    map_type: mapTypeId(name),
    key_size: recipe.key ?? 4,
    value_size: recipe.value ?? 4,
    max_entries: recipe.maxEntries ?? 1,
    ...(recipe.flags ? { map_flags: recipe.flags } : {}),
  };
  if (recipe.innerMap) {
    const inner = mapCreate({ map_type: mapTypeId('array'), key_size: 4, value_size: 4, max_entries: 1 }, viaToken(env));
    if (!inner.ok)
      return explainDenied(
        interpretCreate(outcome(inner), 'the inner array map'),
        env,
        { cmd: 'map_create', mapType: mapTypeId('array') },
        'map type',
        `${name} (its inner array map)`,
        mapTypeCaps('array'),
      );
    deps.push(inner.fd);
    attr.inner_map_fd = inner.fd.fd;
  }
  if (recipe.intBtf) {
    const btf = btfLoad(intBtf(), viaToken(env));
    if (!btf.ok) return btfDenied(interpretCreate(outcome(btf), 'BTF for the map key and value'), env, `map type ${name}`);
    deps.push(btf.fd);
    Object.assign(attr, { btf_fd: btf.fd.fd, btf_key_type_id: 1, btf_value_type_id: 1 });
  }
  if (recipe.structOps) {
    if (!env.btf) return noBtf(env, 'needs vmlinux BTF');
    const vt = env.btf.findId(BtfKind.STRUCT, `bpf_struct_ops_${recipe.structOps}`);
    if (vt === undefined) return probeError(undefined, `struct bpf_struct_ops_${recipe.structOps} not in vmlinux BTF`);
    // map_create() insists on a valid btf_fd even though the value type is the kernel's: the
    // object is expected to carry BTF of its own (comment in kernel/bpf/syscall.c).
    const btf = btfLoad(intBtf(), viaToken(env));
    if (!btf.ok) return btfDenied(interpretCreate(outcome(btf), 'BTF that a struct_ops map must name'), env, 'map type struct_ops');
    deps.push(btf.fd);
    Object.assign(attr, { value_size: env.btf.typeRef(vt), btf_vmlinux_value_type_id: vt, btf_fd: btf.fd.fd });
  }
  const r = mapCreate(attr, viaToken(env));
  return { r };
}

export function probeMapType(name: string, env: ProbeEnv): ProbeResult {
  const recipe = MAP_TYPES[name];
  if (!recipe) return probeError(undefined, `no probe for map type ${name}`);
  const deps: OwnedFd[] = [];
  try {
    const created = createMap(name, recipe, env, deps);
    if (!('r' in created)) return created;
    const { r } = created;
    if (r.ok) {
      r.fd!.close();
      return supported();
    }
    const res = interpretCreate(outcome(r), `map type ${name}`);
    return explainDenied(res, env, { cmd: 'map_create', mapType: mapTypeId(name) }, 'map type', name, mapTypeCaps(name));
  } finally {
    closeAll(deps);
  }
}

// ---------------------------------------------------------------------------------------------
// Attach types

const BOGUS_ATTACH_TYPE = 0xffff;

/**
 * Whether the kernel checks expected_attach_type when it loads this program type: most non-cgroup
 * types accept any number there, so a load proves nothing about the attach type.
 */
function validatesAttachType(progType: string, env: ProbeEnv): boolean | ProbeResult {
  const r = progLoad({ progType: progTypeId(progType), insns: RETURN_ZERO, expectedAttachType: BOGUS_ATTACH_TYPE, ...viaToken(env) });
  if (r.ok) {
    r.fd.close();
    return false;
  }
  // Only EINVAL is the kernel rejecting the attach type; a refusal (EPERM) or a transient failure
  // says nothing about whether it checks, and the attach types of this program type are then not
  // decided (not-permitted or error, never cached).
  if (r.errno === EINVAL) return true;
  const res = interpretCreate(outcome(r), `program type ${progType}`);
  return res.status === 'not-permitted'
    ? explainDenied(res, env, { cmd: 'prog_load', progType: progTypeId(progType) }, 'program type', progType, progTypeCaps(progType))
    : probeError(res.errno, `could not tell whether the kernel checks expected_attach_type for ${progType}: ${res.detail ?? res.errno}`);
}

export function probeAttachTypes(
  env: ProbeEnv,
  progResults: ResultMap,
  cachedResult: (attach: string) => ProbeResult | undefined = () => undefined,
): ResultMap {
  const out: ResultMap = {};
  const validates = new Map<string, boolean | ProbeResult>();
  const known = env.btf?.enumValues('bpf_attach_type');
  for (const attach of ATTACH_TYPE_NAMES) {
    if (!attach) continue;
    const hit = cachedResult(attach);
    if (hit) {
      out[attach] = hit;
      continue;
    }
    const row = ATTACH_TYPES[attach];
    const typeResult = row ? progResults[row[0]] : undefined;
    if (row && typeResult?.status === 'supported') {
      const [progType, recipes] = row;
      if (!validates.has(progType)) validates.set(progType, validatesAttachType(progType, env));
      const v = validates.get(progType)!;
      if (typeof v === 'object') {
        out[attach] = v;
        continue;
      }
      if (v) {
        // Several targets where one may be missing from a build (fmod_ret needs an error-injectable
        // function: bpf_modify_return_test exists only with CONFIG_FUNCTION_ERROR_INJECTION).
        const list = (Array.isArray(recipes) ? recipes : [recipes]) as ProgRecipe[];
        const r = loadFirst(progType, list, env, `attach type ${attach}`);
        out[attach] = 'recipe' in r ? supported(r.recipe.btf ? `loads on ${r.recipe.btf[1]}` : undefined) : r;
        continue;
      }
    } else if (row && typeResult && typeResult.status !== 'supported') {
      out[attach] = {
        status: typeResult.status,
        ...(typeResult.errno ? { errno: typeResult.errno } : {}),
        detail: `program type ${row[0]} is ${typeResult.status}${typeResult.detail ? `: ${typeResult.detail}` : ''}`,
      };
      continue;
    }
    // The load cannot tell: ask the kernel's own enum bpf_attach_type in vmlinux BTF.
    if (!known) {
      out[attach] = probeError(undefined, `cannot tell without vmlinux BTF: ${env.btfMissing ?? 'enum bpf_attach_type not found'}`);
    } else if (known.has(`BPF_${attach.toUpperCase()}`)) {
      out[attach] = supported(
        row
          ? `${row[0]} loads accept any expected_attach_type; known to the kernel (vmlinux BTF enum bpf_attach_type)`
          : 'known to the kernel (vmlinux BTF enum bpf_attach_type); attaching is probed in the attach section',
      );
    } else {
      out[attach] = unsupported(undefined, `BPF_${attach.toUpperCase()} is not in the kernel's enum bpf_attach_type`);
    }
  }
  return out;
}

// ---------------------------------------------------------------------------------------------
// Misc features

const SOCKET_FILTER = 1;

function socketFilterLoad(insns: readonly Insn[] | Uint8Array, env: ProbeEnv, extra: Partial<ProgLoadSpec> = {}): LoadResult {
  return progLoad({ progType: SOCKET_FILTER, insns, logLevel: 1, ...viaToken(env), ...extra });
}

/**
 * A misc-feature load (a socket filter: no capability needed to load one). Whether a refusal is a
 * fact depends on what the caller held (src/probes/privilege.ts), not on which feature it is.
 * `capBpf` only names CAP_BPF in the explanation of an EPERM: bpf2bpf and kfunc calls answer EPERM
 * without it even in a socket filter.
 */
function loadProbe(
  insns: readonly Insn[] | Uint8Array,
  env: ProbeEnv,
  feature: string,
  extra: Partial<ProgLoadSpec> = {},
  capBpf = false,
): ProbeResult {
  const r = socketFilterLoad(insns, env, extra);
  if (r.ok) r.fd.close();
  // The JIT of some arches reports an instruction it cannot encode as ENOTSUPP (cilium).
  const res = refusedForPrivilege(interpretCreate(outcome(r), feature), outcome(r), env, feature);
  return res.status === 'not-permitted'
    ? explainDenied(
        res,
        env,
        { cmd: 'prog_load', progType: SOCKET_FILTER },
        'program type',
        capBpf ? `socket_filter with ${feature}` : 'socket_filter',
        capBpf ? [CAP.BPF] : [],
      )
    : res;
}

const V4_PROGRAM: readonly Insn[] = [
  stMem64(10, -8, 0),
  ldxsb(0, 10, -8),
  movsx64(0, 0, 8),
  bswap64(0, 16),
  sdiv64Imm(0, 1),
  smod64Imm(0, 1),
  jeqImm(0, 1, 1),
  gotol(1),
  mov64Imm(0, 1),
  exit(),
];

const LARGE_PROGRAM = encode([...Array.from({ length: 4096 }, () => mov64Imm(0, 1)), exit()]);

export const MISC_PROBES: Readonly<Record<string, (env: ProbeEnv) => ProbeResult>> = {
  // 4097 instructions: over BPF_MAXINSNS, under the 1M limit of 5.2+ for CAP_BPF callers.
  // Without a log: the verifier's per-instruction log of 4097 instructions overflows any buffer (ENOSPC).
  large_insn_limit: (env) => loadProbe(LARGE_PROGRAM, env, 'programs over 4096 instructions', { logLevel: 0 }, true),
  bounded_loops: (env) => loadProbe([mov64Imm(0, 10), add64Imm(0, -1), jneImm(0, 0, -2), exit()], env, 'bounded loops', {}, true),
  v2_isa_extension: (env) => loadProbe([mov64Imm(0, 0), jltImm(0, 0, 1), mov64Imm(0, 1), exit()], env, 'ISA v2 (BPF_JLT)'),
  v3_isa_extension: (env) => loadProbe([mov64Imm(0, 0), jlt32Imm(0, 0, 1), mov64Imm(0, 1), exit()], env, 'ISA v3 (BPF_JMP32)'),
  // Every kind of v4 instruction in one program: Debian's 6.1 kernels accept gotol but refuse
  // sdiv, movsx and bswap (test/kernels, docs/facts.md), so gotol alone is not ISA v4.
  v4_isa_extension: (env) => loadProbe(V4_PROGRAM, env, 'ISA v4 (gotol, sdiv/smod, movsx, bswap, ldsx)'),
  bpf2bpf_calls: (env) => loadProbe([callLocal(1), exit(), mov64Imm(0, 0), exit()], env, 'BPF-to-BPF calls', {}, true),
  prog_name: (env) => loadProbe(RETURN_ZERO, env, 'program names', { name: 'bpfready_probe' }),
  global_data: (env) => globalData(env),
  array_mmap: (env) => mapFlagProbe(env, BPF_F_MMAPABLE, 'mmapable arrays'),
  xdp_frags: (env) => {
    const r = progLoad({ progType: progTypeId('xdp'), insns: RETURN_ZERO, progFlags: BPF_F_XDP_HAS_FRAGS, logLevel: 1, ...viaToken(env) });
    if (r.ok) r.fd.close();
    const res = refusedForPrivilege(
      interpretCreate(outcome(r), 'XDP multi-buffer (BPF_F_XDP_HAS_FRAGS)'),
      outcome(r),
      env,
      'XDP multi-buffer',
    );
    return explainDenied(res, env, { cmd: 'prog_load', progType: progTypeId('xdp') }, 'program type', 'xdp', progTypeCaps('xdp'));
  },
  sleepable: (env) => sleepable(env),
  kfunc_calls: (env) => kfuncCalls(env),
  // BPF_TOKEN_CREATE with an fd that cannot be open: EBADF only from a kernel that has the command.
  token_create: () => interpretFdTrick(outcome(tokenCreate(-1)), [EBADF], 'BPF_TOKEN_CREATE'),
  ...Object.fromEntries(
    Object.entries(BTF_KIND_BLOBS).map(([name, blob]) => [
      name,
      (env: ProbeEnv) => {
        const r = btfLoad(blob(), { logLevel: 1, ...viaToken(env) });
        if (r.ok) r.fd.close();
        return btfDenied(interpretCreate(outcome(r), `BTF (${name})`), env, name);
      },
    ]),
  ),
};

function mapFlagProbe(env: ProbeEnv, flag: number, what: string): ProbeResult {
  const r = mapCreate({ map_type: mapTypeId('array'), key_size: 4, value_size: 4, max_entries: 1, map_flags: flag }, viaToken(env));
  if (r.ok) r.fd.close();
  return explainDenied(interpretCreate(outcome(r), what), env, { cmd: 'map_create', mapType: mapTypeId('array') }, 'map type', 'array', []);
}

/** Global variables: a map value address as an ld_imm64 immediate (BPF_PSEUDO_MAP_VALUE), 5.2. */
function globalData(env: ProbeEnv): ProbeResult {
  const map = mapCreate({ map_type: mapTypeId('array'), key_size: 4, value_size: 32, max_entries: 1 }, viaToken(env));
  if (!map.ok)
    return explainDenied(
      interpretCreate(outcome(map), 'the array map behind global data'),
      env,
      { cmd: 'map_create', mapType: mapTypeId('array') },
      'map type',
      'array',
      [],
    );
  try {
    return loadProbe([...ldImm64(1, BPF_PSEUDO_MAP_VALUE, map.fd.fd, 16), stMem64(1, 0, 42), mov64Imm(0, 0), exit()], env, 'global data');
  } finally {
    map.fd.close();
  }
}

// BPF_F_SLEEPABLE (5.10) predates the syscall program type (5.14): on 5.10-5.13 a sleepable fmod_ret
// on an error-injectable function or a sleepable LSM program proves it. First to load decides.
const SLEEPABLE_VARIANTS: readonly [progType: string, recipe: ProgRecipe][] = [
  ['syscall', PROGRAM_TYPES.syscall![0]!],
  ['tracing', { attach: 'modify_return', btf: ['func', 'bpf_modify_return_test'], flags: BPF_F_SLEEPABLE }],
  ['lsm', { attach: 'lsm_mac', btf: ['func', 'bpf_lsm_file_mprotect'], flags: BPF_F_SLEEPABLE }],
];

function sleepable(env: ProbeEnv): ProbeResult {
  const failures: ProbeResult[] = [];
  for (const [progType, recipe] of SLEEPABLE_VARIANTS) {
    const prepared = prepareLoad(progType, recipe, env);
    if (!('spec' in prepared)) {
      failures.push(prepared);
      continue;
    }
    try {
      const r = load(prepared.spec);
      if (r.ok) {
        r.fd.close();
        return supported(`a sleepable ${prepared.label} program loads`);
      }
      const res = refusedForPrivilege(
        interpretCreate(outcome(r), `sleepable ${prepared.label} programs (BPF_F_SLEEPABLE)`),
        outcome(r),
        env,
        `sleepable ${prepared.label}`,
      );
      failures.push(
        explainDenied(res, env, { cmd: 'prog_load', progType: progTypeId(progType) }, 'program type', progType, progTypeCaps(progType)),
      );
    } finally {
      for (const fd of prepared.deps) fd.close();
    }
  }
  return combine(failures);
}

// kfunc-call candidates, tried in order: the generic bpf_rcu_read_lock/unlock (6.2+, callable from
// every program type), then net/bpf/test_run.c's bpf_kfunc_call_test1 for sched_cls (5.13 to 6.1,
// before it moved to a test module).
const KFUNC_CANDIDATES: readonly [progType: string, kfuncs: readonly string[]][] = [
  ['tracepoint', ['bpf_rcu_read_lock', 'bpf_rcu_read_unlock']],
  ['sched_cls', ['bpf_kfunc_call_test1']],
];

// Verifier words for "kfunc calls cannot work here" (kernel/bpf/verifier.c add_kfunc_call(),
// check_kfunc_call()); anything else after the call was resolved means the call itself is allowed.
const KFUNCS_UNUSABLE =
  /not supported without CONFIG_DEBUG_INFO_BTF|JIT is required for calling kernel function|JIT does not support calling kernel function/;
const KFUNC_NOT_HERE =
  /calling kernel function \S+ is not allowed|kernel btf_id \d+ is not a function|is not a function|no vmlinux btf rcu tag support for kfunc/;

function kfuncCalls(env: ProbeEnv): ProbeResult {
  if (!env.btf) return noBtf(env, 'kfunc calls are resolved through vmlinux BTF');
  const failures: ProbeResult[] = [];
  for (const [progType, names] of KFUNC_CANDIDATES) {
    const ids = names.map((n) => env.btf!.findId(BtfKind.FUNC, n));
    if (ids.some((id) => id === undefined)) continue;
    const r = progLoad({
      progType: progTypeId(progType),
      insns: [...ids.map((id) => callKfunc(id!)), mov64Imm(0, 0), exit()],
      logLevel: 1,
      ...viaToken(env),
    });
    if (r.ok) {
      r.fd.close();
      return supported(`${progType} program calling ${names.join(', ')} loads`);
    }
    const res = refusedForPrivilege(interpretCreate(outcome(r), 'kfunc calls'), outcome(r), env, `kfunc calls from ${progType}`);
    // The verifier's words first: its EACCES ("calling kernel function X is not allowed") is a
    // rejection of this candidate, not a permission answer; only a load refused without a word is.
    const said = r.errno !== EPERM && logExcerpt(r.log) !== undefined;
    if (said && KFUNCS_UNUSABLE.test(r.log)) return unsupported(res.errno, logExcerpt(r.log));
    if (said && KFUNC_NOT_HERE.test(r.log)) {
      failures.push(probeError(res.errno, `${names.join(', ')} cannot be called from ${progType} here: ${logExcerpt(r.log)}`));
      continue;
    }
    if (!said) {
      failures.push(
        res.status === 'not-permitted'
          ? explainDenied(res, env, { cmd: 'prog_load', progType: progTypeId(progType) }, 'program type', progType, progTypeCaps(progType))
          : res,
      );
      continue;
    }
    // The verifier resolved the call and then objected to its arguments: kfunc calls work.
    return supported(`${names[0]} resolved by the verifier (${logExcerpt(r.log) ?? res.errno})`);
  }
  if (!failures.length)
    return unsupported(undefined, `none of the probe kfuncs (${KFUNC_CANDIDATES.flatMap(([, n]) => n).join(', ')}) is in vmlinux BTF`);
  return combine(failures);
}

export { ENOTSUPP };
