// Discovery of bpffs mounts, token creation on each, and probing through the token, cached until the
// mount table or the capabilities change. The `bpffs` and `token` sections of `bpfready probe --json`
// come from here (docs/tokens.md).
import { ParseError } from '../base/errors.ts';
import { readOwnStatus } from '../kernel/procstatus.ts';
import { MOUNTINFO_PATH, parseMountinfoLenient, readMountinfoText, visibleMounts } from '../kernel/mountinfo.ts';
import type { OwnedFd } from '../native/bpf.ts';
import { MAP_TYPE_NAMES, PROG_TYPE_NAMES } from '../native/uapi-names.ts';
import { probeError, type ResultMap } from '../contract/result.ts';
import type { BpffsMount, TokenProbe } from '../contract/report.ts';
import { createToken, type TokenCreateOutcome } from './create.ts';
import { delegateJson, delegationOf, type TokenDelegation } from './delegation.ts';
import { explainTokenEperm, type TokenOp } from './diagnose.ts';

export type TableFamily = 'programTypes' | 'mapTypes' | 'helpers' | 'attachTypes' | 'misc';

/** What the probe engine's probeTables() takes for a token run (src/collect/index.ts). */
export interface TokenTableOptions {
  tokenFd: number;
  /** Identifies the delegation in the engine's result cache (an fd number is reused after close). */
  tokenKey: string;
  explainTokenEperm: (op: TokenOp) => string | undefined;
  families?: readonly TableFamily[];
}

export interface TableResults {
  programTypes: ResultMap;
  mapTypes: ResultMap;
  helpers?: Record<string, ResultMap>;
  misc?: ResultMap;
}

/** The probe engine, injected: token code never reaches into the engine's modules. */
export type TableRunner = (opts: TokenTableOptions) => Promise<TableResults>;

export interface BpffsState {
  bpffs: BpffsMount[];
  delegations: TokenDelegation[];
  /** The token probing uses: the first bpffs, in mount order, that gave one. */
  token?: { fd: OwnedFd; delegation: TokenDelegation };
  /** mountinfo lines we could not parse (logged by the daemon; they cost only their own line). */
  errors: ParseError[];
}

/** Stable text of a delegation, for cache keys. */
export function delegationKey(d: TokenDelegation): string {
  const j = delegateJson(d);
  return `${d.path}|${j.cmds.join(':')}|${j.maps.join(':')}|${j.progs.join(':')}|${j.attachs.join(':')}`;
}

/**
 * The node's path of a mount this process sees at `local`: with a host root other than '/', a mount
 * under it is the host's mount at the rest of the path (the pod's bind of a host directory, e.g.
 * /host/sys/fs/bpf is the node's /sys/fs/bpf); one outside it is the pod's own, not the node's.
 */
export function nodePath(local: string, hostRoot: string): string | undefined {
  const root = hostRoot.replace(/\/+$/, '');
  if (!root) return local;
  if (local === root) return '/';
  return local.startsWith(`${root}/`) ? local.slice(root.length) : undefined;
}

/**
 * Every visible bpffs mount of the node, its decoded delegation and whether this process gets a token
 * from it. Paths are the node's (what `tokenExpectedMounts` and requirements name); the token is
 * created through the path this process reaches it at (`localPath`, when that differs). Only the
 * first token is kept open (returned in `token`); the others are closed at once.
 */
export function discoverBpffs(
  mountinfoText: string,
  {
    input = MOUNTINFO_PATH,
    create = createToken,
    hostRoot = '/',
  }: { input?: string; create?: (path: string, named: string) => TokenCreateOutcome; hostRoot?: string } = {},
): BpffsState {
  const { entries, errors } = parseMountinfoLenient(mountinfoText, input);
  const state: BpffsState = { bpffs: [], delegations: [], errors };
  for (const m of visibleMounts(entries).filter((e) => e.fsType === 'bpf')) {
    const path = nodePath(m.mountPoint, hostRoot);
    if (path === undefined) continue;
    const local = path === m.mountPoint ? {} : { localPath: m.mountPoint };
    let delegation: TokenDelegation;
    try {
      delegation = { ...delegationOf(m), path };
    } catch (error) {
      if (!(error instanceof ParseError)) throw error;
      state.errors.push(error);
      state.bpffs.push({
        path,
        ...local,
        delegate: { cmds: [], maps: [], progs: [], attachs: [] },
        token: probeError(undefined, error.message),
      });
      continue;
    }
    const outcome = create(m.mountPoint, path);
    let result = outcome.result;
    // mountinfo tells what the kernel's EINVAL does not: this mount shows a subdirectory of a bpffs.
    if (result.errno === 'EINVAL' && m.root !== '/') {
      result = { ...result, detail: `${path}: a bind mount of ${m.root} inside a bpffs; tokens come only from the root of a bpffs mount` };
    }
    state.delegations.push(delegation);
    state.bpffs.push({ path, ...local, delegate: delegateJson(delegation), token: result });
    if (!outcome.ok) continue;
    if (state.token) outcome.fd.close();
    else state.token = { fd: outcome.fd, delegation };
  }
  return state;
}

/** The `token` section: the tables probed through the token, or null when there is none. */
export async function probeWithToken(
  token: { fd: OwnedFd; delegation: TokenDelegation } | undefined,
  tables: TableRunner,
  families: readonly TableFamily[] = ['programTypes', 'mapTypes', 'misc'],
): Promise<TokenProbe | null> {
  if (!token) return null;
  const d = token.delegation;
  const r = await tables({
    tokenFd: token.fd.fd,
    tokenKey: delegationKey(d),
    explainTokenEperm: (op) => explainTokenEperm(op, d),
    families,
  });
  const out: TokenProbe = {
    mount: d.path,
    programTypes: explainDenied(r.programTypes, d, (name) => ({
      cmd: 'prog_load',
      progType: PROG_TYPE_NAMES.indexOf(name),
      attachType: null,
    })),
    mapTypes: explainDenied(r.mapTypes, d, (name) => ({ cmd: 'map_create', mapType: MAP_TYPE_NAMES.indexOf(name) })),
  };
  if (families.includes('helpers') && r.helpers) out.helpers = r.helpers;
  if (families.includes('misc') && r.misc) out.misc = r.misc;
  return out;
}

/**
 * Every not-permitted result names the delegation the type itself lacks, also when the engine's
 * EPERM came from an earlier step (loading the BTF a type needs: "btf_load not in delegate_cmds"),
 * so an operator learns all that is missing at once, not one delegation per rollout.
 */
function explainDenied(results: ResultMap, d: TokenDelegation, op: (name: string) => TokenOp): ResultMap {
  const out: ResultMap = {};
  for (const [name, r] of Object.entries(results)) {
    const why = r.status === 'not-permitted' ? explainTokenEperm(op(name), d) : undefined;
    out[name] = why && !r.detail?.includes(why) ? { ...r, detail: r.detail ? `${why}; ${r.detail}` : why } : r;
  }
  return out;
}

/** The privilege context a token and its results depend on: our thread's capabilities and ids. */
export function readPrivilegeKey(): string {
  const { fields } = readOwnStatus('thread');
  return ['CapEff', 'CapPrm', 'CapBnd', 'Uid', 'Gid'].map((k) => `${k}: ${fields[k] ?? '?'}`).join('\n');
}

export interface TokenManagerOptions {
  /** Where the host's / is mounted: bpffs mounts are reported by their node paths (discoverBpffs). */
  hostRoot?: string;
  tables?: TableRunner;
  families?: readonly TableFamily[];
  readMountinfo?: () => string;
  readPrivileges?: () => string;
  create?: (path: string, named: string) => TokenCreateOutcome;
}

/**
 * Owns the token fd. refresh() on every daemon cycle: when /proc/self/mountinfo or the capability
 * set changed, the old token is closed and everything is rediscovered; otherwise the cached state
 * and token results are reused. Nothing is re-created while nothing changed.
 */
export class TokenManager implements Disposable {
  #opts: TokenManagerOptions;
  #key: string | undefined;
  #state: BpffsState | undefined;
  #probe: { promise: Promise<TokenProbe | null>; settled: boolean } | undefined;
  #generation = 0;

  constructor(opts: TokenManagerOptions = {}) {
    this.#opts = opts;
  }

  /** Times the state was (re)built; tests and metrics read it. */
  get generation(): number {
    return this.#generation;
  }

  /** Rediscover if the mount table or the privileges changed. Returns whether it did. */
  refresh(): boolean {
    const mountinfo = (this.#opts.readMountinfo ?? readMountinfoText)();
    const key = `${(this.#opts.readPrivileges ?? readPrivilegeKey)()}\n--\n${mountinfo}`;
    if (this.#state && key === this.#key) return false;
    this.#release();
    this.#state = discoverBpffs(mountinfo, {
      ...(this.#opts.create ? { create: this.#opts.create } : {}),
      hostRoot: this.#opts.hostRoot ?? '/',
    });
    this.#key = key;
    this.#generation++;
    return true;
  }

  get state(): BpffsState {
    if (!this.#state) this.refresh();
    return this.#state!;
  }

  bpffs(): BpffsMount[] {
    return this.state.bpffs;
  }

  /** The token section for the current state; probed once per state. */
  tokenProbe(): Promise<TokenProbe | null> {
    const state = this.state;
    if (!this.#opts.tables) return Promise.resolve(null);
    if (!this.#probe) {
      const entry = { promise: probeWithToken(state.token, this.#opts.tables, this.#opts.families), settled: false };
      const done = () => {
        entry.settled = true;
      };
      // A failed probe is not kept: the next cycle tries again instead of failing forever.
      const failed = () => {
        done();
        if (this.#probe === entry) this.#probe = undefined;
      };
      void entry.promise.then(done, failed);
      this.#probe = entry;
    }
    return this.#probe.promise;
  }

  #release(): void {
    const fd = this.#state?.token?.fd;
    const probe = this.#probe;
    // A probe still running uses the fd: close it when that probe is done, not under it.
    if (fd && probe && !probe.settled) {
      const close = () => fd.close();
      void probe.promise.then(close, close);
    } else fd?.close();
    this.#state = undefined;
    this.#probe = undefined;
  }

  close(): void {
    this.#release();
    this.#key = undefined;
  }

  [Symbol.dispose](): void {
    this.close();
  }
}
