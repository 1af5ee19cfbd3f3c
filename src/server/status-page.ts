// /status: one self-contained HTML page a person reads at a glance (no external assets, no script).
// Status is shown by colour AND by a symbol and a word, so it survives a grey-scale printout.
import { STATUSES, type ProbeResult, type Status } from '../contract/result.ts';
import type { ProbeReport } from '../contract/report.ts';
import { bpffsMounts } from './metrics.ts';
import type { ProfileCheck } from '../requirements/profile-checks.ts';
import type { DaemonState } from './state.ts';

export interface PageMeta {
  version: string;
  nodeName?: string | undefined;
  hostname: string;
}

const SYMBOL: Record<Status, string> = { supported: '✔', unsupported: '✘', 'not-permitted': '⚠', error: '?' };

// Report sections with their own rendering; every other section made of results gets a generic table.
const MATRIX_SECTIONS: readonly [key: string, title: string][] = [
  ['programTypes', 'Program types'],
  ['mapTypes', 'Map types'],
  ['attachTypes', 'Attach types'],
  ['misc', 'Other kernel features'],
];
const OWN_SECTIONS = new Set(['schemaVersion', 'generatedAt', 'durationMs', 'kernel', 'context', 'helpers', 'bpffs', 'token']);

export function renderStatusPage(state: DaemonState, meta: PageMeta): string {
  const r = state.report;
  const title = `bpfready · ${meta.nodeName ?? meta.hostname}`;
  const body = r
    ? [
        summary(r, state.checks),
        requirements(state.checks),
        notAvailable(r),
        `<div class="pair">${matrix('programTypes', 'Program types', results(r['programTypes']))}${matrix('mapTypes', 'Map types', results(r['mapTypes']))}</div>`,
        matrix('misc', 'Other kernel features', results(r['misc'])),
        helpers(r),
        matrix('attachTypes', 'Attach types', results(r['attachTypes']), true),
        privileges(r),
        ...otherSections(r),
      ].join('\n')
    : `<p class="waiting">The first probe has not finished yet${state.lastError ? `: last attempt failed (${esc(state.lastError.message)})` : ''}. This page fills in once it has.</p>`;
  return `<!doctype html>
<html lang="en"><head><meta charset="utf-8"><meta name="viewport" content="width=device-width,initial-scale=1">
<title>${esc(title)}</title><style>${CSS}</style></head>
<body><header><h1>${esc(title)}</h1>${headerFacts(state, meta)}</header>
<input type="checkbox" id="only-problems"><label for="only-problems">show only what is not supported</label>
<main>
${body}
</main>
<footer>bpfready ${esc(meta.version)} · <a href="/status.json">status.json</a> · <a href="/metrics">metrics</a> · ${legend()}</footer>
</body></html>
`;
}

function headerFacts(state: DaemonState, meta: PageMeta): string {
  const r = state.report;
  const facts: string[] = [];
  facts.push(state.ready ? '<span class="pill ok">ready</span>' : '<span class="pill bad">not ready</span>');
  if (r) {
    facts.push(`kernel <b>${esc(r.kernel.release)}</b> ${esc(r.kernel.machine)}`);
    facts.push(`probed <time datetime="${esc(r.generatedAt)}">${esc(r.generatedAt)}</time> in ${Math.round(r.durationMs)} ms`);
  }
  if (meta.nodeName && meta.nodeName !== meta.hostname) facts.push(`host ${esc(meta.hostname)}`);
  facts.push(`${state.cycles} probe cycle${state.cycles === 1 ? '' : 's'}`);
  if (state.lastError)
    facts.push(`<span class="pill bad">last error ${esc(state.lastError.at.toISOString())}: ${esc(state.lastError.message)}</span>`);
  return `<p class="facts">${facts.join(' · ')}</p>`;
}

function summary(r: ProbeReport, checks: ProfileCheck[]): string {
  const cards: string[] = [];
  for (const [key, t] of MATRIX_SECTIONS.slice(0, 2))
    cards.push(
      card(
        t,
        results(r[key]).map(([, x]) => x),
      ),
    );
  const helperResults = Object.values(r.helpers ?? {}).flatMap((m) => Object.values(m));
  cards.push(card('Helper × program type pairs', helperResults));
  if (checks.length) {
    const ok = checks.filter((c) => c.satisfied).length;
    cards.push(
      `<div class="card"><h3>Profiles</h3><p class="big ${ok === checks.length ? 's-supported' : 's-unsupported'}">${ok}/${checks.length}</p><p>satisfied</p></div>`,
    );
  }
  return `<section class="cards" aria-label="summary">${cards.join('')}</section>`;
}

function card(title: string, rs: ProbeResult[]): string {
  const counts = countByStatus(rs);
  const parts = STATUSES.filter((s) => counts[s] > 0 && s !== 'supported').map(
    (s) => `<span class="s-${s}">${SYMBOL[s]} ${counts[s]} ${s}</span>`,
  );
  return `<div class="card"><h3>${esc(title)}</h3><p class="big s-supported">${counts.supported}/${rs.length}</p><p>supported${parts.length ? ` · ${parts.join(' · ')}` : ''}</p></div>`;
}

const UNMET_SHOWN = 5;

function requirements(checks: ProfileCheck[]): string {
  if (!checks.length) return '<section id="requirements"><h2>Requirements</h2><p>No profiles are checked on this node.</p></section>';
  const rows = checks.map((c) => {
    if (c.satisfied) return `<li class="row-supported"><span class="s-supported">✔</span> <b>${esc(c.profile)}</b>: satisfied</li>`;
    const unmet = c.unmet
      .map(
        (u) =>
          `<tr><td>${esc(u.requirement)}</td><td>${chip(u.status)}${u.errno ? ` <code>${esc(u.errno)}</code>` : ''}</td><td>${esc(u.detail ?? '')}</td><td class="fix">${u.remediation.map((x) => `<div>${esc(x)}</div>`).join('')}</td></tr>`,
      )
      .join('');
    // A long list would push the feature matrix out of view: it starts folded, the counts stay visible.
    const open = c.unmet.length <= UNMET_SHOWN ? ' open' : '';
    return `<li><details${open}><summary><span class="s-unsupported">✘</span> <b>${esc(c.profile)}</b>: ${c.unmet.length} unmet (${countLine(c.unmet.map((u) => ({ status: u.status })))})</summary>
<table class="unmet wide"><thead><tr><th>requirement</th><th>status</th><th>why</th><th>remediation</th></tr></thead><tbody>${unmet}</tbody></table></details></li>`;
  });
  return `<section id="requirements"><h2>Requirements</h2><ul class="profiles">${rows.join('\n')}</ul></section>`;
}

// Side-by-side matrices show only the errno (the whole detail is in the tooltip and in the
// "not available" list above them); the full-width attach matrix has room for the detail.
function matrix(key: string, title: string, entries: [string, ProbeResult][], wide = false): string {
  if (!entries.length) return '';
  const head = STATUSES.map((s) => `<th class="st s-${s}" title="${s}">${s}</th>`).join('');
  const rows = entries
    .map(([name, r]) => {
      const tip = esc([r.status, r.errno, r.detail].filter(Boolean).join(': '));
      const cells = STATUSES.map(
        (s) => `<td class="st">${r.status === s ? `<span class="dot s-${s}" title="${tip}">${SYMBOL[s]}</span>` : ''}</td>`,
      ).join('');
      const last = wide ? why(r) : r.errno ? `<code title="${tip}">${esc(r.errno)}</code>` : '';
      return `<tr class="row-${r.status}"><th scope="row">${esc(name)}</th>${cells}<td class="why">${last}</td></tr>`;
    })
    .join('\n');
  const heading = `<h2>${esc(title)} <small>${countLine(entries.map(([, r]) => r))}</small></h2>`;
  const table = `<table class="matrix"><thead><tr><th>${esc(singular(title))}</th>${head}<th>${wide ? 'errno · detail' : 'errno'}</th></tr></thead><tbody>
${rows}
</tbody></table>`;
  // Wide means long (a hundred attach types): folded, with the counts in view.
  return wide
    ? `<section id="${esc(key)}"><details><summary>${heading}</summary>${table}</details></section>`
    : `<section id="${esc(key)}">${heading}${table}</section>`;
}

/** Everything not supported among program types, map types and other features, with the reason. */
function notAvailable(r: ProbeReport): string {
  const rows: string[] = [];
  for (const [key, title] of MATRIX_SECTIONS) {
    if (key === 'attachTypes') continue;
    for (const [name, res] of results(r[key])) {
      if (res.status === 'supported') continue;
      rows.push(
        `<tr class="row-${res.status}"><td>${esc(singular(title))}</td><th scope="row">${esc(name)}</th><td>${chip(res.status)}</td><td class="why">${why(res, 220)}</td></tr>`,
      );
    }
  }
  if (!rows.length)
    return '<section id="not-available"><h2>Not available here</h2><p class="s-supported">✔ every probed program type, map type and feature is supported.</p></section>';
  return `<section id="not-available"><h2>Not available here <small>${rows.length}</small></h2>
<table class="matrix wide"><thead><tr><th>kind</th><th>name</th><th>status</th><th>errno · detail</th></tr></thead><tbody>
${rows.join('\n')}
</tbody></table></section>`;
}

function helpers(r: ProbeReport): string {
  const entries = Object.entries(r.helpers ?? {});
  if (!entries.length) return '';
  const rows = entries
    .map(([progType, map]) => {
      const rs = Object.values(map);
      const c = countByStatus(rs);
      const pct = rs.length ? Math.round((100 * c.supported) / rs.length) : 0;
      const cls = c.supported === rs.length ? 'row-supported' : 'row-partial';
      return `<tr class="${cls}"><th scope="row">${esc(progType)}</th>${STATUSES.map((s) => `<td class="num s-${s}">${c[s] || ''}</td>`).join('')}<td class="barcell" title="${c.supported} of ${rs.length} helpers supported"><span class="bar"><span style="width:${pct}%"></span></span> ${pct}%</td></tr>`;
    })
    .join('\n');
  return `<section id="helpers"><h2>Helpers by program type</h2>
<table class="matrix"><thead><tr><th>program type</th>${STATUSES.map((s) => `<th class="num s-${s}">${s}</th>`).join('')}<th>supported</th></tr></thead><tbody>
${rows}
</tbody></table></section>`;
}

function privileges(r: ProbeReport): string {
  // The capabilities the kernel checks for bpf() (docs/kernel-notes.md#capabilities), shown held or not; the
  // rest of the effective set is one click away.
  const eff = new Set(r.context.effective);
  const key = BPF_CAPABILITIES.map(
    (c) => `<code class="cap ${eff.has(c) ? 's-supported' : 's-unsupported'}">${eff.has(c) ? '✔' : '✘'} ${c}</code>`,
  ).join(' ');
  const others = r.context.effective.filter((c) => !BPF_CAPABILITIES.includes(c));
  const caps = `${key}${others.length ? ` <details class="inline"><summary>and ${others.length} more</summary>${others.map((c) => `<code>${esc(c)}</code>`).join(' ')}</details>` : ''}`;
  const mounts = bpffsMountDetails(r);
  const mountRows = mounts.length
    ? mounts
        .map(
          (m) =>
            `<tr class="row-${m.status}"><th scope="row"><code>${esc(m.path)}</code></th><td>${chip(m.status)}</td><td>${esc(m.delegate)}</td><td class="why">${esc(m.detail)}</td></tr>`,
        )
        .join('\n')
    : '<tr><td colspan="4">no bpffs mount found</td></tr>';
  const token = tokenSummary(r['token']);
  return `<section id="privileges"><h2>Privileges and BPF tokens</h2>
<p>Probed as euid <b>${r.context.euid}</b>${r.context.tokenMount ? `, with the token of <code>${esc(r.context.tokenMount)}</code>` : ''}. Effective capabilities: ${caps}</p>
<p class="note">Results marked ${chip('not-permitted')} mean the kernel refused this process before deciding: availability unknown, not absent.</p>
<table class="matrix"><thead><tr><th>bpffs mount</th><th>token</th><th>delegated</th><th>detail</th></tr></thead><tbody>
${mountRows}
</tbody></table>${token}</section>`;
}

const BPF_CAPABILITIES: readonly string[] = ['cap_bpf', 'cap_perfmon', 'cap_net_admin', 'cap_sys_admin', 'cap_sys_resource'];

function bpffsMountDetails(r: ProbeReport): { path: string; status: Status; delegate: string; detail: string }[] {
  const list = Array.isArray(r['bpffs']) ? (r['bpffs'] as unknown[]) : [];
  const byPath = new Map(list.map((m) => [(m as { path?: unknown }).path, m as Record<string, unknown>]));
  return bpffsMounts(r).map((m) => {
    const raw = byPath.get(m.path) ?? {};
    const d = (raw['delegate'] ?? {}) as Record<string, unknown>;
    const delegate = ['cmds', 'maps', 'progs', 'attachs']
      .map((k) => [k, Array.isArray(d[k]) ? (d[k] as unknown[]).length : 0] as const)
      .filter(([, n]) => n > 0)
      .map(([k, n]) => `${n} ${k}`)
      .join(', ');
    const token = (raw['token'] ?? {}) as ProbeResult;
    return { ...m, delegate: delegate || 'nothing', detail: [token.errno, token.detail].filter(Boolean).join(' ') };
  });
}

function tokenSummary(token: unknown): string {
  if (typeof token !== 'object' || token === null) return '';
  const t = token as { mount?: unknown; programTypes?: unknown; mapTypes?: unknown };
  const p = results(t.programTypes).map(([, r]) => r);
  const m = results(t.mapTypes).map(([, r]) => r);
  return `<p>Through the token of <code>${esc(String(t.mount ?? '?'))}</code>: program types ${countLine(p)}; map types ${countLine(m)}.</p>`;
}

function otherSections(r: ProbeReport): string[] {
  const out: string[] = [];
  for (const [key, value] of Object.entries(r)) {
    if (OWN_SECTIONS.has(key) || MATRIX_SECTIONS.some(([k]) => k === key)) continue;
    const entries = results(value);
    if (!entries.length) continue;
    const rows = entries
      .map(([name, f]) => {
        const v = (f as { value?: unknown }).value;
        const shown = v === undefined ? '' : typeof v === 'string' ? v : JSON.stringify(v);
        return `<tr class="row-${f.status}"><th scope="row">${esc(name)}</th><td>${chip(f.status)}</td><td><code>${esc(shown.length > 120 ? `${shown.slice(0, 117)}...` : shown)}</code></td><td class="why">${why(f)}</td></tr>`;
      })
      .join('\n');
    out.push(`<section id="${esc(key)}"><details><summary><h2>${esc(key)} <small>${countLine(entries.map(([, f]) => f))}</small></h2></summary>
<table class="matrix"><thead><tr><th>fact</th><th>status</th><th>value</th><th>errno · detail</th></tr></thead><tbody>
${rows}
</tbody></table></details></section>`);
  }
  return out;
}

function results(section: unknown): [string, ProbeResult][] {
  if (typeof section !== 'object' || section === null || Array.isArray(section)) return [];
  return Object.entries(section as Record<string, unknown>).filter(
    (e): e is [string, ProbeResult] => typeof e[1] === 'object' && e[1] !== null && STATUSES.includes((e[1] as ProbeResult).status),
  );
}

function countByStatus(rs: ProbeResult[]): Record<Status, number> {
  const c = Object.fromEntries(STATUSES.map((s) => [s, 0])) as Record<Status, number>;
  for (const r of rs) c[r.status]++;
  return c;
}

function countLine(rs: ProbeResult[]): string {
  const c = countByStatus(rs);
  return STATUSES.filter((s) => c[s] > 0)
    .map((s) => `<span class="s-${s}">${c[s]} ${s}</span>`)
    .join(' · ');
}

function chip(s: Status): string {
  return `<span class="chip s-${s}">${SYMBOL[s]} ${s}</span>`;
}

// Verifier logs and EPERM explanations run to paragraphs; the page shows the start, the tooltip
// and /status.json the whole text.
function why(r: ProbeResult, max = 110): string {
  const parts: string[] = [];
  if (r.errno) parts.push(`<code>${esc(r.errno)}</code>`);
  if (r.detail) {
    const short = r.detail.length > max ? `${r.detail.slice(0, max - 1)}…` : r.detail;
    parts.push(`<span title="${esc(r.detail)}">${esc(short)}</span>`);
  }
  return parts.join(' ');
}

function singular(title: string): string {
  return title
    .toLowerCase()
    .replace(/types$/, 'type')
    .replace(/features$/, 'feature');
}

function legend(): string {
  return STATUSES.map((s) => `<span class="s-${s}">${SYMBOL[s]} ${s}</span>`).join(' ');
}

export function esc(s: string): string {
  return s.replace(/[&<>"']/g, (c) => `&#${c.charCodeAt(0)};`);
}

const CSS = `
:root{--ok:#1a7f37;--no:#cf222e;--perm:#9a6700;--err:#8250df;--fg:#1f2328;--mute:#59636e;--line:#d1d9e0;--bg:#fff;--alt:#f6f8fa}
*{box-sizing:border-box}body{margin:0;font:14px/1.45 system-ui,-apple-system,"Segoe UI",sans-serif;color:var(--fg);background:var(--bg)}
header{padding:12px 20px;border-bottom:1px solid var(--line);background:var(--alt)}h1{margin:0;font-size:20px}
.facts{margin:4px 0 0;color:var(--mute)}main{padding:0 20px 20px}footer{padding:12px 20px;color:var(--mute);border-top:1px solid var(--line)}
h2{font-size:16px;margin:20px 0 6px;display:inline-block}h2 small{font-weight:normal;font-size:13px;margin-left:8px}
.pill{padding:1px 8px;border-radius:10px;color:#fff;font-weight:600}.pill.ok{background:var(--ok)}.pill.bad{background:var(--no)}
.cards{display:flex;flex-wrap:wrap;gap:12px;margin-top:16px}.card{border:1px solid var(--line);border-radius:6px;padding:8px 14px;min-width:190px}
.card h3{margin:0;font-size:13px;color:var(--mute);font-weight:600}.card p{margin:0}.big{font-size:26px;font-weight:700}
table{border-collapse:collapse;margin:4px 0;font-size:13px}th,td{border-bottom:1px solid var(--line);padding:2px 8px;text-align:left;vertical-align:top}
thead th{background:var(--alt);font-weight:600}tbody tr:nth-child(even){background:#fbfcfd}th[scope=row]{font-weight:500;font-family:ui-monospace,monospace;white-space:nowrap}
thead th{white-space:nowrap}th.st,th.num{font-size:11px}.wide td:first-child{white-space:nowrap}
.pair{display:flex;flex-wrap:wrap;gap:0 32px;align-items:flex-start}.pair>section{flex:1 1 560px;min-width:0;overflow-x:auto}.pair table{width:100%}
.st{text-align:center;width:1%;padding:2px 6px}.num{text-align:right;width:1%;padding:2px 6px}.why{color:var(--mute);font-size:12px;overflow-wrap:anywhere}
.s-supported{color:var(--ok)}.s-unsupported{color:var(--no)}.s-not-permitted{color:var(--perm)}.s-error{color:var(--err)}
.dot{display:inline-block;width:1.5em;border-radius:3px;color:#fff;font-weight:700}.dot.s-supported{background:var(--ok)}.dot.s-unsupported{background:var(--no)}.dot.s-not-permitted{background:var(--perm)}.dot.s-error{background:var(--err)}
.chip{white-space:nowrap;font-weight:600}.barcell{white-space:nowrap}.bar{display:inline-block;width:80px;height:8px;background:#eee;border-radius:4px;vertical-align:middle}.bar span{display:block;height:8px;background:var(--ok);border-radius:4px}
.profiles{list-style:none;padding:0}.profiles li{margin:6px 0}.fix{font-family:ui-monospace,monospace;font-size:12px}
.cap{font-weight:600;margin-right:6px}details.inline{display:inline}details.inline summary{display:inline;color:var(--mute)}.note{color:var(--mute)}.waiting{font-size:16px;margin:20px 0}
details summary{cursor:pointer}details summary h2{margin:12px 0 4px}
#only-problems{margin:10px 0 0 20px}label[for=only-problems]{color:var(--mute)}
#only-problems:checked~main tr.row-supported{display:none}
`;
