// `helm test` for bpfready: run by templates/tests/readyz.yaml with the node of the chart's image.
// Passes when /readyz answers 200 through the Service, and at least one node carries bpfready's
// summary condition with (unless the facts go to NodeFeatures instead) every label its ownership
// annotation lists. Both are retried until TIMEOUT_SECONDS, as a rollout may still be under way.
// One line on stderr says what is missing; test/deploy/chart-scripts.test.ts runs it against the
// API-server double.
import { readFileSync } from 'node:fs';

const env = process.env;
const prefix = env.LABEL_PREFIX;
const service = env.SERVICE_URL;
const nfd = env.NFD === 'true';
const deadline = Date.now() + Number(env.TIMEOUT_SECONDS ?? 120) * 1000;
const host = env.KUBERNETES_SERVICE_HOST ?? '';
const api = env.API_SERVER ?? `https://${host.includes(':') ? `[${host}]` : host}:${env.KUBERNETES_SERVICE_PORT ?? '443'}`;
const tokenFile = env.TOKEN_FILE ?? '/var/run/secrets/kubernetes.io/serviceaccount/token';

const sleep = (ms) => new Promise((r) => setTimeout(r, ms));

/** The first check's problem (a string), or undefined once all hold. */
async function problem() {
  let readyz;
  try {
    readyz = await fetch(`${service}/readyz`, { signal: AbortSignal.timeout(5000) });
  } catch (e) {
    return `GET ${service}/readyz: ${e.cause?.code ?? e.message}`;
  }
  if (readyz.status !== 200) return `GET ${service}/readyz: ${readyz.status} (no pod behind the Service has finished its first probe)`;
  // The token is re-read every time: the kubelet rotates it.
  const r = await fetch(`${api}/api/v1/nodes`, { headers: { Authorization: `Bearer ${readFileSync(tokenFile, 'utf8').trim()}` }, signal: AbortSignal.timeout(10000) });
  if (r.status !== 200) return `GET ${api}/api/v1/nodes: ${r.status}`;
  const nodes = (await r.json()).items ?? [];
  const published = nodes.filter((n) => (n.status?.conditions ?? []).some((c) => c.type === `${prefix}/EBPFReady`));
  if (published.length === 0) return `none of ${nodes.length} nodes has the condition ${prefix}/EBPFReady`;
  for (const n of nfd ? [] : published) {
    const labels = n.metadata.labels ?? {};
    const owned = (n.metadata.annotations?.[`${prefix}/owned-labels`] ?? '').split(',').filter((s) => s !== '');
    if (owned.length === 0) return `node ${n.metadata.name} has no ${prefix}/owned-labels annotation (no labels published)`;
    const missing = owned.filter((k) => !(`${prefix}/${k}` in labels));
    if (missing.length) return `node ${n.metadata.name} lacks labels it should carry: ${missing.map((k) => `${prefix}/${k}`).join(', ')}`;
  }
  console.log(`bpfready test: ${service}/readyz is 200; ${published.length} of ${nodes.length} nodes carry ${prefix}/EBPFReady${nfd ? '' : ' and the labels they list'}`);
  return undefined;
}

for (;;) {
  let p;
  try {
    p = await problem();
  } catch (e) {
    p = e.message;
  }
  if (p === undefined) process.exit(0);
  if (Date.now() > deadline) {
    console.error(`bpfready test: ${p}`);
    process.exit(1);
  }
  await sleep(2000);
}
