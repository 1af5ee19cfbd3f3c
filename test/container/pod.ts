// The chart's pod, as podman run options: read from the rendered DaemonSet in deploy/bpfready.yaml
// (the chart's default rendering; test/deploy keeps it equal to helm/bpfready), never from a copy
// kept here. Every field of the container and pod spec that decides what the process can see or do
// is translated, and a field this translation does not know fails the test instead of being dropped:
// a new mount, capability or namespace in the chart reaches this test by itself.
//
// What Kubernetes does and podman is told to do the same (docs/deploy.md, "The image, run as the chart
// runs it"):
//   securityContext   runAsUser/runAsGroup -> --user; capabilities drop/add -> --cap-drop/--cap-add;
//                     readOnlyRootFilesystem -> --read-only without podman's own tmpfs mounts;
//                     seccompProfile/appArmorProfile Unconfined -> --security-opt ...=unconfined;
//                     privileged false -> nothing (podman's default masks /proc and /sys as runc does)
//   volumes           hostPath -> a recursive bind (the kubelet's hostPath is one), readOnly -> ro,
//                     mountPropagation None/HostToContainer/Bidirectional -> rprivate/rslave/rshared;
//                     `type: Directory` is checked as the kubelet checks it, a missing untyped path is
//                     an empty directory (the runtime makes one); emptyDir medium Memory
//                     -> tmpfs of sizeLimit; configMap -> its data from the same rendering, read-only
//   env               value, and fieldRef spec.nodeName (the node name the test gives)
//   hostNetwork false -> a network namespace of the pod's own (slirp4netns here; a CNI plugin in a
//                     cluster: either way not the host's); hostPID/hostIPC false -> their own namespaces
//   resources.limits  -> --memory/--cpus; terminationGracePeriodSeconds -> --stop-timeout
//   command           -> --entrypoint; initContainers -> containers of their own, with the pod's
//                     namespaces and volumes, run to completion in order before the pod's container
// What is not the chart's: the pod's service-account token (the test points the daemon at the
// API-server double with a kubeconfig instead, test/container/image.test.ts says how).
import { existsSync, mkdtempSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { parseAllDocuments } from 'yaml';

type Obj = Record<string, unknown>;

export interface PodRun {
  /** podman run options (before the image name). */
  options: string[];
  /** The container's args from the chart (e.g. ["daemon"]). */
  args: string[];
  /** Ports the container declares, by name. */
  ports: Record<string, number>;
  env: Record<string, string>;
  /** The init containers, in the order the kubelet runs them. */
  init: ContainerRun[];
  /** Host paths the pod's container mounts, with where and how. */
  hostMounts: { hostPath: string; mountPath: string; readOnly: boolean; propagation: string }[];
  hostRoot: string;
  /** Removes the files made for configMap volumes and missing host paths. */
  cleanup(): void;
}

export class UnknownFieldError extends Error {
  constructor(where: string, value: unknown) {
    super(
      `${where}: ${JSON.stringify(value)} is not translated to podman by test/container/pod.ts; translate it or the test runs a different pod than the chart's`,
    );
    this.name = 'UnknownFieldError';
  }
}

const PROPAGATION: Record<string, string> = { None: 'rprivate', HostToContainer: 'rslave', Bidirectional: 'rshared' };

function only(where: string, o: Obj | undefined, known: string[]): void {
  for (const k of Object.keys(o ?? {})) if (!known.includes(k)) throw new UnknownFieldError(`${where}.${k}`, o![k]);
}

const obj = (v: unknown): Obj => (v && typeof v === 'object' && !Array.isArray(v) ? (v as Obj) : {});
const list = (v: unknown): Obj[] => (Array.isArray(v) ? (v as Obj[]) : []);

/** The documents of a rendered manifest file, by kind. */
export function manifests(text: string): Obj[] {
  return parseAllDocuments(text)
    .map((d) => d.toJS() as Obj | null)
    .filter((d): d is Obj => d !== null && typeof d === 'object');
}

/** One container of the pod as podman run options; `podOptions` are the pod's own (namespaces). */
export interface ContainerRun {
  name: string;
  /** podman run options (before the image name). */
  options: string[];
  /** The container's command (replacing the image's entrypoint), if the chart sets one. */
  command: string[] | undefined;
  /** The container's args from the chart (e.g. ["daemon"]). */
  args: string[];
  env: Record<string, string>;
}

export function podRun(manifestText: string, opts: { nodeName: string; containerName?: string }): PodRun {
  const docs = manifests(manifestText);
  const ds = docs.find((d) => d['kind'] === 'DaemonSet');
  if (!ds) throw new Error('no DaemonSet in the manifest');
  const pod = obj(obj(obj(ds['spec'])['template'])['spec']);
  const where = 'DaemonSet.spec.template.spec';
  only(where, pod, [
    'serviceAccountName',
    'priorityClassName',
    'hostNetwork',
    'hostPID',
    'hostIPC',
    'terminationGracePeriodSeconds',
    'tolerations',
    'nodeSelector',
    'affinity',
    'imagePullSecrets',
    'initContainers',
    'containers',
    'volumes',
    'automountServiceAccountToken',
  ]);
  const podOptions: string[] = [];
  // Scheduling fields decide where the pod runs, not what it sees: nothing to translate.
  for (const ns of ['hostNetwork', 'hostPID', 'hostIPC'] as const) {
    if (pod[ns] === true) {
      podOptions.push({ hostNetwork: '--network=host', hostPID: '--pid=host', hostIPC: '--ipc=host' }[ns]);
    }
  }
  // A pod network namespace of its own that can reach the host's loopback (where the API-server
  // double listens) as 10.0.2.2, and whose ports are published to the host's loopback.
  if (pod['hostNetwork'] !== true) podOptions.push('--network=slirp4netns:allow_host_loopback=true');
  if (pod['hostPID'] !== true) podOptions.push('--pid=private');
  if (pod['hostIPC'] !== true) podOptions.push('--ipc=private');

  const containers = list(pod['containers']);
  const c = containers.find((x) => x['name'] === (opts.containerName ?? 'bpfready'));
  if (!c) throw new Error(`no container ${opts.containerName ?? 'bpfready'} in the DaemonSet`);
  if (containers.length !== 1)
    throw new UnknownFieldError(
      `${where}.containers`,
      containers.map((x) => x['name']),
    );

  const volumes = new Map(list(pod['volumes']).map((v) => [String(v['name']), v]));
  const configMaps = new Map(
    docs.filter((d) => d['kind'] === 'ConfigMap').map((d) => [String(obj(d['metadata'])['name']), obj(d['data'])]),
  );
  const made: string[] = [];
  const hostMounts: TranslateContext['hostMounts'] = [];
  const ctx: TranslateContext = { where, volumes, configMaps, made, hostMounts, nodeName: opts.nodeName };
  // Init containers run to completion, in order, before the pod's container starts (the kubelet's
  // order); they get the pod's namespaces and volumes, and securityContext of their own.
  const init = list(pod['initContainers']).map((ic) => translateContainer(ic, `${where}.initContainers[${ic['name']}]`, podOptions, ctx));
  const main = translateContainer(c, `${where}.containers[${c['name']}]`, podOptions, ctx);
  if (typeof pod['terminationGracePeriodSeconds'] === 'number') main.options.push(`--stop-timeout=${pod['terminationGracePeriodSeconds']}`);
  const ports: Record<string, number> = {};
  for (const p of list(c['ports'])) ports[String(p['name'] ?? p['containerPort'])] = Number(p['containerPort']);
  const hostRoot = main.env['BPFREADY_HOST_ROOT'] ?? '/';
  return {
    options: main.options,
    args: main.args,
    ports,
    env: main.env,
    init,
    hostMounts: hostMounts.filter((m) => m.container === main.name).map(({ container: _c, ...m }) => m),
    hostRoot,
    cleanup: () => {
      for (const d of made) rmSync(d, { recursive: true, force: true });
    },
  };
}

interface TranslateContext {
  where: string;
  volumes: Map<string, Obj>;
  configMaps: Map<string, Obj>;
  made: string[];
  hostMounts: (PodRun['hostMounts'][number] & { container: string })[];
  nodeName: string;
}

function translateContainer(c: Obj, cw: string, podOptions: readonly string[], ctx: TranslateContext): ContainerRun {
  only(cw, c, [
    'name',
    'image',
    'imagePullPolicy',
    'command',
    'args',
    'env',
    'ports',
    'startupProbe',
    'livenessProbe',
    'readinessProbe',
    'resources',
    'securityContext',
    'volumeMounts',
  ]);
  const options = [...podOptions];
  const name = String(c['name']);

  const sc = obj(c['securityContext']);
  only(`${cw}.securityContext`, sc, [
    'runAsUser',
    'runAsGroup',
    'runAsNonRoot',
    'privileged',
    'readOnlyRootFilesystem',
    'capabilities',
    'seccompProfile',
    'appArmorProfile',
    'allowPrivilegeEscalation',
  ]);
  if (sc['privileged'] === true) options.push('--privileged');
  const uid = typeof sc['runAsUser'] === 'number' ? sc['runAsUser'] : 0;
  const gid = typeof sc['runAsGroup'] === 'number' ? sc['runAsGroup'] : uid === 0 ? 0 : undefined;
  options.push(`--user=${uid}${gid === undefined ? '' : `:${gid}`}`);
  if (sc['allowPrivilegeEscalation'] === false) options.push('--security-opt=no-new-privileges');
  // Kubernetes mounts nothing writable of its own on a read-only root: only the pod's volumes are.
  if (sc['readOnlyRootFilesystem'] === true) options.push('--read-only', '--read-only-tmpfs=false');
  const caps = obj(sc['capabilities']);
  only(`${cw}.securityContext.capabilities`, caps, ['drop', 'add']);
  for (const d of (caps['drop'] as string[] | undefined) ?? []) options.push(`--cap-drop=${d === 'ALL' ? 'ALL' : `CAP_${d}`}`);
  for (const a of (caps['add'] as string[] | undefined) ?? []) options.push(`--cap-add=CAP_${a}`);
  for (const [field, opt] of [
    ['seccompProfile', 'seccomp'],
    ['appArmorProfile', 'apparmor'],
  ] as const) {
    const p = obj(sc[field]);
    only(`${cw}.securityContext.${field}`, p, ['type', 'localhostProfile']);
    if (p['type'] === 'Unconfined') options.push(`--security-opt=${opt}=unconfined`);
    else if (p['type'] !== undefined && p['type'] !== 'RuntimeDefault')
      throw new UnknownFieldError(`${cw}.securityContext.${field}.type`, p['type']);
  }

  const limits = obj(obj(c['resources'])['limits']);
  only(`${cw}.resources.limits`, limits, ['memory', 'cpu']);
  if (typeof limits['memory'] === 'string') options.push(`--memory=${quantityBytes(limits['memory'])}`);
  if (limits['cpu'] !== undefined) options.push(`--cpus=${cpuQuantity(String(limits['cpu']))}`);

  const env: Record<string, string> = {};
  for (const e of list(c['env'])) {
    only(`${cw}.env[${e['name']}]`, e, ['name', 'value', 'valueFrom']);
    const key = String(e['name']);
    if ('value' in e) env[key] = String(e['value']);
    else {
      const path = obj(obj(e['valueFrom'])['fieldRef'])['fieldPath'];
      if (path !== 'spec.nodeName') throw new UnknownFieldError(`${cw}.env[${key}].valueFrom`, e['valueFrom']);
      env[key] = ctx.nodeName;
    }
  }
  for (const [k, v] of Object.entries(env)) options.push(`--env=${k}=${v}`);

  for (const m of list(c['volumeMounts'])) {
    only(`${cw}.volumeMounts[${m['name']}]`, m, ['name', 'mountPath', 'readOnly', 'mountPropagation']);
    const v = ctx.volumes.get(String(m['name']));
    if (!v) throw new Error(`volumeMount ${m['name']} names no volume`);
    const mountPath = String(m['mountPath']);
    const ro = m['readOnly'] === true;
    const propagation = PROPAGATION[String(m['mountPropagation'] ?? 'None')];
    if (!propagation) throw new UnknownFieldError(`${cw}.volumeMounts[${m['name']}].mountPropagation`, m['mountPropagation']);
    const vw = `${ctx.where}.volumes[${v['name']}]`;
    if (v['hostPath']) {
      const hp = obj(v['hostPath']);
      only(`${vw}.hostPath`, hp, ['path', 'type']);
      const path = String(hp['path']);
      checkHostPathType(path, hp['type'] as string | undefined);
      // An untyped hostPath that does not exist: the runtime makes an empty directory on the node;
      // an empty directory of our own shows the pod the same without making one on this host.
      let source = path;
      if (!existsSync(path)) {
        source = mkdtempSync(join(tmpdir(), 'bpfready-pod-missing-'));
        ctx.made.push(source);
      }
      options.push(`--volume=${source}:${mountPath}:${ro ? 'ro' : 'rw'},rbind,${propagation}`);
      ctx.hostMounts.push({
        container: name,
        hostPath: path,
        mountPath,
        readOnly: ro,
        propagation: String(m['mountPropagation'] ?? 'None'),
      });
    } else if (v['emptyDir']) {
      const ed = obj(v['emptyDir']);
      only(`${vw}.emptyDir`, ed, ['medium', 'sizeLimit']);
      if (ed['medium'] !== 'Memory') throw new UnknownFieldError(`${vw}.emptyDir.medium`, ed['medium']);
      const size = ed['sizeLimit'] ? `,size=${quantityBytes(String(ed['sizeLimit']))}` : '';
      // The kubelet makes emptyDirs mode 0777.
      options.push(`--mount=type=tmpfs,destination=${mountPath},tmpfs-mode=1777${size.replace(',size=', ',tmpfs-size=')}`);
    } else if (v['configMap']) {
      const cm = obj(v['configMap']);
      only(`${vw}.configMap`, cm, ['name']);
      const data = ctx.configMaps.get(String(cm['name']));
      if (!data) throw new Error(`configMap ${cm['name']} is not in the manifest`);
      const dir = mkdtempSync(join(tmpdir(), 'bpfready-pod-configmap-'));
      ctx.made.push(dir);
      for (const [k, text] of Object.entries(data)) writeFileSync(join(dir, k), String(text));
      options.push(`--volume=${dir}:${mountPath}:ro`);
    } else throw new UnknownFieldError(vw, v);
  }
  const command = c['command'] === undefined ? undefined : (c['command'] as unknown[]).map(String);
  // podman's --entrypoint takes the whole command as a JSON array.
  if (command) options.push(`--entrypoint=${JSON.stringify(command)}`);
  return { name, options, command, args: ((c['args'] as unknown[] | undefined) ?? []).map(String), env };
}

/** The kubelet refuses to start a pod whose `type: Directory` hostPath is not a directory. */
function checkHostPathType(path: string, type: string | undefined): void {
  if (type === undefined || type === '') return;
  if (type !== 'Directory') throw new UnknownFieldError(`hostPath ${path} type`, type);
  if (!statSync(path, { throwIfNoEntry: false })?.isDirectory())
    throw new Error(`hostPath ${path} (type Directory) is not a directory on this host: the kubelet would not start the pod`);
}

/** A Kubernetes quantity ("16Mi", "384Mi", "1G") in bytes. */
export function quantityBytes(q: string): number {
  const m = /^(\d+(?:\.\d+)?)(Ki|Mi|Gi|Ti|k|M|G|T)?$/.exec(q);
  if (!m) throw new Error(`not a quantity: ${q}`);
  const unit = { Ki: 2 ** 10, Mi: 2 ** 20, Gi: 2 ** 30, Ti: 2 ** 40, k: 1e3, M: 1e6, G: 1e9, T: 1e12 }[m[2] ?? ''] ?? 1;
  return Math.round(Number(m[1]) * unit);
}

function cpuQuantity(q: string): string {
  return q.endsWith('m') ? String(Number(q.slice(0, -1)) / 1000) : q;
}
