/**
 * hookgate's Kubernetes manifests as typed kubernetes-models objects, built from one overlay (overlays.ts) and the
 * container config (deploy/config/hookgate.container.yaml), and rendered to YAML under
 * deploy/k8s/rendered/<overlay>/ (by deploy/k8s/render.ts). test/deploy/k8s.test.ts validates every object against
 * the Kubernetes and KEDA schemas and checks how they fit together. Why it is built this way:
 * docs/adr/0004-kubernetes-manifests.md.
 *
 * No relative imports of values: the tests import this module as `.js` (TypeScript's convention) and Node runs it
 * as `.ts` (type stripping), and only a self-contained module satisfies both. Queue shard names come from
 * `@hookgate/queue/shards` and the worker pools from `@hookgate/hookgate/scanners` (package imports: built first,
 * `npx turbo run build`), so they are the workers' own.
 */
import { createHash } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { parse as parseYaml, stringify } from 'yaml';
import { ConfigMap, Namespace, Secret, Service, ServiceAccount } from 'kubernetes-models/v1';
import type {
  IContainer,
  IContainerPort,
  IEnvVar,
  IPodSecurityContext,
  IPodSpec,
  IProbe,
  IResourceRequirements,
  ISecurityContext,
  ITopologySpreadConstraint,
  IVolume,
  IVolumeMount,
} from 'kubernetes-models/v1';
import { Deployment, StatefulSet } from 'kubernetes-models/apps/v1';
import { PodDisruptionBudget } from 'kubernetes-models/policy/v1';
import { HorizontalPodAutoscaler } from 'kubernetes-models/autoscaling/v2';
import type { IHorizontalPodAutoscalerBehavior } from 'kubernetes-models/autoscaling/v2';
import { NetworkPolicy } from 'kubernetes-models/networking.k8s.io/v1';
import type {
  INetworkPolicyEgressRule,
  INetworkPolicyIngressRule,
  INetworkPolicyPeer,
  INetworkPolicyPort,
} from 'kubernetes-models/networking.k8s.io/v1';
import { ScaledObject, TriggerAuthentication } from '@kubernetes-models/keda/keda.sh/v1alpha1';
import type { IScaleTriggers } from '@kubernetes-models/keda/keda.sh/v1alpha1';
import { shardLayout } from '@hookgate/queue/shards';
import { WORKER_POOLS, type WorkerPool } from '@hookgate/hookgate/scanners';

// ---------------------------------------------------------------------------------------------------------------
// Overlay parameters (the values are in overlays.ts)

/**
 * The scanner worker pools, one Deployment and one KEDA ScaledObject each; ids as in `hookgate worker --scanners`.
 * hookgate's own list of scanners decides them (services/hookgate/src/scanners.ts: every queued scanner but test ones).
 */
export { WORKER_POOLS, type WorkerPool };

export interface Range {
  min: number;
  max: number;
}

/** Requests for CPU and memory, and a memory limit. No CPU limit: throttling a deadline-bound process costs answers. */
export interface Resources {
  cpu: string;
  memory: string;
  memoryLimit: string;
}

export interface PoolSettings {
  replicas: Range;
  resources: Resources;
  /** Waiting jobs per replica KEDA aims for (the `wait` list). */
  backlogPerReplica: number;
}

export type RedisSettings =
  /** A single Redis StatefulSet in the namespace, for development only (no replication, no failover). */
  | { kind: 'in-cluster'; storage: string; maxmemory: string; resources: Resources }
  /**
   * A managed Redis (or Redis Cluster) outside the namespace, reached through the `hookgate-redis` Secret:
   * `url` (standalone) or `cluster-nodes` (cluster), `address` (host:port, for KEDA; standalone) and `password`.
   */
  | {
      kind: 'external';
      topology: 'standalone' | 'cluster';
      tls: boolean;
      egressCidrs: string[];
      ports: number[];
    };

export interface Overlay {
  name: string;
  namespace: string;
  /** Where the images built from deploy/docker are pushed; the tag is the root package.json version. */
  registry: string;
  redis: RedisSettings;
  /**
   * `placeholders`: render Secrets with obviously fake development values. `external`: render none; they are
   * created out of band (docs/deploy.md) with the keys listed in EXTERNAL_SECRET_KEYS.
   */
  secrets: 'placeholders' | 'external';
  ingress: { replicas: Range; resources: Resources; cpuTarget: number };
  milter: { replicas: Range; resources: Resources; cpuTarget: number };
  /** Settings of each worker pool: `default`, unless the pool has its own. */
  workers: { default: PoolSettings } & Partial<Record<WorkerPool, PoolSettings>>;
  /** clamd holds about 1 GiB per loaded signature set and two sets while it reloads (ConcurrentDatabaseReload). */
  clamd: { replicas: Range; resources: Resources; cpuTarget: number };
  rspamd: { replicas: number; resources: Resources };
  spamd: { replicas: number; resources: Resources };
  /** Besides pods labelled hookgate.io/mta in namespaces labelled hookgate.io/mta: MTAs outside the cluster. */
  mtaCidrs: string[];
  /** The Prometheus allowed to scrape /metrics. */
  monitoring: { namespace: string; podLabels: Record<string, string> };
  /** The OpenTelemetry collector traces go to (OTLP/HTTP). */
  otel: { namespace: string; service: string; port: number };
  /** Namespace of the KEDA operator (it reads queue lengths from Redis). */
  kedaNamespace: string;
  /** Spread replicas over nodes and zones. */
  spread: boolean;
}

/** Keys each external Secret must hold, by Secret name (checked against every reference in the manifests). */
export function externalSecretKeys(o: Overlay): Record<string, string[]> {
  if (o.secrets !== 'external') return {};
  const redis =
    o.redis.kind === 'external' && o.redis.topology === 'cluster'
      ? ['cluster-nodes', 'password']
      : ['url', 'address', 'password'];
  return { 'hookgate-redis': redis, 'hookgate-auth': ['tokens'] };
}

// ---------------------------------------------------------------------------------------------------------------

/** Third-party images, pinned; the same tags as docker-compose.yml (checked by the tests). */
export const ENGINE_IMAGES = {
  clamd: 'clamav/clamav:1.4.2',
  rspamd: 'rspamd/rspamd:3.11.1',
  redis: 'redis:7.4.2-bookworm',
} as const;

/** Ports, as hookgate and the engines use them by default. */
export const PORTS = {
  http: 8080,
  metrics: 9464,
  milter: 11332,
  clamd: 3310,
  rspamd: 11333,
  rspamdController: 11334,
  spamd: 783,
  redis: 6379,
} as const;

/** Label an MTA's pod and namespace with this (value "true") to let it reach the ingress and the milter. */
export const MTA_LABEL = 'hookgate.io/mta';
/** Pods allowed to reach the in-cluster Redis. */
export const REDIS_CLIENT_LABEL = 'hookgate.io/redis-client';

/** Seconds a terminating ingress or milter pod keeps serving while endpoints drop it everywhere. */
export const PRESTOP_SECONDS = 10;
/** hookgate's hard shutdown deadline is the longest stage deadline plus this (services/hookgate/src/main.ts). */
export const DRAIN_SECONDS = 15;
const GRACE_MARGIN_SECONDS = 10;
/** Share of a worker's `concurrency` KEDA keeps busy before adding replicas. */
const IN_FLIGHT_UTILISATION = 0.75;

const HOOKGATE_UID = 1000; // the node user of node:24-bookworm-slim (deploy/docker/Dockerfile: USER 1000:1000)
const CLAMAV_UID = 100; // clamav/clamav (Alpine): user clamav 100, group clamav 101
const CLAMAV_GID = 101;
const RSPAMD_UID = 11333; // rspamd/rspamd: USER 11333:11333
const SPAMD_UID = 10783; // deploy/docker/spamd/Dockerfile
const REDIS_UID = 999; // redis:*-bookworm: user redis

const CONFIG_DIR = '/etc/hookgate';
const SECRETS_DIR = '/var/run/secrets/hookgate';

export interface RenderInputs {
  /** deploy/config/hookgate.container.yaml, verbatim: the ConfigMap's hookgate.yaml. */
  configYaml: string;
  /** The root package.json version: the tag of the images built from deploy/docker. */
  version: string;
}

/** One rendered file: its name under rendered/<overlay>/ and its objects, in order. */
export interface ManifestFile {
  file: string;
  objects: { toJSON(): unknown }[];
}

/** What the manifests take from the container config; the tests compare it with hookgate's own loader. */
export interface ConfigFacts {
  prefix: string;
  longestDeadlineMs: number;
  concurrency: Record<WorkerPool, number>;
  /** `scanners.<pool>.queueShards`: each shard is one BullMQ queue, and KEDA reads their sum. */
  queueShards: Record<WorkerPool, number>;
  clamdStreamMaxBytes: number;
  configHash: string;
}

// Defaults of services/hookgate/src/config.ts, for keys the container config leaves out (the tests compare).
const DEFAULT_DEADLINES_MS: Record<string, number> = {
  connect: 5000,
  ehlo: 5000,
  auth: 5000,
  mail: 5000,
  rcpt: 5000,
  data: 20000,
  delivery: 20000,
  defer: 20000,
  dsn: 20000,
};
const DEFAULT_CONCURRENCY = 8;
const DEFAULT_CLAMAV_MAX_STREAM_BYTES = 26_214_400;

type Tree = Record<string, unknown>;
const sub = (t: unknown, key: string): Tree => {
  const v = typeof t === 'object' && t !== null ? (t as Tree)[key] : undefined;
  return typeof v === 'object' && v !== null ? (v as Tree) : {};
};

export function configFacts(configYaml: string): ConfigFacts {
  const raw = (parseYaml(configYaml) ?? {}) as Tree;
  const deadlines = {
    ...DEFAULT_DEADLINES_MS,
    ...(sub(sub(raw, 'stages'), 'deadlineMs') as Record<string, number>),
  };
  const scanners = sub(raw, 'scanners');
  const concurrency = Object.fromEntries(
    WORKER_POOLS.map((p) => [p, Number(sub(scanners, p).concurrency ?? DEFAULT_CONCURRENCY)]),
  ) as Record<WorkerPool, number>;
  const queueShards = Object.fromEntries(
    WORKER_POOLS.map((p) => [p, Number(sub(scanners, p).queueShards ?? 1)]),
  ) as Record<WorkerPool, number>;
  return {
    prefix: String(sub(raw, 'redis').prefix ?? 'hg'),
    longestDeadlineMs: Math.max(...Object.values(deadlines).map(Number)),
    concurrency,
    queueShards,
    clamdStreamMaxBytes: Number(sub(scanners, 'clamav').maxStreamBytes ?? DEFAULT_CLAMAV_MAX_STREAM_BYTES),
    configHash: createHash('sha256').update(configYaml).digest('hex').slice(0, 16),
  };
}

/**
 * `<prefix>:{scan-<scanner>[.<k>]}:<list>`: BullMQ's keys for each shard of a scanner's queue (libs/queue:
 * hash-tagged queue names; one shard is `{scan-<scanner>}`).
 */
export function queueListKeys(
  prefix: string,
  scanner: string,
  list: 'wait' | 'active',
  shards = 1,
): string[] {
  return shardLayout(`scan-${scanner}`, shards).names.map((n) => `${prefix}:{${n}}:${list}`);
}

/** Termination grace: preStop, then hookgate's own hard deadline (longest stage deadline + drain), plus a margin. */
export function hookgateGraceSeconds(facts: ConfigFacts): number {
  return PRESTOP_SECONDS + Math.ceil(facts.longestDeadlineMs / 1000) + DRAIN_SECONDS + GRACE_MARGIN_SECONDS;
}

// ---------------------------------------------------------------------------------------------------------------
// Building blocks

const selector = (name: string, component: string): Record<string, string> => ({
  'app.kubernetes.io/name': name,
  'app.kubernetes.io/component': component,
});

function labels(name: string, component: string, version?: string): Record<string, string> {
  return {
    ...selector(name, component),
    'app.kubernetes.io/part-of': 'hookgate',
    'app.kubernetes.io/managed-by': 'hookgate-k8s-render',
    ...(version ? { 'app.kubernetes.io/version': version } : {}),
  };
}

function resources(r: Resources): IResourceRequirements {
  return { requests: { cpu: r.cpu, memory: r.memory }, limits: { memory: r.memoryLimit } };
}

function podSecurity(uid: number, gid = uid, extra: Partial<IPodSecurityContext> = {}): IPodSecurityContext {
  return {
    runAsNonRoot: true,
    runAsUser: uid,
    runAsGroup: gid,
    fsGroup: gid,
    seccompProfile: { type: 'RuntimeDefault' },
    ...extra,
  };
}

const CONTAINER_SECURITY: ISecurityContext = {
  allowPrivilegeEscalation: false,
  readOnlyRootFilesystem: true,
  capabilities: { drop: ['ALL'] },
};

const httpProbe = (path: string, port: string, more: Partial<IProbe>): IProbe => ({
  httpGet: { path, port },
  timeoutSeconds: 2,
  ...more,
});
const tcpProbe = (port: string, more: Partial<IProbe>): IProbe => ({
  tcpSocket: { port },
  timeoutSeconds: 2,
  ...more,
});

function spread(o: Overlay, match: Record<string, string>): ITopologySpreadConstraint[] | undefined {
  if (!o.spread) return undefined;
  return ['topology.kubernetes.io/zone', 'kubernetes.io/hostname'].map((topologyKey) => ({
    maxSkew: 1,
    topologyKey,
    whenUnsatisfiable: 'ScheduleAnyway',
    labelSelector: { matchLabels: match },
    matchLabelKeys: ['pod-template-hash'],
  }));
}

const emptyDir = (name: string, sizeLimit: string): IVolume => ({ name, emptyDir: { sizeLimit } });
const secretRef = (name: string, key: string): IEnvVar['valueFrom'] => ({ secretKeyRef: { name, key } });

function pdb(
  o: Overlay,
  name: string,
  match: Record<string, string>,
  lbls: Record<string, string>,
): PodDisruptionBudget {
  return new PodDisruptionBudget({
    metadata: { name, namespace: o.namespace, labels: lbls },
    // maxUnavailable (not minAvailable) so a node drain proceeds at any replica count; AlwaysAllow lets a drain
    // evict pods that never became ready.
    spec: { maxUnavailable: 1, selector: { matchLabels: match }, unhealthyPodEvictionPolicy: 'AlwaysAllow' },
  });
}

const HPA_BEHAVIOR: IHorizontalPodAutoscalerBehavior = {
  scaleUp: {
    stabilizationWindowSeconds: 0,
    selectPolicy: 'Max',
    policies: [
      { type: 'Percent', value: 100, periodSeconds: 30 },
      { type: 'Pods', value: 4, periodSeconds: 30 },
    ],
  },
  scaleDown: {
    stabilizationWindowSeconds: 300,
    selectPolicy: 'Min',
    policies: [{ type: 'Percent', value: 25, periodSeconds: 60 }],
  },
};

function cpuHpa(
  o: Overlay,
  name: string,
  lbls: Record<string, string>,
  min: number,
  max: number,
  target: number,
): HorizontalPodAutoscaler {
  return new HorizontalPodAutoscaler({
    metadata: { name, namespace: o.namespace, labels: lbls },
    spec: {
      scaleTargetRef: { apiVersion: 'apps/v1', kind: 'Deployment', name },
      minReplicas: min,
      maxReplicas: max,
      metrics: [
        {
          type: 'Resource',
          resource: { name: 'cpu', target: { type: 'Utilization', averageUtilization: target } },
        },
      ],
      behavior: HPA_BEHAVIOR,
    },
  });
}

// ---------------------------------------------------------------------------------------------------------------
// hookgate roles

type Role = 'ingress' | 'milter' | `worker-${WorkerPool}`;

interface RoleSpec {
  role: Role;
  args: string[];
  ports: IContainerPort[];
  /** Named port serving /healthz and /readyz. */
  healthPort: string;
  resources: Resources;
  /** Behind a Service: keep serving while endpoints are withdrawn. */
  preStop: boolean;
  /** Mounts the MTA credentials (the ingress). */
  authTokens: boolean;
  extraEnv: IEnvVar[];
}

function redisEnv(o: Overlay): IEnvVar[] {
  if (o.redis.kind === 'external' && o.redis.topology === 'cluster') {
    return [{ name: 'HOOKGATE_REDIS_CLUSTER', valueFrom: secretRef('hookgate-redis', 'cluster-nodes') }];
  }
  return [{ name: 'HOOKGATE_REDIS_URL', valueFrom: secretRef('hookgate-redis', 'url') }];
}

function hookgateDeployment(o: Overlay, inputs: RenderInputs, facts: ConfigFacts, s: RoleSpec): Deployment {
  const name = `hookgate-${s.role}`;
  const match = selector('hookgate', s.role);
  const podLabels = { ...labels('hookgate', s.role, inputs.version), [REDIS_CLIENT_LABEL]: 'true' };
  const metricsPort = s.ports.find((p) => p.name === 'metrics' || p.name === 'http');
  const env: IEnvVar[] = [
    { name: 'K8S_POD_NAME', valueFrom: { fieldRef: { fieldPath: 'metadata.name' } } },
    { name: 'K8S_NAMESPACE', valueFrom: { fieldRef: { fieldPath: 'metadata.namespace' } } },
    { name: 'HOOKGATE_CONFIG', value: `${CONFIG_DIR}/hookgate.yaml` },
    ...redisEnv(o),
    { name: 'HOOKGATE_REDIS_PASSWORD_FILE', value: `${SECRETS_DIR}/redis-password` },
    ...(s.authTokens ? [{ name: 'HOOKGATE_AUTH_TOKENS_FILE', value: `${SECRETS_DIR}/auth-tokens` }] : []),
    ...s.extraEnv,
    {
      name: 'OTEL_EXPORTER_OTLP_ENDPOINT',
      value: `http://${o.otel.service}.${o.otel.namespace}.svc:${o.otel.port}`,
    },
    // Metrics are scraped from /metrics; traces go over OTLP.
    { name: 'OTEL_METRICS_EXPORTER', value: 'none' },
    {
      name: 'OTEL_RESOURCE_ATTRIBUTES',
      value: `k8s.namespace.name=$(K8S_NAMESPACE),k8s.pod.name=$(K8S_POD_NAME),deployment.environment.name=${o.name}`,
    },
  ];
  const secretSources = [
    { secret: { name: 'hookgate-redis', items: [{ key: 'password', path: 'redis-password' }] } },
    ...(s.authTokens
      ? [{ secret: { name: 'hookgate-auth', items: [{ key: 'tokens', path: 'auth-tokens' }] } }]
      : []),
  ];
  const volumes: IVolume[] = [
    { name: 'config', configMap: { name: 'hookgate-config' } },
    { name: 'secrets', projected: { defaultMode: 0o440, sources: secretSources } },
    emptyDir('tmp', '64Mi'),
  ];
  const mounts: IVolumeMount[] = [
    { name: 'config', mountPath: CONFIG_DIR, readOnly: true },
    { name: 'secrets', mountPath: SECRETS_DIR, readOnly: true },
    { name: 'tmp', mountPath: '/tmp' },
  ];
  const container: IContainer = {
    name: 'hookgate',
    image: `${o.registry}/hookgate:${inputs.version}`,
    imagePullPolicy: 'IfNotPresent',
    args: s.args,
    ports: s.ports,
    env,
    resources: resources(s.resources),
    securityContext: CONTAINER_SECURITY,
    startupProbe: httpProbe('/healthz', s.healthPort, { periodSeconds: 2, failureThreshold: 60 }),
    readinessProbe: httpProbe('/readyz', s.healthPort, { periodSeconds: 5, failureThreshold: 2 }),
    livenessProbe: httpProbe('/healthz', s.healthPort, { periodSeconds: 10, failureThreshold: 3 }),
    ...(s.preStop ? { lifecycle: { preStop: { sleep: { seconds: PRESTOP_SECONDS } } } } : {}),
    volumeMounts: mounts,
  };
  const podSpec: IPodSpec = {
    serviceAccountName: 'hookgate',
    automountServiceAccountToken: false,
    securityContext: podSecurity(HOOKGATE_UID),
    terminationGracePeriodSeconds: hookgateGraceSeconds(facts),
    containers: [container],
    volumes,
    ...(spread(o, match) ? { topologySpreadConstraints: spread(o, match) } : {}),
  };
  return new Deployment({
    metadata: { name, namespace: o.namespace, labels: labels('hookgate', s.role, inputs.version) },
    spec: {
      // No `replicas`: an autoscaler owns it (an HPA or a KEDA ScaledObject), and applying the manifests again must
      // not reset it.
      selector: { matchLabels: match },
      strategy: { type: 'RollingUpdate', rollingUpdate: { maxUnavailable: 0, maxSurge: '25%' } },
      template: {
        metadata: {
          labels: podLabels,
          annotations: {
            // A config change rolls the pods: hookgate reads its config once, at start.
            'hookgate.io/config-hash': facts.configHash,
            'prometheus.io/scrape': 'true',
            'prometheus.io/port': String(metricsPort?.containerPort ?? PORTS.metrics),
            'prometheus.io/path': '/metrics',
          },
        },
        spec: podSpec,
      },
    },
  });
}

function frontend(
  o: Overlay,
  inputs: RenderInputs,
  facts: ConfigFacts,
  role: 'ingress' | 'milter',
): ManifestFile {
  const settings = o[role];
  const name = `hookgate-${role}`;
  const lbls = labels('hookgate', role, inputs.version);
  const match = selector('hookgate', role);
  const ports: IContainerPort[] =
    role === 'ingress'
      ? [{ name: 'http', containerPort: PORTS.http, protocol: 'TCP' }]
      : [
          { name: 'milter', containerPort: PORTS.milter, protocol: 'TCP' },
          { name: 'metrics', containerPort: PORTS.metrics, protocol: 'TCP' },
        ];
  const deployment = hookgateDeployment(o, inputs, facts, {
    role,
    args: [role],
    ports,
    healthPort: role === 'ingress' ? 'http' : 'metrics',
    resources: settings.resources,
    preStop: true,
    authTokens: role === 'ingress',
    // The milter protocol has no authentication: the milter alone may listen without credentials, and its
    // NetworkPolicy admits only the MTA.
    extraEnv: role === 'milter' ? [{ name: 'HOOKGATE_ALLOW_UNAUTHENTICATED', value: 'true' }] : [],
  });
  const service = new Service({
    metadata: { name, namespace: o.namespace, labels: lbls },
    spec: {
      type: 'ClusterIP',
      selector: match,
      ports: [
        role === 'ingress'
          ? { name: 'http', port: PORTS.http, targetPort: 'http', protocol: 'TCP' }
          : { name: 'milter', port: PORTS.milter, targetPort: 'milter', protocol: 'TCP' },
      ],
    },
  });
  return {
    file: `${role}.yaml`,
    objects: [
      deployment,
      service,
      pdb(o, name, match, lbls),
      cpuHpa(o, name, lbls, settings.replicas.min, settings.replicas.max, settings.cpuTarget),
    ],
  };
}

function kedaTrigger(o: Overlay, name: string, listName: string, target: number): IScaleTriggers {
  const tls = o.redis.kind === 'external' && o.redis.tls ? 'true' : 'false';
  const cluster = o.redis.kind === 'external' && o.redis.topology === 'cluster';
  return {
    type: cluster ? 'redis-cluster' : 'redis',
    name,
    metadata: {
      // Read by KEDA from the worker container's environment (which takes it from the hookgate-redis Secret).
      ...(cluster ? { addressesFromEnv: 'KEDA_REDIS_ADDRESSES' } : { addressFromEnv: 'KEDA_REDIS_ADDRESS' }),
      listName,
      listLength: String(target),
      enableTLS: tls,
    },
    authenticationRef: { name: 'hookgate-redis' },
  };
}

/**
 * Two demands; the HPA follows the larger: waiting jobs per replica (backlog), and jobs being scanned per replica
 * (in flight) so a pool that keeps up (empty `wait`) is not scaled down under load. With one queue shard, one
 * Redis list trigger each. With N shards the demand is the sum over the shards' lists, which the HPA cannot add up
 * (it takes the largest of its metrics), so KEDA does: one trigger per list, combined by a scaling-modifiers
 * formula into one metric, `max(Σ wait, Σ active × backlog/inFlight)` against the backlog target.
 */
function queueTriggers(
  o: Overlay,
  facts: ConfigFacts,
  pool: WorkerPool,
  backlog: number,
  inFlight: number,
): { advanced: object; triggers: IScaleTriggers[] } {
  const hpa = { horizontalPodAutoscalerConfig: { behavior: HPA_BEHAVIOR } };
  const shards = facts.queueShards[pool];
  const waiting = queueListKeys(facts.prefix, pool, 'wait', shards);
  const active = queueListKeys(facts.prefix, pool, 'active', shards);
  if (shards === 1) {
    return {
      advanced: hpa,
      triggers: [
        kedaTrigger(o, 'backlog', waiting[0]!, backlog),
        kedaTrigger(o, 'in-flight', active[0]!, inFlight),
      ],
    };
  }
  // Formula variables are trigger names: identifiers, so underscores.
  const w = waiting.map((_, i) => `backlog_${i}`);
  const a = active.map((_, i) => `in_flight_${i}`);
  return {
    advanced: {
      ...hpa,
      scalingModifiers: {
        formula: `max(${w.join(' + ')}, (${a.join(' + ')}) * ${backlog} / ${inFlight})`,
        target: String(backlog),
        metricType: 'AverageValue',
      },
    },
    triggers: [
      ...waiting.map((l, i) => kedaTrigger(o, w[i]!, l, backlog)),
      ...active.map((l, i) => kedaTrigger(o, a[i]!, l, inFlight)),
    ],
  };
}

function workerPool(o: Overlay, inputs: RenderInputs, facts: ConfigFacts, pool: WorkerPool): ManifestFile {
  const role = `worker-${pool}` as const;
  const name = `hookgate-${role}`;
  const settings = o.workers[pool] ?? o.workers.default;
  const lbls = labels('hookgate', role, inputs.version);
  const match = selector('hookgate', role);
  const cluster = o.redis.kind === 'external' && o.redis.topology === 'cluster';
  const deployment = hookgateDeployment(o, inputs, facts, {
    role,
    args: ['worker', '--scanners', pool],
    ports: [{ name: 'metrics', containerPort: PORTS.metrics, protocol: 'TCP' }],
    healthPort: 'metrics',
    resources: settings.resources,
    preStop: false,
    authTokens: false,
    extraEnv: [
      cluster
        ? { name: 'KEDA_REDIS_ADDRESSES', valueFrom: secretRef('hookgate-redis', 'cluster-nodes') }
        : { name: 'KEDA_REDIS_ADDRESS', valueFrom: secretRef('hookgate-redis', 'address') },
    ],
  });
  const inFlight = Math.max(1, Math.floor(facts.concurrency[pool] * IN_FLIGHT_UTILISATION));
  const scaledObject = new ScaledObject({
    metadata: { name, namespace: o.namespace, labels: lbls },
    spec: {
      scaleTargetRef: { apiVersion: 'apps/v1', kind: 'Deployment', name, envSourceContainerName: 'hookgate' },
      // Never zero: a scan queued while KEDA wakes a pool up would wait past its deadline.
      minReplicaCount: settings.replicas.min,
      maxReplicaCount: settings.replicas.max,
      pollingInterval: 5,
      cooldownPeriod: 300,
      // Redis unreachable: keep what runs (scaling down would only slow the recovery).
      fallback: { failureThreshold: 3, replicas: settings.replicas.min, behavior: 'currentReplicasIfHigher' },
      ...queueTriggers(o, facts, pool, settings.backlogPerReplica, inFlight),
    },
  });
  return { file: `${role}.yaml`, objects: [deployment, pdb(o, name, match, lbls), scaledObject] };
}

// ---------------------------------------------------------------------------------------------------------------
// Engines

interface EngineSpec {
  name: 'clamd' | 'rspamd' | 'spamd';
  image: string;
  uid: number;
  gid: number;
  replicas?: number;
  container: Omit<IContainer, 'name' | 'image' | 'securityContext' | 'resources'>;
  resources: Resources;
  volumes: IVolume[];
  servicePort: { name: string; port: number };
  podSecurityExtra?: Partial<IPodSecurityContext>;
}

function engine(
  o: Overlay,
  s: EngineSpec,
): { deployment: Deployment; service: Service; match: Record<string, string>; lbls: Record<string, string> } {
  const match = selector(s.name, 'engine');
  const lbls = labels(s.name, 'engine');
  const deployment = new Deployment({
    metadata: { name: s.name, namespace: o.namespace, labels: lbls },
    spec: {
      ...(s.replicas !== undefined ? { replicas: s.replicas } : {}),
      selector: { matchLabels: match },
      strategy: { type: 'RollingUpdate', rollingUpdate: { maxUnavailable: 0, maxSurge: 1 } },
      template: {
        metadata: { labels: lbls },
        spec: {
          automountServiceAccountToken: false,
          securityContext: podSecurity(s.uid, s.gid, s.podSecurityExtra),
          containers: [
            {
              name: s.name,
              image: s.image,
              imagePullPolicy: 'IfNotPresent',
              ...s.container,
              lifecycle: { preStop: { sleep: { seconds: 5 } } },
              resources: resources(s.resources),
              securityContext: CONTAINER_SECURITY,
            },
          ],
          volumes: s.volumes,
          ...(spread(o, match) ? { topologySpreadConstraints: spread(o, match) } : {}),
        },
      },
    },
  });
  const service = new Service({
    metadata: { name: s.name, namespace: o.namespace, labels: lbls },
    spec: {
      type: 'ClusterIP',
      selector: match,
      ports: [
        {
          name: s.servicePort.name,
          port: s.servicePort.port,
          targetPort: s.servicePort.name,
          protocol: 'TCP',
        },
      ],
    },
  });
  return { deployment, service, match, lbls };
}

function clamd(o: Overlay, facts: ConfigFacts): ManifestFile {
  const autoscaled = o.clamd.replicas.max > o.clamd.replicas.min;
  const e = engine(o, {
    name: 'clamd',
    image: ENGINE_IMAGES.clamd,
    uid: CLAMAV_UID,
    gid: CLAMAV_GID,
    ...(autoscaled ? {} : { replicas: o.clamd.replicas.min }),
    // Its own Deployment, not a sidecar: the signatures (about 1 GiB, 2 GiB while reloading) are paid per clamd
    // replica instead of per worker, and worker pods stay small and start in seconds (docs/deploy.md).
    container: {
      // The image's unprivileged entrypoint: freshclam (initial download, then updates) and clamd, as uid 100.
      command: ['/init-unprivileged'],
      env: [
        { name: 'CLAMD_CONF_StreamMaxLength', value: `${Math.ceil(facts.clamdStreamMaxBytes / 1_048_576)}M` },
        { name: 'FRESHCLAM_CHECKS', value: '12' },
      ],
      ports: [{ name: 'clamd', containerPort: PORTS.clamd, protocol: 'TCP' }],
      // The first start downloads the signatures and loads them: minutes.
      startupProbe: tcpProbe('clamd', { periodSeconds: 10, failureThreshold: 90 }),
      readinessProbe: tcpProbe('clamd', { periodSeconds: 10, failureThreshold: 3 }),
      livenessProbe: tcpProbe('clamd', { periodSeconds: 20, failureThreshold: 6 }),
      volumeMounts: [
        { name: 'db', mountPath: '/var/lib/clamav' },
        { name: 'tmp', mountPath: '/tmp' },
        { name: 'logs', mountPath: '/var/log/clamav' },
      ],
    },
    resources: o.clamd.resources,
    volumes: [emptyDir('db', '2Gi'), emptyDir('tmp', '2Gi'), emptyDir('logs', '64Mi')],
    servicePort: { name: 'clamd', port: PORTS.clamd },
  });
  const objects: ManifestFile['objects'] = [e.deployment, e.service, pdb(o, 'clamd', e.match, e.lbls)];
  if (autoscaled)
    objects.push(cpuHpa(o, 'clamd', e.lbls, o.clamd.replicas.min, o.clamd.replicas.max, o.clamd.cpuTarget));
  return { file: 'clamd.yaml', objects };
}

function rspamd(o: Overlay): ManifestFile {
  const e = engine(o, {
    name: 'rspamd',
    image: ENGINE_IMAGES.rspamd,
    uid: RSPAMD_UID,
    gid: RSPAMD_UID,
    replicas: o.rspamd.replicas,
    container: {
      ports: [
        { name: 'normal', containerPort: PORTS.rspamd, protocol: 'TCP' },
        { name: 'controller', containerPort: PORTS.rspamdController, protocol: 'TCP' },
      ],
      startupProbe: httpProbe('/ping', 'normal', { periodSeconds: 5, failureThreshold: 60 }),
      readinessProbe: httpProbe('/ping', 'normal', { periodSeconds: 10, failureThreshold: 3 }),
      livenessProbe: httpProbe('/ping', 'normal', { periodSeconds: 20, failureThreshold: 3 }),
      volumeMounts: [
        { name: 'data', mountPath: '/var/lib/rspamd' },
        { name: 'run', mountPath: '/run/rspamd' },
        { name: 'tmp', mountPath: '/tmp' },
      ],
    },
    resources: o.rspamd.resources,
    volumes: [emptyDir('data', '1Gi'), emptyDir('run', '16Mi'), emptyDir('tmp', '512Mi')],
    servicePort: { name: 'normal', port: PORTS.rspamd },
  });
  return { file: 'rspamd.yaml', objects: [e.deployment, e.service, pdb(o, 'rspamd', e.match, e.lbls)] };
}

function spamd(o: Overlay, inputs: RenderInputs): ManifestFile {
  const e = engine(o, {
    name: 'spamd',
    image: `${o.registry}/spamd:${inputs.version}`,
    uid: SPAMD_UID,
    gid: SPAMD_UID,
    replicas: o.spamd.replicas,
    // spamd's port 783 as a non-root user (a namespaced, "safe" sysctl).
    podSecurityExtra: { sysctls: [{ name: 'net.ipv4.ip_unprivileged_port_start', value: '0' }] },
    container: {
      ports: [{ name: 'spamd', containerPort: PORTS.spamd, protocol: 'TCP' }],
      startupProbe: tcpProbe('spamd', { periodSeconds: 5, failureThreshold: 60 }),
      readinessProbe: {
        exec: { command: ['spamc', '-K', '-d', '127.0.0.1', '-p', String(PORTS.spamd)] },
        periodSeconds: 10,
        timeoutSeconds: 5,
        failureThreshold: 3,
      },
      livenessProbe: tcpProbe('spamd', { periodSeconds: 20, failureThreshold: 3 }),
      volumeMounts: [{ name: 'tmp', mountPath: '/tmp' }],
    },
    resources: o.spamd.resources,
    volumes: [emptyDir('tmp', '512Mi')],
    servicePort: { name: 'spamd', port: PORTS.spamd },
  });
  return { file: 'spamd.yaml', objects: [e.deployment, e.service, pdb(o, 'spamd', e.match, e.lbls)] };
}

/** Development only: one Redis with AOF and noeviction. Production points at a managed Redis (overlays.ts). */
function redis(o: Overlay): ManifestFile | undefined {
  if (o.redis.kind !== 'in-cluster') return undefined;
  const match = selector('redis', 'queue-store');
  const lbls = labels('redis', 'queue-store');
  const probe = (periodSeconds: number): IProbe => ({
    exec: { command: ['redis-cli', 'ping'] },
    periodSeconds,
    timeoutSeconds: 2,
    failureThreshold: 3,
  });
  const statefulSet = new StatefulSet({
    metadata: { name: 'redis', namespace: o.namespace, labels: lbls },
    spec: {
      serviceName: 'redis',
      replicas: 1,
      selector: { matchLabels: match },
      template: {
        metadata: { labels: lbls },
        spec: {
          automountServiceAccountToken: false,
          securityContext: podSecurity(REDIS_UID),
          terminationGracePeriodSeconds: 30,
          containers: [
            {
              name: 'redis',
              image: ENGINE_IMAGES.redis,
              imagePullPolicy: 'IfNotPresent',
              command: ['redis-server'],
              // BullMQ needs noeviction; AOF keeps queues and transaction state across restarts. The password on
              // the command line is visible inside the pod only; acceptable for development.
              args: [
                '--appendonly',
                'yes',
                '--appendfsync',
                'everysec',
                '--maxmemory',
                o.redis.maxmemory,
                '--maxmemory-policy',
                'noeviction',
                '--dir',
                '/data',
                '--requirepass',
                '$(REDIS_PASSWORD)',
              ],
              env: [
                { name: 'REDIS_PASSWORD', valueFrom: secretRef('hookgate-redis', 'password') },
                // redis-cli (the probes) reads its password from REDISCLI_AUTH.
                { name: 'REDISCLI_AUTH', valueFrom: secretRef('hookgate-redis', 'password') },
              ],
              ports: [{ name: 'redis', containerPort: PORTS.redis, protocol: 'TCP' }],
              readinessProbe: probe(5),
              livenessProbe: probe(10),
              resources: resources(o.redis.resources),
              securityContext: CONTAINER_SECURITY,
              volumeMounts: [{ name: 'data', mountPath: '/data' }],
            },
          ],
        },
      },
      volumeClaimTemplates: [
        {
          metadata: { name: 'data' },
          spec: { accessModes: ['ReadWriteOnce'], resources: { requests: { storage: o.redis.storage } } },
        },
      ],
    },
  });
  const service = new Service({
    metadata: { name: 'redis', namespace: o.namespace, labels: lbls },
    // Headless: the StatefulSet's governing Service; clients resolve the pod directly.
    spec: {
      clusterIP: 'None',
      selector: match,
      ports: [{ name: 'redis', port: PORTS.redis, targetPort: 'redis', protocol: 'TCP' }],
    },
  });
  return { file: 'redis.yaml', objects: [statefulSet, service] };
}

// ---------------------------------------------------------------------------------------------------------------
// Namespace, config, secrets, KEDA authentication

function namespace(o: Overlay): ManifestFile {
  return {
    file: 'namespace.yaml',
    objects: [
      new Namespace({
        metadata: {
          name: o.namespace,
          labels: {
            'app.kubernetes.io/part-of': 'hookgate',
            // Every pod here meets the "restricted" Pod Security Standard.
            'pod-security.kubernetes.io/enforce': 'restricted',
            'pod-security.kubernetes.io/enforce-version': 'latest',
          },
        },
      }),
      new ServiceAccount({
        metadata: { name: 'hookgate', namespace: o.namespace, labels: labels('hookgate', 'service-account') },
        // hookgate never talks to the Kubernetes API.
        automountServiceAccountToken: false,
      }),
    ],
  };
}

function config(o: Overlay, inputs: RenderInputs): ManifestFile {
  const objects: ManifestFile['objects'] = [
    new ConfigMap({
      metadata: { name: 'hookgate-config', namespace: o.namespace, labels: labels('hookgate', 'config') },
      data: { 'hookgate.yaml': inputs.configYaml },
    }),
  ];
  if (o.secrets === 'placeholders') {
    const address = `redis.${o.namespace}.svc:${PORTS.redis}`;
    objects.push(
      new Secret({
        metadata: {
          name: 'hookgate-redis',
          namespace: o.namespace,
          labels: labels('hookgate', 'credentials'),
        },
        type: 'Opaque',
        // Development placeholders, not secrets. Production creates this Secret out of band (docs/deploy.md).
        stringData: { url: `redis://redis:${PORTS.redis}`, address, password: 'dev-only-redis-password' },
      }),
      new Secret({
        metadata: {
          name: 'hookgate-auth',
          namespace: o.namespace,
          labels: labels('hookgate', 'credentials'),
        },
        type: 'Opaque',
        stringData: { tokens: 'stalwart=dev-only-token-0123456789abcdef' },
      }),
    );
  }
  return { file: 'config.yaml', objects };
}

function kedaAuth(o: Overlay): ManifestFile {
  return {
    file: 'keda.yaml',
    objects: [
      new TriggerAuthentication({
        metadata: {
          name: 'hookgate-redis',
          namespace: o.namespace,
          labels: labels('hookgate', 'autoscaling'),
        },
        spec: { secretTargetRef: [{ parameter: 'password', name: 'hookgate-redis', key: 'password' }] },
      }),
    ],
  };
}

// ---------------------------------------------------------------------------------------------------------------
// Network policies: deny by default, then exactly the flows hookgate needs.

function networkPolicies(o: Overlay): ManifestFile {
  const ns = (name: string) => ({ matchLabels: { 'kubernetes.io/metadata.name': name } });
  const tcp = (...ports: number[]): INetworkPolicyPort[] => ports.map((port) => ({ protocol: 'TCP', port }));
  const mtaPeers: INetworkPolicyPeer[] = [
    {
      namespaceSelector: { matchLabels: { [MTA_LABEL]: 'true' } },
      podSelector: { matchLabels: { [MTA_LABEL]: 'true' } },
    },
    ...o.mtaCidrs.map((cidr) => ({ ipBlock: { cidr } })),
  ];
  const prometheus: INetworkPolicyPeer = {
    namespaceSelector: ns(o.monitoring.namespace),
    podSelector: { matchLabels: o.monitoring.podLabels },
  };
  const toRedis: INetworkPolicyEgressRule =
    o.redis.kind === 'in-cluster'
      ? { to: [{ podSelector: { matchLabels: selector('redis', 'queue-store') } }], ports: tcp(PORTS.redis) }
      : { to: o.redis.egressCidrs.map((cidr) => ({ ipBlock: { cidr } })), ports: tcp(...o.redis.ports) };
  const toOtel: INetworkPolicyEgressRule = {
    to: [{ namespaceSelector: ns(o.otel.namespace) }],
    ports: tcp(o.otel.port),
  };
  // Signature and map updates come from the internet, never from inside the cluster.
  const toInternet: INetworkPolicyEgressRule = {
    to: [
      {
        ipBlock: {
          cidr: '0.0.0.0/0',
          except: ['10.0.0.0/8', '172.16.0.0/12', '192.168.0.0/16', '100.64.0.0/10', '169.254.0.0/16'],
        },
      },
    ],
    ports: tcp(80, 443),
  };
  const policy = (
    name: string,
    podSelector: Record<string, string>,
    ingress: INetworkPolicyIngressRule[],
    egress: INetworkPolicyEgressRule[],
  ) =>
    new NetworkPolicy({
      metadata: { name, namespace: o.namespace, labels: labels('hookgate', 'network-policy') },
      spec: {
        podSelector: { matchLabels: podSelector },
        policyTypes: ['Ingress', 'Egress'],
        ingress,
        egress,
      },
    });
  // The engine each pool talks to; a pool not named here (dlp: its engine runs inside the worker) reaches only
  // Redis and the collector.
  const engineOf: Partial<Record<WorkerPool, INetworkPolicyEgressRule>> = {
    clamav: { to: [{ podSelector: { matchLabels: selector('clamd', 'engine') } }], ports: tcp(PORTS.clamd) },
    rspamd: {
      to: [{ podSelector: { matchLabels: selector('rspamd', 'engine') } }],
      ports: tcp(PORTS.rspamd),
    },
    spamd: { to: [{ podSelector: { matchLabels: selector('spamd', 'engine') } }], ports: tcp(PORTS.spamd) },
  };
  const fromWorker = (pool: WorkerPool, port: number): INetworkPolicyIngressRule => ({
    from: [{ podSelector: { matchLabels: selector('hookgate', `worker-${pool}`) } }],
    ports: tcp(port),
  });

  const objects: ManifestFile['objects'] = [
    new NetworkPolicy({
      metadata: {
        name: 'default-deny',
        namespace: o.namespace,
        labels: labels('hookgate', 'network-policy'),
      },
      spec: { podSelector: {}, policyTypes: ['Ingress', 'Egress'] },
    }),
    new NetworkPolicy({
      metadata: { name: 'allow-dns', namespace: o.namespace, labels: labels('hookgate', 'network-policy') },
      spec: {
        podSelector: {},
        policyTypes: ['Egress'],
        egress: [
          {
            to: [
              {
                namespaceSelector: ns('kube-system'),
                podSelector: { matchLabels: { 'k8s-app': 'kube-dns' } },
              },
            ],
            ports: [
              { protocol: 'UDP', port: 53 },
              { protocol: 'TCP', port: 53 },
            ],
          },
        ],
      },
    }),
    policy(
      'hookgate-ingress',
      selector('hookgate', 'ingress'),
      [
        { from: mtaPeers, ports: tcp(PORTS.http) },
        { from: [prometheus], ports: tcp(PORTS.http) },
      ],
      [toRedis, toOtel],
    ),
    policy(
      'hookgate-milter',
      selector('hookgate', 'milter'),
      [
        { from: mtaPeers, ports: tcp(PORTS.milter) },
        { from: [prometheus], ports: tcp(PORTS.metrics) },
      ],
      [toRedis, toOtel],
    ),
    ...WORKER_POOLS.map((pool) =>
      policy(
        `hookgate-worker-${pool}`,
        selector('hookgate', `worker-${pool}`),
        [{ from: [prometheus], ports: tcp(PORTS.metrics) }],
        [toRedis, toOtel, ...(engineOf[pool] ? [engineOf[pool]] : [])],
      ),
    ),
    policy('clamd', selector('clamd', 'engine'), [fromWorker('clamav', PORTS.clamd)], [toInternet]),
    policy('rspamd', selector('rspamd', 'engine'), [fromWorker('rspamd', PORTS.rspamd)], [toInternet]),
    policy('spamd', selector('spamd', 'engine'), [fromWorker('spamd', PORTS.spamd)], []),
  ];
  if (o.redis.kind === 'in-cluster') {
    objects.push(
      policy(
        'redis',
        selector('redis', 'queue-store'),
        // hookgate pods, and KEDA reading queue lengths.
        [
          {
            from: [
              { podSelector: { matchLabels: { [REDIS_CLIENT_LABEL]: 'true' } } },
              { namespaceSelector: ns(o.kedaNamespace) },
            ],
            ports: tcp(PORTS.redis),
          },
        ],
        [],
      ),
    );
  }
  return { file: 'network-policies.yaml', objects };
}

// ---------------------------------------------------------------------------------------------------------------

/** Every manifest of one overlay, grouped by file. */
export function buildManifests(o: Overlay, inputs: RenderInputs): ManifestFile[] {
  const facts = configFacts(inputs.configYaml);
  const files: (ManifestFile | undefined)[] = [
    namespace(o),
    config(o, inputs),
    redis(o),
    frontend(o, inputs, facts, 'ingress'),
    frontend(o, inputs, facts, 'milter'),
    ...WORKER_POOLS.map((pool) => workerPool(o, inputs, facts, pool)),
    kedaAuth(o),
    clamd(o, facts),
    rspamd(o),
    spamd(o, inputs),
    networkPolicies(o),
  ];
  return files.filter((f): f is ManifestFile => f !== undefined);
}

// ---------------------------------------------------------------------------------------------------------------
// Rendering: one file per component under deploy/k8s/rendered/<overlay>/, plus a kustomization.yaml listing them
// (so `kubectl apply -k` works and the rendered tree can serve as a kustomize base).

const ROOT = new URL('../../../', import.meta.url);

/** Where an overlay is rendered, relative to the repository root. */
export const renderedDir = (overlay: string): string => `deploy/k8s/rendered/${overlay}`;

export function readInputs(): RenderInputs {
  const pkg = JSON.parse(readFileSync(new URL('package.json', ROOT), 'utf8')) as { version: string };
  return {
    configYaml: readFileSync(new URL('deploy/config/hookgate.container.yaml', ROOT), 'utf8'),
    version: pkg.version,
  };
}

function header(o: Overlay): string {
  return (
    `# Generated by deploy/k8s/render.ts from deploy/k8s/src (overlay "${o.name}"). Do not edit: change the generator\n` +
    `# or the overlay and render again (docs/deploy.md); CI fails when these files and the generator disagree.\n`
  );
}

/** File name → YAML text, for one overlay. */
export function renderOverlay(o: Overlay, inputs: RenderInputs = readInputs()): Map<string, string> {
  const out = new Map<string, string>();
  for (const f of buildManifests(o, inputs)) {
    // YAML 1.1 rules for quoting, so parsers of either version (kubectl's is 1.1) read the same values: `yes`,
    // `on`, `0123` and the like stay strings.
    const docs = f.objects.map((obj) => stringify(obj.toJSON(), { lineWidth: 0, version: '1.1' }));
    out.set(f.file, header(o) + docs.join('---\n'));
  }
  const kustomization = {
    apiVersion: 'kustomize.config.k8s.io/v1beta1',
    kind: 'Kustomization',
    resources: [...out.keys()],
  };
  out.set('kustomization.yaml', header(o) + stringify(kustomization, { lineWidth: 0, version: '1.1' }));
  return out;
}

/** Overlay name → (file name → YAML text), for each overlay. */
export function renderAll(
  overlays: readonly Overlay[],
  inputs: RenderInputs = readInputs(),
): Map<string, Map<string, string>> {
  return new Map(overlays.map((o) => [o.name, renderOverlay(o, inputs)]));
}
