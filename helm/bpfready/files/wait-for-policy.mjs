// The DaemonSet's init container (templates/daemonset.yaml): the daemon starts only once the API
// server enforces the node-writes admission policy on this pod's account. Helm creates kinds it does
// not know, ValidatingAdmissionPolicy among them, after the DaemonSet, and a policy takes effect
// only when the API server's policy informer has it; until then RBAC alone would let the pod patch
// any node. So this asks the API server itself: a dry-run PATCH of our node that the policy must
// refuse (a label outside bpfready's prefix). Refused by the policy: exit 0. Admitted, or refused by
// something else (RBAC not bound yet): wait and ask again, saying so every 30 s. Nothing is written,
// dry-run or not, once the policy is there. test/deploy/chart-scripts.test.ts runs it against the
// API-server double.
import { readFileSync } from 'node:fs';

const env = process.env;
const node = env.NODE_NAME;
const policy = env.POLICY_NAME;
const host = env.KUBERNETES_SERVICE_HOST ?? '';
const api = env.API_SERVER ?? `https://${host.includes(':') ? `[${host}]` : host}:${env.KUBERNETES_SERVICE_PORT ?? '443'}`;
const tokenFile = env.TOKEN_FILE ?? '/var/run/secrets/kubernetes.io/serviceaccount/token';
const intervalMs = Number(env.INTERVAL_MS ?? 2000);
const url = `${api}/api/v1/nodes/${encodeURIComponent(node)}?dryRun=All`;
const body = JSON.stringify({ metadata: { labels: { 'policy-check.bpfready.invalid/probe': 'refused' } } });

let lastSaid = 0;
for (;;) {
  let why;
  try {
    const r = await fetch(url, {
      method: 'PATCH',
      headers: { 'Content-Type': 'application/strategic-merge-patch+json', Authorization: `Bearer ${readFileSync(tokenFile, 'utf8').trim()}` },
      body,
      signal: AbortSignal.timeout(10000),
    });
    const status = await r.json().catch(() => ({}));
    if (r.status === 403 && String(status.message ?? '').includes(`ValidatingAdmissionPolicy '${policy}'`)) {
      console.log(`wait-for-policy: ${policy} is enforced on node ${node}'s writes`);
      process.exit(0);
    }
    why = r.ok ? `a write ${policy} must refuse was admitted (dry run): the policy is not in force yet` : `${r.status} ${status.message ?? ''}`.trim();
  } catch (e) {
    why = e.cause?.code ?? e.message;
  }
  if (Date.now() - lastSaid >= 30000) {
    console.log(`wait-for-policy: waiting for ${policy}: ${why}`);
    lastSaid = Date.now();
  }
  await new Promise((r) => setTimeout(r, intervalMs));
}
