// A minimal renderer for our Helm chart, for tests and for generating deploy/ (no helm binary can be
// installed here). It implements the subset of Go text/template + Sprig that helm/bpfready uses, with
// Helm's semantics where they matter: `{{-`/`-}}` trimming, Go truthiness, missing keys render empty
// (Helm's missingkey=zero), toYaml with sorted keys and no trailing newline, include/define,
// if/else if/with/range, variables with := and =. Anything outside the subset is a RenderError naming
// the template and line, never a silent difference. What it cannot tell about real Helm is listed in
// docs/deploy.md.
//
//   node scripts/render-chart.ts [--write]   print (or write to deploy/) the default manifests
import { createHash } from 'node:crypto';
import { existsSync, readdirSync, readFileSync, writeFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { parse as parseYaml, stringify as stringifyYaml } from 'yaml';

export class RenderError extends Error {
  constructor(where: string, message: string) {
    super(`${where}: ${message}`);
    this.name = 'RenderError';
  }
}

// ---------------------------------------------------------------- lexer

type Token = { kind: 'text'; text: string } | { kind: 'action'; src: string; line: number };

function lex(src: string, name: string): Token[] {
  const out: Token[] = [];
  let i = 0;
  let trimNext = false;
  while (i < src.length) {
    const open = src.indexOf('{{', i);
    let text = open < 0 ? src.slice(i) : src.slice(i, open);
    if (trimNext) text = text.replace(/^\s+/, '');
    if (open < 0) {
      if (text) out.push({ kind: 'text', text });
      break;
    }
    const close = findClose(src, open + 2);
    if (close < 0) throw new RenderError(`${name}:${lineOf(src, open)}`, 'unclosed action');
    let inner = src.slice(open + 2, close);
    if (/^-\s/.test(inner)) {
      text = text.replace(/\s+$/, '');
      inner = inner.slice(1);
    }
    trimNext = /\s-$/.test(inner);
    if (trimNext) inner = inner.slice(0, -1);
    if (text) out.push({ kind: 'text', text });
    inner = inner.trim();
    if (!(inner.startsWith('/*') && inner.endsWith('*/'))) out.push({ kind: 'action', src: inner, line: lineOf(src, open) });
    i = close + 2;
  }
  return out;
}

const lineOf = (s: string, at: number): number => s.slice(0, at).split('\n').length;

/** The `}}` closing an action, skipping string literals (`{{ "}}" }}` is one action, as in Go). */
function findClose(src: string, from: number): number {
  for (let i = from; i < src.length - 1; i++) {
    const c = src[i];
    if (c === '"') {
      for (i++; i < src.length && src[i] !== '"'; i++) if (src[i] === '\\') i++;
    } else if (c === '`') {
      i = src.indexOf('`', i + 1);
      if (i < 0) return -1;
    } else if (c === '}' && src[i + 1] === '}') return i;
  }
  return -1;
}

// ---------------------------------------------------------------- expressions

type Arg =
  | { t: 'lit'; v: unknown }
  | { t: 'field'; base: 'dot' | { var: string }; path: string[] }
  | { t: 'fn'; name: string }
  | { t: 'sub'; pipe: Pipeline };
type Command = Arg[];
interface Pipeline {
  decl?: { vars: string[]; assign: boolean };
  cmds: Command[];
}

function tokenizeExpr(s: string, where: string): string[] {
  const re = /\s*("(?:[^"\\]|\\.)*"|`[^`]*`|:=|[()|,=]|[^\s()|,=]+)/y;
  const toks: string[] = [];
  let m: RegExpExecArray | null;
  re.lastIndex = 0;
  while (re.lastIndex < s.length && (m = re.exec(s))) toks.push(m[1] ?? '');
  if (re.lastIndex < s.trimEnd().length) throw new RenderError(where, `cannot parse "${s}"`);
  return toks;
}

function parsePipeline(src: string, where: string): Pipeline {
  const toks = tokenizeExpr(src, where);
  let pos = 0;
  const pipe: Pipeline = { cmds: [] };
  // `$a := …`, `$i, $v := …` (range), `$a = …`
  const declEnd = toks.findIndex((t) => t === ':=' || t === '=');
  if (declEnd > 0 && toks.slice(0, declEnd).every((t) => t.startsWith('$') || t === ',')) {
    pipe.decl = { vars: toks.slice(0, declEnd).filter((t) => t !== ','), assign: toks[declEnd] === '=' };
    pos = declEnd + 1;
  }
  const parseCmds = (stopAtParen: boolean): Command[] => {
    const cmds: Command[] = [[]];
    while (pos < toks.length) {
      const t = toks[pos++] ?? '';
      if (t === ')') {
        if (!stopAtParen) throw new RenderError(where, `unexpected ")" in "${src}"`);
        return cmds;
      }
      if (t === '|') cmds.push([]);
      else if (t === '(') cmds.at(-1)!.push({ t: 'sub', pipe: { cmds: parseCmds(true) } });
      else cmds.at(-1)!.push(operand(t, where));
    }
    if (stopAtParen) throw new RenderError(where, `missing ")" in "${src}"`);
    return cmds;
  };
  pipe.cmds = parseCmds(false);
  if (pipe.cmds.some((c) => c.length === 0)) throw new RenderError(where, `empty command in "${src}"`);
  return pipe;
}

function operand(t: string, where: string): Arg {
  if (t.startsWith('"')) return { t: 'lit', v: JSON.parse(t) as string };
  if (t.startsWith('`')) return { t: 'lit', v: t.slice(1, -1) };
  if (/^-?[0-9]+(\.[0-9]+)?$/.test(t)) return { t: 'lit', v: Number(t) };
  if (t === 'true' || t === 'false') return { t: 'lit', v: t === 'true' };
  if (t === 'nil') return { t: 'lit', v: null };
  if (t === '.') return { t: 'field', base: 'dot', path: [] };
  if (t.startsWith('.')) return { t: 'field', base: 'dot', path: t.slice(1).split('.') };
  if (t.startsWith('$')) {
    const [v, ...path] = t.split('.');
    return { t: 'field', base: { var: v ?? '$' }, path };
  }
  if (/^[A-Za-z_][A-Za-z0-9_]*$/.test(t)) return { t: 'fn', name: t };
  throw new RenderError(where, `unsupported token "${t}"`);
}

// ---------------------------------------------------------------- tree

type Node =
  | { k: 'text'; text: string }
  | { k: 'out'; pipe: Pipeline; where: string }
  | { k: 'if' | 'with'; pipe: Pipeline; then: Node[]; else: Node[]; where: string }
  | { k: 'range'; pipe: Pipeline; body: Node[]; else: Node[]; where: string }
  | { k: 'template'; name: string; arg: Pipeline; where: string };

function parseTree(tokens: Token[], name: string, defines: Map<string, Node[]>): Node[] {
  let pos = 0;
  // Returns the nodes and the keyword that ended the block (end / else / else if …).
  const block = (inside: string | undefined): { nodes: Node[]; ended: string } => {
    const nodes: Node[] = [];
    while (pos < tokens.length) {
      const tok = tokens[pos++]!;
      if (tok.kind === 'text') {
        nodes.push({ k: 'text', text: tok.text });
        continue;
      }
      const where = `${name}:${tok.line}`;
      const [kw = '', ...rest] = tok.src.split(/\s+/);
      const restSrc = tok.src.slice(kw.length).trim();
      if (kw === 'end' || kw === 'else') {
        if (!inside) throw new RenderError(where, `unexpected {{ ${tok.src} }}`);
        return { nodes, ended: tok.src };
      }
      if (kw === 'if' || kw === 'with' || kw === 'range') {
        const node = control(kw, restSrc, where);
        nodes.push(node);
      } else if (kw === 'define') {
        const dname = JSON.parse(rest.join(' ')) as string;
        const body = block('define');
        if (body.ended !== 'end') throw new RenderError(where, 'define ended by else');
        defines.set(dname, body.nodes);
      } else if (kw === 'template') {
        const m = /^("(?:[^"\\]|\\.)*")\s*(.*)$/.exec(restSrc);
        if (!m) throw new RenderError(where, 'template needs a quoted name');
        nodes.push({ k: 'template', name: JSON.parse(m[1]!) as string, arg: parsePipeline(m[2] || '.', where), where });
      } else if (['block', 'break', 'continue'].includes(kw)) {
        throw new RenderError(where, `{{ ${kw} }} is outside the supported subset`);
      } else {
        nodes.push({ k: 'out', pipe: parsePipeline(tok.src, where), where });
      }
    }
    if (inside) throw new RenderError(name, `unterminated {{ ${inside} }}`);
    return { nodes, ended: '' };
  };
  const control = (kw: 'if' | 'with' | 'range', src: string, where: string): Node => {
    const pipe = parsePipeline(src, where);
    const body = block(kw);
    let elseNodes: Node[] = [];
    if (body.ended.startsWith('else if ') || body.ended.startsWith('else with ')) {
      const [, kw2 = 'if', ...cond] = body.ended.split(/\s+/);
      // `else if X` is `else` wrapping `if X … end`: the inner block consumes our `end`.
      elseNodes = [control(kw2 as 'if' | 'with', cond.join(' '), where)];
    } else if (body.ended === 'else') {
      const e = block(kw);
      if (e.ended !== 'end') throw new RenderError(where, `{{ ${kw} }} has two else branches`);
      elseNodes = e.nodes;
    }
    if (kw === 'range') return { k: 'range', pipe, body: body.nodes, else: elseNodes, where };
    return { k: kw, pipe, then: body.nodes, else: elseNodes, where };
  };
  return block(undefined).nodes;
}

// ---------------------------------------------------------------- evaluation

class Scope {
  readonly vars: Map<string, unknown>[];
  constructor(root: unknown, parent?: Scope) {
    this.vars = parent ? [...parent.vars, new Map()] : [new Map([['$', root]])];
  }
  get(name: string, where: string): unknown {
    for (let i = this.vars.length - 1; i >= 0; i--) if (this.vars[i]!.has(name)) return this.vars[i]!.get(name);
    throw new RenderError(where, `undefined variable ${name}`);
  }
  declare(name: string, v: unknown): void {
    this.vars.at(-1)!.set(name, v);
  }
  assign(name: string, v: unknown, where: string): void {
    for (let i = this.vars.length - 1; i >= 0; i--) {
      if (this.vars[i]!.has(name)) {
        this.vars[i]!.set(name, v);
        return;
      }
    }
    throw new RenderError(where, `assignment to undeclared ${name}`);
  }
}

export function truthy(v: unknown): boolean {
  if (v === null || v === undefined || v === false || v === 0 || v === '') return false;
  if (Array.isArray(v)) return v.length > 0;
  if (typeof v === 'object') return Object.keys(v).length > 0;
  return true;
}

function isMap(v: unknown): v is Record<string, unknown> {
  return typeof v === 'object' && v !== null && !Array.isArray(v);
}

/** Helm's toYaml: sorted keys (Go's encoding/json order), no trailing newline. */
export function toYaml(v: unknown): string {
  if (v === undefined || v === null) return 'null';
  return stringifyYaml(v, { sortMapEntries: true, lineWidth: 0 }).replace(/\n$/, '');
}

function printValue(v: unknown, where: string): string {
  if (v === null || v === undefined) return '';
  if (typeof v === 'string') return v;
  if (typeof v === 'number' || typeof v === 'boolean') return String(v);
  throw new RenderError(where, `printing a ${Array.isArray(v) ? 'list' : 'map'} (Go would print map[…]); use toYaml`);
}

function sprintf(fmt: string, args: unknown[], where: string): string {
  let i = 0;
  return fmt.replace(/%[svdq%]/g, (m) => {
    if (m === '%%') return '%';
    const a = args[i++];
    if (m === '%q') return JSON.stringify(printValue(a, where));
    return printValue(a, where);
  });
}

interface Ctx {
  defines: Map<string, Node[]>;
  files: (path: string) => string;
  root: unknown;
}

type Fn = (args: unknown[], where: string, ctx: Ctx) => unknown;

const FUNCS: Record<string, Fn> = {
  default: ([d, v]) => (truthy(v) ? v : d),
  trunc: ([n, s]) => String(s ?? '').slice(0, Number(n)),
  trimSuffix: ([suf, s]) => (String(s ?? '').endsWith(String(suf)) ? String(s).slice(0, -String(suf).length || undefined) : String(s ?? '')),
  contains: ([sub, s]) => String(s ?? '').includes(String(sub)),
  replace: ([from, to, s]) => String(s ?? '').replaceAll(String(from), String(to)),
  printf: ([fmt, ...rest], where) => sprintf(String(fmt), rest, where),
  quote: (args, where) => args.map((a) => JSON.stringify(printValue(a, where))).join(' '),
  toYaml: ([v]) => toYaml(v),
  toJson: ([v]) => JSON.stringify(v ?? null),
  indent: ([n, s]) => String(s ?? '').replace(/^/gm, ' '.repeat(Number(n))),
  nindent: ([n, s]) => '\n' + String(s ?? '').replace(/^/gm, ' '.repeat(Number(n))),
  sha256sum: ([s]) => createHash('sha256').update(String(s ?? '')).digest('hex'),
  list: (args) => args,
  kindIs: ([kind, v]) => {
    const k = v === null || v === undefined ? 'invalid' : Array.isArray(v) ? 'slice' : typeof v === 'object' ? 'map' : typeof v === 'string' ? 'string' : typeof v === 'boolean' ? 'bool' : 'float64';
    return k === kind;
  },
  eq: ([a, ...rest]) => rest.some((b) => a === b),
  ne: ([a, b]) => a !== b,
  not: ([v]) => !truthy(v),
  and: (args) => args.find((a) => !truthy(a)) ?? args.at(-1),
  or: (args) => args.find((a) => truthy(a)) ?? args.at(-1),
  empty: ([v]) => !truthy(v),
  required: ([msg, v], where) => {
    if (v === null || v === undefined || v === '') throw new RenderError(where, String(msg));
    return v;
  },
  include: ([name, data], where, ctx) => renderNamed(String(name), data, where, ctx),
};

function renderNamed(name: string, data: unknown, where: string, ctx: Ctx): string {
  const body = ctx.defines.get(name);
  if (!body) throw new RenderError(where, `no template "${name}"`);
  return execNodes(body, data, new Scope(data), ctx);
}

function field(v: unknown, path: string[], where: string): unknown {
  let cur = v;
  for (const p of path) {
    if (cur === null || cur === undefined) return undefined;
    if (!isMap(cur)) throw new RenderError(where, `cannot read .${p} of a ${Array.isArray(cur) ? 'list' : typeof cur}`);
    cur = cur[p];
  }
  return cur;
}

function evalArg(a: Arg, dot: unknown, scope: Scope, ctx: Ctx, where: string): unknown {
  switch (a.t) {
    case 'lit':
      return a.v;
    case 'field':
      return field(a.base === 'dot' ? dot : scope.get(a.base.var, where), a.path, where);
    case 'sub':
      return evalPipeline(a.pipe, dot, scope, ctx, where);
    case 'fn': {
      const f = FUNCS[a.name];
      if (!f) throw new RenderError(where, `function "${a.name}" is outside the supported subset`);
      return f([], where, ctx);
    }
  }
}

function evalPipeline(p: Pipeline, dot: unknown, scope: Scope, ctx: Ctx, where: string): unknown {
  let prev: unknown = undefined;
  p.cmds.forEach((cmd, i) => {
    const [head, ...rest] = cmd;
    const piped = i > 0 ? [prev] : [];
    if (head?.t === 'fn') {
      // .Files.Get is a method in Helm; here it is the one method we support.
      const f = FUNCS[head.name];
      if (!f) throw new RenderError(where, `function "${head.name}" is outside the supported subset`);
      prev = f([...rest.map((a) => evalArg(a, dot, scope, ctx, where)), ...piped], where, ctx);
    } else if (head?.t === 'field' && head.base === 'dot' && head.path.join('.') === 'Files.Get') {
      prev = ctx.files(String(evalArg(rest[0]!, dot, scope, ctx, where)));
    } else {
      if (cmd.length !== 1 || i > 0) throw new RenderError(where, 'a value cannot take arguments');
      prev = evalArg(head!, dot, scope, ctx, where);
    }
  });
  return prev;
}

function execNodes(nodes: Node[], dot: unknown, scope: Scope, ctx: Ctx): string {
  let out = '';
  for (const n of nodes) {
    switch (n.k) {
      case 'text':
        out += n.text;
        break;
      case 'out': {
        const v = evalPipeline(n.pipe, dot, scope, ctx, n.where);
        if (n.pipe.decl) {
          const name = n.pipe.decl.vars[0]!;
          if (n.pipe.decl.assign) scope.assign(name, v, n.where);
          else scope.declare(name, v);
        } else out += printValue(v, n.where);
        break;
      }
      case 'if':
      case 'with': {
        const v = evalPipeline(n.pipe, dot, scope, ctx, n.where);
        const inner = new Scope(ctx.root, scope);
        if (n.pipe.decl) inner.declare(n.pipe.decl.vars[0]!, v);
        if (truthy(v)) out += execNodes(n.then, n.k === 'with' ? v : dot, inner, ctx);
        else out += execNodes(n.else, dot, new Scope(ctx.root, scope), ctx);
        break;
      }
      case 'range': {
        const v = evalPipeline(n.pipe, dot, scope, ctx, n.where);
        const entries: [unknown, unknown][] = Array.isArray(v)
          ? v.map((x, i) => [i, x])
          : isMap(v)
            ? Object.keys(v)
                .sort()
                .map((k) => [k, v[k]])
            : v === null || v === undefined
              ? []
              : (() => {
                  throw new RenderError(n.where, 'range over a scalar');
                })();
        if (entries.length === 0) out += execNodes(n.else, dot, new Scope(ctx.root, scope), ctx);
        for (const [k, x] of entries) {
          const inner = new Scope(ctx.root, scope);
          const vars = n.pipe.decl?.vars ?? [];
          if (vars.length === 1) inner.declare(vars[0]!, x);
          if (vars.length === 2) {
            inner.declare(vars[0]!, k);
            inner.declare(vars[1]!, x);
          }
          out += execNodes(n.body, x, inner, ctx);
        }
        break;
      }
      case 'template':
        out += renderNamed(n.name, evalPipeline(n.arg, dot, scope, ctx, n.where), n.where, ctx);
        break;
    }
  }
  return out;
}

// ---------------------------------------------------------------- chart

export interface RenderOptions {
  releaseName?: string;
  namespace?: string;
  /** .Release.Service: "Helm" under helm; the plain manifests in deploy/ use "kubectl". */
  service?: string;
  /** Deep-merged over values.yaml, as `helm --set`/`-f` would. */
  values?: Record<string, unknown>;
}

export interface RenderedChart {
  values: Record<string, unknown>;
  /** Template path → rendered text, for every non-partial template (NOTES.txt included). */
  files: Map<string, string>;
  /** The parsed YAML documents of every manifest template, in file order, empty ones dropped. */
  documents: { source: string; doc: Record<string, unknown>; text: string }[];
}

export function mergeValues(base: unknown, over: unknown): unknown {
  if (!isMap(base) || !isMap(over)) return over === undefined ? base : over;
  const out: Record<string, unknown> = { ...base };
  // Helm: a null in the override deletes the key.
  for (const [k, v] of Object.entries(over)) {
    if (v === null) delete out[k];
    else out[k] = mergeValues(base[k], v);
  }
  return out;
}

export function renderChart(chartDir: string, opts: RenderOptions = {}): RenderedChart {
  const chart = parseYaml(readFileSync(join(chartDir, 'Chart.yaml'), 'utf8')) as Record<string, unknown>;
  const defaults = parseYaml(readFileSync(join(chartDir, 'values.yaml'), 'utf8')) as Record<string, unknown>;
  const values = mergeValues(defaults, opts.values ?? {}) as Record<string, unknown>;
  const root = {
    Values: values,
    Release: { Name: opts.releaseName ?? 'bpfready', Namespace: opts.namespace ?? 'bpfready', Service: opts.service ?? 'Helm', IsInstall: true, IsUpgrade: false },
    Chart: { Name: chart['name'], Version: chart['version'], AppVersion: chart['appVersion'] },
  };
  const defines = new Map<string, Node[]>();
  const tdir = join(chartDir, 'templates');
  const names = readdirSync(tdir).sort();
  const trees = new Map<string, Node[]>();
  // Like Helm, parse every file first so a define in any file is visible to all of them.
  for (const f of names) trees.set(f, parseTree(lex(readFileSync(join(tdir, f), 'utf8'), `templates/${f}`), `templates/${f}`, defines));
  const ctx: Ctx = {
    defines,
    root,
    files: (p) => {
      const full = join(chartDir, p);
      return existsSync(full) ? readFileSync(full, 'utf8') : '';
    },
  };
  const files = new Map<string, string>();
  const documents: RenderedChart['documents'] = [];
  for (const f of names) {
    if (f.startsWith('_')) continue;
    const text = execNodes(trees.get(f)!, root, new Scope(root), ctx);
    files.set(`templates/${f}`, text);
    if (!/\.(ya?ml)$/.test(f)) continue;
    for (const part of text.split(/^---\s*$/m)) {
      let doc: unknown;
      try {
        doc = parseYaml(part, { uniqueKeys: true });
      } catch (e) {
        throw new RenderError(`templates/${f}`, `rendered YAML does not parse: ${(e as Error).message.split('\n')[0]}\n${part}`);
      }
      if (doc === null || doc === undefined) continue;
      if (!isMap(doc)) throw new RenderError(`templates/${f}`, 'a rendered document is not a mapping');
      documents.push({ source: `templates/${f}`, doc, text: part.replace(/^\n+/, '').replace(/\s+$/, '') });
    }
  }
  return { values, files, documents };
}

// Helm's install order (pkg/releaseutil/kind_sorter.go, abridged to kinds a chart like ours has);
// kinds it does not know go last, in file order.
const INSTALL_ORDER = ['Namespace', 'ServiceAccount', 'Secret', 'ConfigMap', 'ClusterRole', 'ClusterRoleBinding', 'Role', 'RoleBinding', 'Service', 'DaemonSet', 'Job'];

/** The manifests as one multi-document YAML stream in install order, like `helm template`. */
export function manifestStream(r: RenderedChart, chartName = 'bpfready'): string {
  const rank = (kind: unknown): number => {
    const i = INSTALL_ORDER.indexOf(String(kind));
    return i < 0 ? INSTALL_ORDER.length : i;
  };
  // Hooks go by helm.sh/hook-weight first, as Helm runs them; plain manifests all weigh 0.
  const weight = (doc: Record<string, unknown>): number => Number(((doc['metadata'] as Record<string, unknown> | undefined)?.['annotations'] as Record<string, unknown> | undefined)?.['helm.sh/hook-weight'] ?? 0);
  const docs = r.documents.map((d, i) => ({ ...d, i })).sort((a, b) => weight(a.doc) - weight(b.doc) || rank(a.doc['kind']) - rank(b.doc['kind']) || a.i - b.i);
  return docs.map((d) => `---\n# Source: ${chartName}/${d.source}\n${d.text}\n`).join('');
}

export const REPO_ROOT = join(dirname(fileURLToPath(import.meta.url)), '..');
export const CHART_DIR = join(REPO_ROOT, 'helm/bpfready');

const HEADER = (what: string): string =>
  `# GENERATED from helm/bpfready by \`node scripts/render-chart.ts --write\` — DO NOT EDIT.\n# ${what}\n# test/deploy/manifests.test.ts fails when this file and the chart disagree.\n`;

/** What deploy/ holds: path → content. */
export function deployFiles(): Map<string, string> {
  const base = renderChart(CHART_DIR, { service: 'kubectl' });
  const monitoring = renderChart(CHART_DIR, {
    service: 'kubectl',
    values: { serviceMonitor: { enabled: true }, prometheusRule: { enabled: true }, grafanaDashboard: { enabled: true } },
  });
  const monitoringOnly: RenderedChart = {
    ...monitoring,
    documents: monitoring.documents.filter((d) => /servicemonitor|prometheusrule|dashboard-configmap/.test(d.source)),
  };
  const ns = readFileSync(join(REPO_ROOT, 'deploy/namespace.yaml'), 'utf8');
  // kubectl runs no hooks: applied with the rest, the uninstall Job would prune every node at install.
  const isHook = (d: RenderedChart['documents'][number]): boolean => ((d.doc['metadata'] as Record<string, unknown> | undefined)?.['annotations'] as Record<string, unknown> | undefined)?.['helm.sh/hook'] !== undefined;
  const release: RenderedChart = { ...base, documents: base.documents.filter((d) => !isHook(d)) };
  const hooks: RenderedChart = { ...base, documents: base.documents.filter(isHook) };
  return new Map([
    ['deploy/bpfready.yaml', HEADER('The chart with its default values, release "bpfready" in namespace "bpfready" (create it with deploy/namespace.yaml first).') + manifestStream(release)],
    [
      'deploy/prune.yaml',
      HEADER('The chart\'s uninstall hook: after `kubectl delete -f deploy/bpfready.yaml`, `kubectl apply -f deploy/prune.yaml` removes bpfready\'s labels, annotation, conditions and taint from every node; then delete this file\'s objects too.') + manifestStream(hooks),
    ],
    ['deploy/monitoring.yaml', HEADER('ServiceMonitor, PrometheusRule and Grafana dashboard ConfigMap (needs the Prometheus Operator CRDs).') + manifestStream(monitoringOnly)],
    ['deploy/grafana/bpfready-dashboard.json', readFileSync(join(CHART_DIR, 'dashboards/bpfready-dashboard.json'), 'utf8')],
    ['deploy/namespace.yaml', ns],
  ]);
}

if (process.argv[1] === fileURLToPath(import.meta.url)) {
  const write = process.argv.includes('--write');
  for (const [path, text] of deployFiles()) {
    if (write) writeFileSync(join(REPO_ROOT, path), text);
    else process.stdout.write(`# ==> ${path}\n${text}`);
  }
}
