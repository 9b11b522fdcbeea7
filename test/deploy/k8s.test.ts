/**
 * The Kubernetes manifests (deploy/k8s): renders every overlay, fails when the committed YAML under
 * deploy/k8s/rendered/ differs from the generator, validates every committed object against the Kubernetes and
 * KEDA schemas (kubernetes-models), and checks how the objects fit together and with the code: selectors, ports,
 * probes, autoscaler targets, queue keys, configuration, credentials, shutdown timing, security, resources, and
 * the network flows the NetworkPolicies allow and deny.
 *
 * Re-render after changing the generator: `node deploy/k8s/render.ts` (Node >= 22.18), or run this file with -u.
 */
import { existsSync, mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { parseAllDocuments } from 'yaml';
import { ConfigMap, Namespace, Secret, Service, ServiceAccount } from 'kubernetes-models/v1';
import { Deployment, StatefulSet } from 'kubernetes-models/apps/v1';
import { PodDisruptionBudget } from 'kubernetes-models/policy/v1';
import { HorizontalPodAutoscaler } from 'kubernetes-models/autoscaling/v2';
import { NetworkPolicy } from 'kubernetes-models/networking.k8s.io/v1';
import { ScaledObject, TriggerAuthentication } from '@kubernetes-models/keda/keda.sh/v1alpha1';
import { bullQueueName, bullQueueNames } from '@hookgate/queue';
import { loadConfig, type HookgateConfig } from '../../services/hookgate/src/config.js';
import { scannerRegistry } from '../../services/hookgate/src/scanners.js';
import { checkExposure, splitListen } from '../../services/hookgate/src/roles.js';
import { checkMilterExposure } from '../../services/hookgate/src/milter-role.js';
import { OVERLAYS, prod } from '../../deploy/k8s/src/overlays.js';
import {
  DRAIN_SECONDS,
  ENGINE_IMAGES,
  MTA_LABEL,
  PRESTOP_SECONDS,
  WORKER_POOLS,
  buildManifests,
  configFacts,
  externalSecretKeys,
  queueListKeys,
  readInputs,
  renderAll,
  renderedDir,
  type Overlay,
} from '../../deploy/k8s/src/manifests.js';
import {
  commandVerdict,
  hookgateCommands,
  hookgateVariables,
  judgeVariable,
  parseImage,
  repoPath,
  scannerIds,
  unpinned,
} from './support.js';

// ---------------------------------------------------------------------------------------------------------------
// Loose views of the rendered objects (the schemas are checked by kubernetes-models; these are for navigation).

type Labels = Record<string, string>;
interface Selector {
  matchLabels?: Labels;
  matchExpressions?: { key: string; operator: string; values?: string[] }[];
}
interface Port {
  name?: string;
  containerPort: number;
  protocol?: string;
}
interface Probe {
  httpGet?: { path: string; port: number | string };
  tcpSocket?: { port: number | string };
  exec?: { command: string[] };
}
interface EnvVar {
  name: string;
  value?: string;
  valueFrom?: {
    secretKeyRef?: { name: string; key: string };
    configMapKeyRef?: { name: string; key: string };
    fieldRef?: unknown;
  };
}
interface Container {
  name: string;
  image: string;
  args?: string[];
  command?: string[];
  ports?: Port[];
  env?: EnvVar[];
  resources?: { requests?: Record<string, string>; limits?: Record<string, string> };
  securityContext?: {
    runAsNonRoot?: boolean;
    runAsUser?: number;
    allowPrivilegeEscalation?: boolean;
    readOnlyRootFilesystem?: boolean;
    privileged?: boolean;
    capabilities?: { drop?: string[]; add?: string[] };
    seccompProfile?: { type: string };
  };
  readinessProbe?: Probe;
  livenessProbe?: Probe;
  startupProbe?: Probe;
  lifecycle?: { preStop?: { sleep?: { seconds: number }; exec?: unknown } };
  volumeMounts?: { name: string; mountPath: string }[];
}
interface Volume {
  name: string;
  configMap?: { name: string; items?: { key: string; path: string }[] };
  secret?: { secretName: string; items?: { key: string; path: string }[] };
  projected?: {
    sources: {
      secret?: { name: string; items?: { key: string; path: string }[] };
      configMap?: { name: string };
    }[];
  };
  emptyDir?: unknown;
  hostPath?: unknown;
}
interface PodSpec {
  containers: Container[];
  initContainers?: Container[];
  volumes?: Volume[];
  securityContext?: {
    runAsNonRoot?: boolean;
    runAsUser?: number;
    seccompProfile?: { type: string };
    sysctls?: { name: string; value: string }[];
  };
  terminationGracePeriodSeconds?: number;
  automountServiceAccountToken?: boolean;
  serviceAccountName?: string;
  hostNetwork?: boolean;
  hostPID?: boolean;
  hostIPC?: boolean;
}
interface K8sObject {
  apiVersion: string;
  kind: string;
  metadata: { name: string; namespace?: string; labels?: Labels; annotations?: Labels };
  spec?: Record<string, unknown>;
  data?: Record<string, string>;
  stringData?: Record<string, string>;
}
interface Workload extends K8sObject {
  spec: {
    replicas?: number;
    selector: Selector;
    template: { metadata: { labels: Labels; annotations?: Labels }; spec: PodSpec };
  };
}
interface NetPolPeer {
  podSelector?: Selector;
  namespaceSelector?: Selector;
  ipBlock?: { cidr: string; except?: string[] };
}
interface NetPolRule {
  from?: NetPolPeer[];
  to?: NetPolPeer[];
  ports?: { protocol?: string; port?: number | string }[];
}
interface NetPol extends K8sObject {
  spec: { podSelector: Selector; policyTypes: string[]; ingress?: NetPolRule[]; egress?: NetPolRule[] };
}

const MODELS: Record<string, new (data: never) => { validate(): void }> = {
  'v1/Namespace': Namespace,
  'v1/ServiceAccount': ServiceAccount,
  'v1/ConfigMap': ConfigMap,
  'v1/Secret': Secret,
  'v1/Service': Service,
  'apps/v1/Deployment': Deployment,
  'apps/v1/StatefulSet': StatefulSet,
  'policy/v1/PodDisruptionBudget': PodDisruptionBudget,
  'autoscaling/v2/HorizontalPodAutoscaler': HorizontalPodAutoscaler,
  'networking.k8s.io/v1/NetworkPolicy': NetworkPolicy,
  'keda.sh/v1alpha1/ScaledObject': ScaledObject,
  'keda.sh/v1alpha1/TriggerAuthentication': TriggerAuthentication,
};

// ---------------------------------------------------------------------------------------------------------------
// Helpers

function selects(sel: Selector | undefined, labels: Labels): boolean {
  if (!sel) return true;
  for (const [k, v] of Object.entries(sel.matchLabels ?? {})) if (labels[k] !== v) return false;
  for (const e of sel.matchExpressions ?? []) {
    const has = e.key in labels;
    const val = labels[e.key];
    if (e.operator === 'In' && !(has && e.values?.includes(val!))) return false;
    if (e.operator === 'NotIn' && has && e.values?.includes(val!)) return false;
    if (e.operator === 'Exists' && !has) return false;
    if (e.operator === 'DoesNotExist' && has) return false;
  }
  return true;
}

function quantity(q: string | undefined): number {
  if (q === undefined) return NaN;
  const m = /^([\d.]+)(m|Ki|Mi|Gi|Ti|k|M|G)?$/.exec(q);
  if (!m) return NaN;
  const n = Number(m[1]);
  const unit =
    { m: 1e-3, Ki: 2 ** 10, Mi: 2 ** 20, Gi: 2 ** 30, Ti: 2 ** 40, k: 1e3, M: 1e6, G: 1e9 }[m[2] ?? ''] ?? 1;
  return n * unit;
}

const containersOf = (w: Workload): Container[] => [
  ...(w.spec.template.spec.initContainers ?? []),
  ...w.spec.template.spec.containers,
];
const portOf = (c: Container, p: number | string): Port | undefined =>
  c.ports?.find((x) => x.name === p || x.containerPort === p);

function ipv4(ip: string): number {
  return ip.split('.').reduce((acc, o) => acc * 256 + Number(o), 0);
}
/** An address inside a CIDR block (its base + 5). */
function addressIn(cidr: string): string {
  const n = ipv4(cidr.split('/')[0]!) + 5;
  return [24, 16, 8, 0].map((shift) => Math.floor(n / 2 ** shift) % 256).join('.');
}
function inCidr(ip: string, cidr: string): boolean {
  const [base, bits] = cidr.split('/') as [string, string];
  const size = 2 ** (32 - Number(bits));
  return Math.floor(ipv4(ip) / size) === Math.floor(ipv4(base) / size);
}

/** A party in a network flow: a pod (namespace, labels, ports) or an address outside the cluster. */
type Party =
  | { ns: string; nsLabels: Labels; labels: Labels; ports?: Port[]; name: string }
  | { ip: string; name: string };

function peerMatches(peer: NetPolPeer, policyNs: string, other: Party): boolean {
  if (peer.ipBlock)
    return (
      'ip' in other &&
      inCidr(other.ip, peer.ipBlock.cidr) &&
      !(peer.ipBlock.except ?? []).some((c) => inCidr(other.ip, c))
    );
  if ('ip' in other) return false;
  const nsOk = peer.namespaceSelector
    ? selects(peer.namespaceSelector, other.nsLabels)
    : other.ns === policyNs;
  return nsOk && selects(peer.podSelector, other.labels);
}

function portMatches(rule: NetPolRule, port: number, protocol: string, target: Party): boolean {
  if (!rule.ports || rule.ports.length === 0) return true;
  return rule.ports.some((p) => {
    if ((p.protocol ?? 'TCP') !== protocol) return false;
    if (p.port === undefined) return true;
    if (typeof p.port === 'number') return p.port === port;
    return (
      !('ip' in target) && target.ports?.some((x) => x.name === p.port && x.containerPort === port) === true
    );
  });
}

/** Whether NetworkPolicies in `ns` let `from` reach `to` on a port (both directions' policies must allow it). */
function flowAllowed(
  policies: NetPol[],
  ns: string,
  from: Party,
  to: Party,
  port: number,
  protocol = 'TCP',
): boolean {
  const check = (subject: Party, other: Party, dir: 'Ingress' | 'Egress'): boolean => {
    if ('ip' in subject || subject.ns !== ns) return true; // outside the namespace these manifests govern
    const applicable = policies.filter(
      (p) => p.spec.policyTypes.includes(dir) && selects(p.spec.podSelector, subject.labels),
    );
    if (applicable.length === 0) return true;
    const dst = dir === 'Ingress' ? subject : other;
    return applicable.some((p) =>
      ((dir === 'Ingress' ? p.spec.ingress : p.spec.egress) ?? []).some((rule) => {
        const peers = dir === 'Ingress' ? rule.from : rule.to;
        const peerOk = !peers || peers.length === 0 || peers.some((peer) => peerMatches(peer, ns, other));
        return peerOk && portMatches(rule, port, protocol, dst);
      }),
    );
  };
  return check(from, to, 'Egress') && check(to, from, 'Ingress');
}

// ---------------------------------------------------------------------------------------------------------------

const inputs = readInputs();
const rendered = renderAll(Object.values(OVERLAYS), inputs);
const read = hookgateVariables();
const commands = hookgateCommands();
const ids = scannerIds();
const tmp = mkdtempSync(join(tmpdir(), 'hookgate-k8s-'));
afterAll(() => rmSync(tmp, { recursive: true, force: true }));

function loadObjects(overlay: string): K8sObject[] {
  const dir = repoPath(renderedDir(overlay));
  if (!existsSync(dir)) return []; // not rendered yet: the drift test says so
  const files = readdirSync(dir).filter((f) => f.endsWith('.yaml') && f !== 'kustomization.yaml');
  return files.flatMap((f) =>
    parseAllDocuments(readFileSync(join(dir, f), 'utf8')).map((d) => {
      if (d.errors.length) throw new Error(`${f}: ${d.errors[0]!.message}`);
      return d.toJS() as K8sObject;
    }),
  );
}

describe.each(Object.values(OVERLAYS).map((o) => [o.name, o] as const))('overlay %s', (name, o: Overlay) => {
  const files = rendered.get(name)!;

  it('is committed as rendered (CI fails on drift; re-render with `node deploy/k8s/render.ts` or -u)', async () => {
    for (const [file, text] of files)
      await expect(text).toMatchFileSnapshot(repoPath(`${renderedDir(name)}/${file}`));
    const onDisk = (
      existsSync(repoPath(renderedDir(name))) ? readdirSync(repoPath(renderedDir(name))) : []
    ).filter((f) => f.endsWith('.yaml'));
    expect(onDisk.sort(), 'files no generator renders any more').toEqual([...files.keys()].sort());
    const kustomization = parseAllDocuments(files.get('kustomization.yaml')!)[0]!.toJS() as {
      resources: string[];
    };
    expect(kustomization.resources.sort()).toEqual(
      [...files.keys()].filter((f) => f !== 'kustomization.yaml').sort(),
    );
  });

  it('reads the same under YAML 1.1 and 1.2 (kubectl parses 1.1: an unquoted `yes` would become a boolean)', () => {
    for (const [file, text] of files) {
      const as = (version: '1.1' | '1.2') =>
        parseAllDocuments(text, { version }).map((d) => d.toJS() as unknown);
      expect(as('1.1'), file).toEqual(as('1.2'));
    }
  });

  const objects = loadObjects(name);
  const byKind = <T extends K8sObject = K8sObject>(kind: string) =>
    objects.filter((x) => x.kind === kind) as T[];
  const workloads = [...byKind<Workload>('Deployment'), ...byKind<Workload>('StatefulSet')];
  const deployments = byKind<Workload>('Deployment');
  const hookgatePods = deployments.filter(
    (d) => d.spec.template.metadata.labels['app.kubernetes.io/name'] === 'hookgate',
  );
  const role = (w: Workload) => w.spec.template.metadata.labels['app.kubernetes.io/component'];
  const deployment = (n: string) => deployments.find((d) => d.metadata.name === n);
  const secrets = new Map<string, Set<string>>([
    ...byKind('Secret').map(
      (s) => [s.metadata.name, new Set(Object.keys({ ...s.data, ...s.stringData }))] as const,
    ),
    ...Object.entries(externalSecretKeys(o)).map(([n, keys]) => [n, new Set(keys)] as const),
  ]);
  const configMaps = new Map(byKind('ConfigMap').map((c) => [c.metadata.name, c.data ?? {}]));

  it('validates every object against the Kubernetes and KEDA schemas', () => {
    expect(objects.length).toBeGreaterThan(20);
    for (const obj of objects) {
      const Model = MODELS[`${obj.apiVersion}/${obj.kind}`];
      expect(Model, `${obj.apiVersion} ${obj.kind} has no model here`).toBeDefined();
      expect(() => new Model!(obj as never).validate(), `${obj.kind}/${obj.metadata.name}`).not.toThrow();
    }
    // The in-memory objects too (they are what the files are written from).
    for (const f of buildManifests(o, inputs))
      for (const obj of f.objects)
        expect(() => (obj as unknown as { validate(): void }).validate()).not.toThrow();
  });

  it('names every object once, in the overlay namespace, which enforces the restricted Pod Security Standard', () => {
    const keys = objects.map((x) => `${x.kind}/${x.metadata.namespace ?? ''}/${x.metadata.name}`);
    expect(new Set(keys).size).toBe(keys.length);
    for (const x of objects.filter((x) => x.kind !== 'Namespace'))
      expect(x.metadata.namespace, `${x.kind}/${x.metadata.name}`).toBe(o.namespace);
    const ns = byKind('Namespace');
    expect(ns.map((n) => n.metadata.name)).toEqual([o.namespace]);
    expect(ns[0]!.metadata.labels?.['pod-security.kubernetes.io/enforce']).toBe('restricted');
  });

  it('runs one Deployment per role: ingress, milter, and a worker pool per scanner with real commands and ids', () => {
    expect(hookgatePods.map(role).sort()).toEqual(
      ['ingress', 'milter', ...WORKER_POOLS.map((p) => `worker-${p}`)].sort(),
    );
    for (const d of hookgatePods) {
      const [cmd, ...rest] = d.spec.template.spec.containers[0]!.args ?? [];
      expect(commandVerdict(cmd!, commands), `${d.metadata.name}: ${cmd}`).toBe('read');
      if (cmd === 'worker') {
        expect(rest[0]).toBe('--scanners');
        for (const id of rest[1]!.split(',')) expect(ids).toContain(id);
        expect(role(d)).toBe(`worker-${rest[1]}`);
      } else expect(role(d)).toBe(cmd);
    }
  });

  it('selects pods with every Service and PDB, and routes Services to ports the containers have', () => {
    for (const svc of byKind('Service')) {
      const spec = svc.spec as { selector: Labels; ports: { port: number; targetPort?: number | string }[] };
      const targets = workloads.filter((w) =>
        selects({ matchLabels: spec.selector }, w.spec.template.metadata.labels),
      );
      expect(targets.length, `Service ${svc.metadata.name} selects no pods`).toBeGreaterThan(0);
      for (const p of spec.ports)
        for (const w of targets)
          expect(
            w.spec.template.spec.containers.some((c) => portOf(c, p.targetPort ?? p.port)),
            `${svc.metadata.name}:${p.port}`,
          ).toBe(true);
    }
    for (const w of workloads)
      expect(
        selects(w.spec.selector, w.spec.template.metadata.labels),
        `${w.metadata.name}: selector vs template`,
      ).toBe(true);
    for (const pdb of byKind('PodDisruptionBudget')) {
      const sel = (pdb.spec as { selector: Selector }).selector;
      expect(
        workloads.filter((w) => selects(sel, w.spec.template.metadata.labels)).length,
        `PDB ${pdb.metadata.name}`,
      ).toBe(1);
    }
    for (const r of ['ingress', 'milter'])
      expect(byKind('Service').some((s) => s.metadata.name === `hookgate-${r}`)).toBe(true);
    for (const d of [...hookgatePods, deployment('clamd')!])
      expect(
        byKind('PodDisruptionBudget').some((p) => p.metadata.name === d.metadata.name),
        `PDB for ${d.metadata.name}`,
      ).toBe(true);
  });

  it('probes ports the containers have: /readyz for readiness and /healthz for liveness on hookgate pods', () => {
    for (const w of workloads) {
      for (const c of containersOf(w)) {
        for (const kind of ['readinessProbe', 'livenessProbe', 'startupProbe'] as const) {
          const p = c[kind];
          if (!p) continue;
          const port = p.httpGet?.port ?? p.tcpSocket?.port;
          if (port !== undefined)
            expect(portOf(c, port), `${w.metadata.name}/${c.name} ${kind} port ${port}`).toBeDefined();
        }
        expect(c.readinessProbe, `${w.metadata.name}/${c.name}: readiness`).toBeDefined();
        expect(c.livenessProbe, `${w.metadata.name}/${c.name}: liveness`).toBeDefined();
      }
    }
    for (const d of hookgatePods) {
      const c = d.spec.template.spec.containers[0]!;
      expect(c.readinessProbe?.httpGet?.path).toBe('/readyz');
      expect(c.livenessProbe?.httpGet?.path).toBe('/healthz');
      const expected = role(d) === 'ingress' ? 'http' : 'metrics';
      expect(c.readinessProbe?.httpGet?.port).toBe(expected);
    }
  });

  it('scales the ingress, the milter and clamd on CPU (autoscaling/v2), each target existing and scaled once', () => {
    const hpas = byKind('HorizontalPodAutoscaler');
    const scaled = byKind('ScaledObject');
    const targets = [
      ...hpas.map((h) => (h.spec as { scaleTargetRef: { kind: string; name: string } }).scaleTargetRef),
      ...scaled.map((s) => ({
        kind: 'Deployment',
        ...(s.spec as { scaleTargetRef: { name: string; kind?: string } }).scaleTargetRef,
      })),
    ];
    for (const t of targets)
      expect(deployment(t.name), `autoscaler target ${t.kind}/${t.name}`).toBeDefined();
    expect(new Set(targets.map((t) => t.name)).size, 'a Deployment with two autoscalers').toBe(
      targets.length,
    );
    for (const r of ['hookgate-ingress', 'hookgate-milter']) {
      const h = hpas.find((x) => x.metadata.name === r);
      const spec = h?.spec as {
        metrics: { type: string; resource?: { name: string; target: { type: string } } }[];
        minReplicas: number;
        maxReplicas: number;
      };
      expect(h?.apiVersion).toBe('autoscaling/v2');
      expect(spec.metrics).toEqual([
        expect.objectContaining({
          type: 'Resource',
          resource: expect.objectContaining({
            name: 'cpu',
            target: expect.objectContaining({ type: 'Utilization' }),
          }),
        }),
      ]);
      expect(spec.minReplicas).toBeLessThanOrEqual(spec.maxReplicas);
    }
    // An autoscaled Deployment leaves `replicas` to its autoscaler (re-applying must not reset it).
    for (const t of targets) expect(deployment(t.name)!.spec.replicas, t.name).toBeUndefined();
  });

  it('scales each worker pool with KEDA on its own BullMQ queue: waiting and active jobs', () => {
    const facts = configFacts(inputs.configYaml);
    const auths = new Set(byKind('TriggerAuthentication').map((t) => t.metadata.name));
    for (const pool of WORKER_POOLS) {
      const so = byKind('ScaledObject').find((s) => s.metadata.name === `hookgate-worker-${pool}`);
      expect(so, pool).toBeDefined();
      const spec = so!.spec as {
        scaleTargetRef: { name: string; envSourceContainerName?: string };
        minReplicaCount: number;
        maxReplicaCount: number;
        triggers: {
          type: string;
          name: string;
          metadata: Record<string, string>;
          authenticationRef?: { name: string };
        }[];
      };
      const target = deployment(spec.scaleTargetRef.name)!;
      expect(target.spec.template.spec.containers[0]!.args).toEqual(['worker', '--scanners', pool]);
      expect(spec.minReplicaCount, 'never scale a deadline-bound pool to zero').toBeGreaterThanOrEqual(1);
      // The keys BullMQ really uses: the prefix plus the hash-tagged queue name of libs/queue.
      const lists = spec.triggers.map((t) => t.metadata.listName);
      expect(lists.sort()).toEqual([
        `${facts.prefix}:${bullQueueName(pool)}:active`,
        `${facts.prefix}:${bullQueueName(pool)}:wait`,
      ]);
      expect(queueListKeys(facts.prefix, pool, 'wait')).toEqual([
        `${facts.prefix}:${bullQueueName(pool)}:wait`,
      ]);
      expect(facts.queueShards[pool]).toBe(1);
      const container = target.spec.template.spec.containers.find(
        (c) =>
          c.name ===
          (spec.scaleTargetRef.envSourceContainerName ?? target.spec.template.spec.containers[0]!.name),
      )!;
      for (const t of spec.triggers) {
        expect(['redis', 'redis-cluster']).toContain(t.type);
        expect(Number(t.metadata.listLength)).toBeGreaterThan(0);
        const envName = t.metadata.addressFromEnv ?? t.metadata.addressesFromEnv;
        expect(
          container.env?.some((e) => e.name === envName),
          `${pool}: ${envName} in the worker's env`,
        ).toBe(true);
        expect(auths.has(t.authenticationRef?.name ?? ''), `${pool}: TriggerAuthentication`).toBe(true);
      }
      const inFlight = Number(
        spec.triggers.find((t) => t.metadata.listName?.endsWith(':active'))!.metadata.listLength,
      );
      expect(inFlight).toBeLessThanOrEqual(facts.concurrency[pool]);
    }
    for (const ta of byKind('TriggerAuthentication')) {
      for (const ref of (ta.spec as { secretTargetRef: { name: string; key: string }[] }).secretTargetRef)
        expect(secrets.get(ref.name)?.has(ref.key), `${ref.name}/${ref.key}`).toBe(true);
    }
  });

  it('gives every hookgate pod the container config, which hookgate’s loader accepts with the pod’s environment', () => {
    const facts = configFacts(inputs.configYaml);
    for (const d of hookgatePods) {
      const spec = d.spec.template.spec;
      const c = spec.containers[0]!;
      const env: Record<string, string> = {};
      for (const e of c.env ?? []) {
        if (e.value !== undefined) env[e.name] = e.value;
        else if (e.valueFrom?.secretKeyRef)
          env[e.name] =
            e.valueFrom.secretKeyRef.key === 'url' ? 'redis://redis:6379' : 'redis-0:6379,redis-1:6379';
      }
      // Files come from volumes: map each path to a file written here with what the volume would hold.
      for (const [k, v] of Object.entries(env)) {
        if (k !== 'HOOKGATE_CONFIG' && !k.endsWith('_FILE')) continue;
        const mount = c.volumeMounts?.find((m) => v.startsWith(`${m.mountPath}/`));
        expect(mount, `${d.metadata.name}: ${k}=${v} is on a mounted volume`).toBeDefined();
        const vol = spec.volumes!.find((x) => x.name === mount!.name)!;
        const rel = v.slice(mount!.mountPath.length + 1);
        const local = join(tmp, `${d.metadata.name}-${k}`);
        if (vol.configMap) {
          const data = configMaps.get(vol.configMap.name);
          expect(data?.[rel], `${vol.configMap.name} has ${rel}`).toBeDefined();
          writeFileSync(local, data![rel]!);
        } else {
          const item = vol.projected?.sources
            .flatMap((s) => (s.secret?.items ?? []).map((i) => ({ ...i, secret: s.secret!.name })))
            .find((i) => i.path === rel);
          expect(item, `${d.metadata.name}: ${v} is projected from a Secret`).toBeDefined();
          expect(secrets.get(item!.secret)?.has(item!.key), `${item!.secret}/${item!.key}`).toBe(true);
          writeFileSync(
            local,
            k === 'HOOKGATE_AUTH_TOKENS_FILE' ? 'mta=0123456789abcdef0123' : 'sample-password',
          );
        }
        env[k] = local;
      }
      const config: HookgateConfig = loadConfig(env);
      const [cmd, , scanners] = c.args!;
      if (cmd === 'worker') {
        for (const id of scanners!.split(',')) {
          const entry = scannerRegistry(config).find((e) => e.id === id);
          expect(entry?.active, `${id}: ${entry?.why}`).toBe(true);
          expect(entry?.placement).toBe('queue');
        }
        expect(portOf(c, splitListen(config.metrics.listen!).port)?.name).toBe('metrics');
      }
      if (cmd === 'ingress') {
        expect(checkExposure(config)).toBeUndefined();
        expect(portOf(c, splitListen(config.listen).port)?.name).toBe('http');
      }
      // Only the milter (no authentication in its protocol) may run without credentials.
      if (cmd !== 'milter') expect(config.auth.allowUnauthenticated, d.metadata.name).toBe(false);
      if (cmd === 'milter') {
        expect(checkMilterExposure(config)).toBeUndefined();
        expect(portOf(c, splitListen(config.milter.listen).port)?.name).toBe('milter');
        expect(portOf(c, splitListen(config.metrics.listen!).port)?.name).toBe('metrics');
      }
      // What the generator read from the config equals what hookgate makes of it.
      expect(facts.prefix).toBe(config.redis.prefix);
      expect(facts.longestDeadlineMs).toBe(Math.max(...Object.values(config.stages.deadlineMs).map(Number)));
      for (const pool of WORKER_POOLS)
        expect(facts.concurrency[pool], pool).toBe(config.scanners[pool].concurrency);
      for (const pool of WORKER_POOLS)
        expect(facts.queueShards[pool], pool).toBe(config.scanners[pool].queueShards);
      expect(facts.clamdStreamMaxBytes).toBe(config.scanners.clamav.maxStreamBytes);
      expect(d.spec.template.metadata.annotations?.['hookgate.io/config-hash']).toBe(facts.configHash);
    }
  });

  it('sets only variables the code reads, defines every $(VAR) it uses first, and references existing Secrets and ConfigMaps', () => {
    for (const w of workloads) {
      for (const c of containersOf(w)) {
        const seen = new Set<string>();
        for (const e of c.env ?? []) {
          if (w.spec.template.metadata.labels['app.kubernetes.io/name'] === 'hookgate')
            expect(judgeVariable(e.name, read), `${w.metadata.name}: ${e.name}`).toBe('read');
          for (const m of (e.value ?? '').matchAll(/\$\(([A-Z0-9_]+)\)/g))
            expect(seen.has(m[1]!), `${w.metadata.name}: ${e.name} uses $(${m[1]}) before it is set`).toBe(
              true,
            );
          const s = e.valueFrom?.secretKeyRef;
          if (s)
            expect(
              secrets.get(s.name)?.has(s.key),
              `${w.metadata.name}: ${e.name} ← ${s.name}/${s.key}`,
            ).toBe(true);
          seen.add(e.name);
        }
        for (const a of [...(c.args ?? []), ...(c.command ?? [])])
          for (const m of a.matchAll(/\$\(([A-Z0-9_]+)\)/g))
            expect(seen.has(m[1]!), `${w.metadata.name}: $(${m[1]}) in args`).toBe(true);
      }
      for (const v of w.spec.template.spec.volumes ?? []) {
        if (v.configMap) expect(configMaps.has(v.configMap.name), v.configMap.name).toBe(true);
        for (const s of v.projected?.sources ?? [])
          for (const i of s.secret?.items ?? [])
            expect(secrets.get(s.secret!.name)?.has(i.key), `${s.secret!.name}/${i.key}`).toBe(true);
      }
    }
  });

  it('gives hookgate pods a grace period beyond preStop + the longest stage deadline + the drain', () => {
    const facts = configFacts(inputs.configYaml);
    for (const d of hookgatePods) {
      const spec = d.spec.template.spec;
      const preStop = spec.containers[0]!.lifecycle?.preStop?.sleep?.seconds ?? 0;
      if (['ingress', 'milter'].includes(role(d)!))
        expect(preStop, `${d.metadata.name}: preStop`).toBe(PRESTOP_SECONDS);
      expect(spec.terminationGracePeriodSeconds!, d.metadata.name).toBeGreaterThan(
        preStop + facts.longestDeadlineMs / 1000 + DRAIN_SECONDS,
      );
    }
    for (const w of workloads) {
      const preStop = Math.max(
        0,
        ...w.spec.template.spec.containers.map((c) => c.lifecycle?.preStop?.sleep?.seconds ?? 0),
      );
      expect(w.spec.template.spec.terminationGracePeriodSeconds ?? 30, w.metadata.name).toBeGreaterThan(
        preStop,
      );
    }
  });

  it('pins every image: hookgate’s at the package version, engines as in docker-compose.yml', () => {
    for (const w of workloads) {
      for (const c of containersOf(w)) {
        expect(unpinned(c.image), `${w.metadata.name}/${c.name}`).toBeUndefined();
        const ref = parseImage(c.image);
        if (ref.repository.endsWith('/hookgate') || ref.repository.endsWith('/spamd'))
          expect(ref.tag).toBe(inputs.version);
      }
    }
    expect(deployment('clamd')!.spec.template.spec.containers[0]!.image).toBe(ENGINE_IMAGES.clamd);
    expect(deployment('rspamd')!.spec.template.spec.containers[0]!.image).toBe(ENGINE_IMAGES.rspamd);
  });

  it('runs every container non-root, read-only, without capabilities or privilege escalation, with seccomp', () => {
    const SAFE_SYSCTLS = [
      'net.ipv4.ip_unprivileged_port_start',
      'net.ipv4.ip_local_port_range',
      'net.ipv4.tcp_syncookies',
      'net.ipv4.ping_group_range',
    ];
    for (const w of workloads) {
      const spec = w.spec.template.spec;
      expect(spec.automountServiceAccountToken, w.metadata.name).toBe(false);
      expect(spec.hostNetwork || spec.hostPID || spec.hostIPC || false).toBe(false);
      expect(spec.securityContext?.seccompProfile?.type).toBe('RuntimeDefault');
      for (const s of spec.securityContext?.sysctls ?? []) expect(SAFE_SYSCTLS).toContain(s.name);
      for (const v of spec.volumes ?? []) expect(v.hostPath, `${w.metadata.name}: hostPath`).toBeUndefined();
      for (const c of containersOf(w)) {
        const sc = c.securityContext ?? {};
        const at = `${w.metadata.name}/${c.name}`;
        expect(sc.runAsNonRoot ?? spec.securityContext?.runAsNonRoot, at).toBe(true);
        expect(sc.runAsUser ?? spec.securityContext?.runAsUser, at).toBeGreaterThan(0);
        expect(sc.allowPrivilegeEscalation, at).toBe(false);
        expect(sc.privileged ?? false, at).toBe(false);
        expect(sc.readOnlyRootFilesystem, at).toBe(true);
        expect(sc.capabilities?.drop, at).toEqual(['ALL']);
        expect(sc.capabilities?.add ?? [], at).toEqual([]);
      }
    }
    for (const d of hookgatePods) expect(d.spec.template.spec.serviceAccountName).toBe('hookgate');
    expect(
      byKind('ServiceAccount').every(
        (s) =>
          (s as unknown as { automountServiceAccountToken?: boolean }).automountServiceAccountToken === false,
      ),
    ).toBe(true);
  });

  it('sets resources on every container; clamd is sized for a signature reload (two copies of ~1 GiB)', () => {
    for (const w of workloads) {
      for (const c of containersOf(w)) {
        const at = `${w.metadata.name}/${c.name}`;
        const r = c.resources ?? {};
        expect(quantity(r.requests?.cpu), `${at}: cpu request`).toBeGreaterThan(0);
        expect(quantity(r.requests?.memory), `${at}: memory request`).toBeGreaterThan(0);
        expect(quantity(r.limits?.memory), `${at}: memory limit`).toBeGreaterThanOrEqual(
          quantity(r.requests?.memory),
        );
      }
    }
    const clamd = deployment('clamd')!.spec.template.spec.containers[0]!;
    const GiB = 2 ** 30;
    expect(quantity(clamd.resources?.limits?.memory)).toBeGreaterThanOrEqual(2.5 * GiB);
    expect(
      quantity(clamd.resources?.requests?.memory),
      'request the peak: a reload must not find the node short',
    ).toBe(quantity(clamd.resources?.limits?.memory));
    expect(clamd.startupProbe, 'the first signature download takes minutes').toBeDefined();
    const facts = configFacts(inputs.configYaml);
    const stream = clamd.env?.find((e) => e.name === 'CLAMD_CONF_StreamMaxLength')?.value;
    expect(Number(/^(\d+)M$/.exec(stream ?? '')?.[1]) * 2 ** 20).toBeGreaterThanOrEqual(
      facts.clamdStreamMaxBytes,
    );
  });

  it('runs Redis in the namespace only for development (noeviction, AOF), and otherwise uses the external Secret', () => {
    const redis = byKind<Workload>('StatefulSet').find((s) => s.metadata.name === 'redis');
    if (o.redis.kind === 'in-cluster') {
      const args = redis!.spec.template.spec.containers[0]!.args!;
      expect(args[args.indexOf('--maxmemory-policy') + 1]).toBe('noeviction');
      expect(args[args.indexOf('--appendonly') + 1]).toBe('yes');
      expect(
        (redis!.spec as unknown as { volumeClaimTemplates: unknown[] }).volumeClaimTemplates.length,
      ).toBe(1);
      const secret = byKind('Secret').find((s) => s.metadata.name === 'hookgate-redis')!;
      expect(hostPortOf(secret.stringData!.address!).host).toBe(`redis.${o.namespace}.svc`);
    } else {
      expect(redis).toBeUndefined();
      expect(byKind('Secret'), 'production credentials are never committed').toEqual([]);
    }
  });

  describe('network policies', () => {
    const policies = byKind<NetPol>('NetworkPolicy');
    const nsLabels = {
      'kubernetes.io/metadata.name': o.namespace,
      ...byKind('Namespace')[0]?.metadata.labels,
    };
    const pod = (w: Workload): Party => ({
      name: w.metadata.name,
      ns: o.namespace,
      nsLabels,
      labels: w.spec.template.metadata.labels,
      ports: w.spec.template.spec.containers.flatMap((c) => c.ports ?? []),
    });
    const w = (n: string): Party => {
      const found = workloads.find((x) => x.metadata.name === n);
      return found ? pod(found) : { name: `missing ${n}`, ns: o.namespace, nsLabels, labels: { missing: n } };
    };
    const outside = (name: string, ns: string, nsExtra: Labels, labels: Labels): Party => ({
      name,
      ns,
      nsLabels: { 'kubernetes.io/metadata.name': ns, ...nsExtra },
      labels,
    });
    const mta = outside('mta', 'mail', { [MTA_LABEL]: 'true' }, { [MTA_LABEL]: 'true', app: 'postfix' });
    const mtaUnlabelledPod = outside(
      'unlabelled pod in an MTA namespace',
      'mail',
      { [MTA_LABEL]: 'true' },
      { app: 'webmail' },
    );
    const mtaUnlabelledNs = outside('MTA-labelled pod elsewhere', 'default', {}, { [MTA_LABEL]: 'true' });
    const prometheus = outside('prometheus', o.monitoring.namespace, {}, o.monitoring.podLabels);
    const keda = outside('keda', o.kedaNamespace, {}, { app: 'keda-operator' });
    const otel = outside('otel collector', o.otel.namespace, {}, { app: 'otel-collector' });
    const dns = outside('dns', 'kube-system', {}, { 'k8s-app': 'kube-dns' });
    const stranger = outside('stranger', 'default', {}, { app: 'something' });
    const internet: Party = { name: 'internet', ip: '203.0.113.10' };
    const redis: Party =
      o.redis.kind === 'in-cluster'
        ? w('redis')
        : { name: 'managed redis', ip: addressIn(o.redis.egressCidrs[0]!) };
    const redisPort = o.redis.kind === 'in-cluster' ? 6379 : o.redis.ports[0]!;
    const hookgate = hookgatePods.map(pod);
    const workers = Object.fromEntries(WORKER_POOLS.map((p) => [p, w(`hookgate-worker-${p}`)])) as Record<
      (typeof WORKER_POOLS)[number],
      Party
    >;

    it('select pods that exist', () => {
      for (const p of policies) {
        const sel = p.spec.podSelector;
        if (Object.keys(sel.matchLabels ?? {}).length === 0 && !sel.matchExpressions) continue; // the whole namespace
        expect(
          workloads.some((x) => selects(sel, x.spec.template.metadata.labels)),
          `${p.metadata.name}: spec.podSelector`,
        ).toBe(true);
        for (const rule of [...(p.spec.ingress ?? []), ...(p.spec.egress ?? [])]) {
          for (const peer of [...(rule.from ?? []), ...(rule.to ?? [])]) {
            if (peer.podSelector && !peer.namespaceSelector)
              expect(
                workloads.some((x) => selects(peer.podSelector, x.spec.template.metadata.labels)),
                `${p.metadata.name}: peer ${JSON.stringify(peer.podSelector)}`,
              ).toBe(true);
          }
        }
      }
      expect(policies.find((p) => p.metadata.name === 'default-deny')?.spec.policyTypes.sort()).toEqual([
        'Egress',
        'Ingress',
      ]);
    });

    const allowed: [string, Party, Party, number, string?][] = [
      ['the MTA → ingress', mta, w('hookgate-ingress'), 8080],
      ['the MTA → milter', mta, w('hookgate-milter'), 11332],
      ['Prometheus → ingress /metrics', prometheus, w('hookgate-ingress'), 8080],
      ['Prometheus → milter /metrics', prometheus, w('hookgate-milter'), 9464],
      ...WORKER_POOLS.map(
        (p) =>
          [`Prometheus → worker-${p} /metrics`, prometheus, workers[p], 9464] as [
            string,
            Party,
            Party,
            number,
          ],
      ),
      ...hookgate.map((h) => [`${h.name} → Redis`, h, redis, redisPort] as [string, Party, Party, number]),
      ...hookgate.map(
        (h) => [`${h.name} → OTel collector`, h, otel, o.otel.port] as [string, Party, Party, number],
      ),
      ...hookgate.map(
        (h) => [`${h.name} → DNS`, h, dns, 53, 'UDP'] as [string, Party, Party, number, string],
      ),
      ['worker-clamav → clamd', workers.clamav, w('clamd'), 3310],
      ['worker-rspamd → rspamd', workers.rspamd, w('rspamd'), 11333],
      ['worker-spamd → spamd', workers.spamd, w('spamd'), 783],
      ['clamd → signature mirrors', w('clamd'), internet, 443],
      ...(o.redis.kind === 'in-cluster'
        ? [['KEDA → Redis', keda, redis, 6379] as [string, Party, Party, number]]
        : []),
    ];
    it.each(allowed)('allow: %s', (_, from, to, port, protocol) => {
      expect(flowAllowed(policies, o.namespace, from, to, port, protocol)).toBe(true);
    });

    const denied: [string, Party, Party, number][] = [
      ['an unlabelled pod in an MTA namespace → ingress', mtaUnlabelledPod, w('hookgate-ingress'), 8080],
      [
        'an MTA-labelled pod in an unlabelled namespace → ingress',
        mtaUnlabelledNs,
        w('hookgate-ingress'),
        8080,
      ],
      ['any other pod → ingress', stranger, w('hookgate-ingress'), 8080],
      ['any other pod → milter', stranger, w('hookgate-milter'), 11332],
      ['the MTA → ingress on another port', mta, w('hookgate-ingress'), 9464],
      ['the MTA → clamd', mta, w('clamd'), 3310],
      ['the MTA → a worker', mta, workers.clamav, 9464],
      ['ingress → clamd', w('hookgate-ingress'), w('clamd'), 3310],
      ['ingress → the internet', w('hookgate-ingress'), internet, 443],
      ['worker-clamav → rspamd', workers.clamav, w('rspamd'), 11333],
      ['worker-dlp → clamd', workers.dlp, w('clamd'), 3310],
      ['worker-dlp → spamd', workers.dlp, w('spamd'), 783],
      ['worker-spamd → clamd', workers.spamd, w('clamd'), 3310],
      ['worker-rspamd → the internet', workers.rspamd, internet, 443],
      ['spamd → the internet', w('spamd'), internet, 443],
      ['clamd → Redis', w('clamd'), redis, redisPort],
      ['Prometheus → clamd', prometheus, w('clamd'), 3310],
      ...(o.redis.kind === 'in-cluster'
        ? [
            ['any other pod → Redis', stranger, redis, 6379] as [string, Party, Party, number],
            ['the MTA → Redis', mta, redis, 6379] as [string, Party, Party, number],
          ]
        : []),
    ];
    it.each(denied)('deny: %s', (_, from, to, port) => {
      expect(flowAllowed(policies, o.namespace, from, to, port)).toBe(false);
    });
  });
});

function hostPortOf(v: string): { host: string; port: number } {
  const i = v.lastIndexOf(':');
  return { host: v.slice(0, i), port: Number(v.slice(i + 1)) };
}

describe('generator variants', () => {
  it('renders Redis Cluster for production as valid objects, with redis-cluster triggers and seed nodes from the Secret', () => {
    const cluster: Overlay = {
      ...prod,
      name: 'prod-cluster',
      redis: { kind: 'external', topology: 'cluster', tls: true, egressCidrs: ['10.0.0.0/8'], ports: [6379] },
    };
    const objects = buildManifests(cluster, inputs).flatMap((f) => f.objects);
    for (const obj of objects)
      expect(() => (obj as unknown as { validate(): void }).validate()).not.toThrow();
    const json = objects.map((x) => x.toJSON() as K8sObject);
    const triggers = json
      .filter((x) => x.kind === 'ScaledObject')
      .flatMap(
        (x) => (x.spec as { triggers: { type: string; metadata: Record<string, string> }[] }).triggers,
      );
    expect(new Set(triggers.map((t) => t.type))).toEqual(new Set(['redis-cluster']));
    expect(
      triggers.every(
        (t) => t.metadata.addressesFromEnv === 'KEDA_REDIS_ADDRESSES' && t.metadata.enableTLS === 'true',
      ),
    ).toBe(true);
    const env = (json.filter((x) => x.kind === 'Deployment') as Workload[])
      .filter((d) => d.metadata.name.startsWith('hookgate-'))
      .flatMap((d) => d.spec.template.spec.containers[0]!.env ?? []);
    expect(
      env.some(
        (e) => e.name === 'HOOKGATE_REDIS_CLUSTER' && e.valueFrom?.secretKeyRef?.key === 'cluster-nodes',
      ),
    ).toBe(true);
    expect(env.some((e) => e.name === 'HOOKGATE_REDIS_URL')).toBe(false);
    expect(judgeVariable('HOOKGATE_REDIS_CLUSTER', read)).toBe('read');
    expect(externalSecretKeys(cluster)['hookgate-redis']).toContain('cluster-nodes');
  });

  it('a pool whose queue has 3 shards scales on the sum over the shards: one trigger per list, one KEDA formula', () => {
    const cluster: Overlay = {
      ...prod,
      name: 'prod-cluster',
      redis: { kind: 'external', topology: 'cluster', tls: true, egressCidrs: ['10.0.0.0/8'], ports: [6379] },
    };
    const sharded = {
      ...inputs,
      configYaml: inputs.configYaml.replace(/^  clamav:\n/m, '  clamav:\n    queueShards: 3\n'),
    };
    const facts = configFacts(sharded.configYaml);
    expect(facts.queueShards.clamav).toBe(3);
    const objects = buildManifests(cluster, sharded).flatMap((f) => f.objects);
    for (const obj of objects)
      expect(() => (obj as unknown as { validate(): void }).validate()).not.toThrow();
    const so = objects
      .map((x) => x.toJSON() as K8sObject)
      .find((x) => x.kind === 'ScaledObject' && x.metadata.name === 'hookgate-worker-clamav')!;
    const spec = so.spec as {
      triggers: { name: string; metadata: Record<string, string> }[];
      advanced: { scalingModifiers: { formula: string; target: string; metricType: string } };
    };
    const names = bullQueueNames('clamav', 3);
    // Every shard's wait and active lists, the names the workers use.
    expect(spec.triggers.map((t) => t.metadata.listName).sort()).toEqual(
      names.flatMap((n) => [`${facts.prefix}:${n}:wait`, `${facts.prefix}:${n}:active`]).sort(),
    );
    const backlog = Number(spec.triggers.find((t) => t.name === 'backlog_0')!.metadata.listLength);
    const inFlight = Number(spec.triggers.find((t) => t.name === 'in_flight_0')!.metadata.listLength);
    const { formula, target, metricType } = spec.advanced.scalingModifiers;
    expect(formula).toBe(
      `max(backlog_0 + backlog_1 + backlog_2, (in_flight_0 + in_flight_1 + in_flight_2) * ${backlog} / ${inFlight})`,
    );
    expect([target, metricType]).toEqual([String(backlog), 'AverageValue']);
    // The formula is the sum: evaluated on lengths, it asks for as many replicas as the summed lists need.
    const evaluate = (len: Record<string, number>) => {
      const expr = formula
        .replace(/\b(backlog|in_flight)_\d\b/g, (v) => String(len[v] ?? 0))
        .replace(/^max/, 'Math.max');
      // eslint-disable-next-line @typescript-eslint/no-implied-eval -- the generator's own arithmetic, evaluated as KEDA would
      return Function(`return ${expr}`)() as number;
    };
    expect(evaluate({ backlog_0: 10, backlog_1: 20, backlog_2: 30 })).toBe(60);
    expect(evaluate({ in_flight_0: inFlight, in_flight_1: inFlight, in_flight_2: inFlight })).toBe(
      3 * backlog,
    );
    // Other pools keep their single queue and plain triggers.
    const dlp = objects
      .map((x) => x.toJSON() as K8sObject)
      .find((x) => x.kind === 'ScaledObject' && x.metadata.name === 'hookgate-worker-dlp')!;
    expect((dlp.spec as { triggers: { name: string }[] }).triggers.map((t) => t.name)).toEqual([
      'backlog',
      'in-flight',
    ]);
  });
});
