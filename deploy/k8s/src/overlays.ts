/**
 * The overlays: everything that differs between environments, as typed parameters of one generator
 * (docs/adr/0004-kubernetes-manifests.md). Add an environment by adding an entry here and rendering it.
 * Only type imports here, so the tests (which import it as `.js`) and Node (which runs it as `.ts`) both load it.
 */
import type { Overlay, Resources } from './manifests.ts';

const small: Resources = { cpu: '100m', memory: '192Mi', memoryLimit: '384Mi' };

export const dev: Overlay = {
  name: 'dev',
  namespace: 'hookgate-dev',
  registry: 'ghcr.io/hookgate',
  redis: {
    kind: 'in-cluster',
    storage: '2Gi',
    maxmemory: '768mb',
    resources: { cpu: '100m', memory: '1Gi', memoryLimit: '1Gi' },
  },
  secrets: 'placeholders',
  ingress: {
    replicas: { min: 1, max: 3 },
    resources: { cpu: '200m', memory: '256Mi', memoryLimit: '512Mi' },
    cpuTarget: 70,
  },
  milter: { replicas: { min: 1, max: 2 }, resources: small, cpuTarget: 70 },
  workers: {
    default: { replicas: { min: 1, max: 3 }, resources: small, backlogPerReplica: 5 },
    dlp: {
      replicas: { min: 1, max: 3 },
      resources: { cpu: '200m', memory: '256Mi', memoryLimit: '512Mi' },
      backlogPerReplica: 5,
    },
  },
  clamd: {
    replicas: { min: 1, max: 1 },
    resources: { cpu: '500m', memory: '3Gi', memoryLimit: '3Gi' },
    cpuTarget: 70,
  },
  rspamd: { replicas: 1, resources: { cpu: '200m', memory: '512Mi', memoryLimit: '1Gi' } },
  spamd: { replicas: 1, resources: { cpu: '200m', memory: '768Mi', memoryLimit: '1Gi' } },
  mtaCidrs: [],
  monitoring: { namespace: 'monitoring', podLabels: { 'app.kubernetes.io/name': 'prometheus' } },
  otel: { namespace: 'observability', service: 'otel-collector', port: 4318 },
  kedaNamespace: 'keda',
  spread: false,
};

export const prod: Overlay = {
  name: 'prod',
  namespace: 'hookgate',
  registry: 'ghcr.io/hookgate',
  // Managed Redis with TLS in a private subnet; set egressCidrs to that subnet.
  redis: {
    kind: 'external',
    topology: 'standalone',
    tls: true,
    egressCidrs: ['10.0.0.0/8'],
    ports: [6379, 6380],
  },
  secrets: 'external',
  ingress: {
    replicas: { min: 3, max: 20 },
    resources: { cpu: '500m', memory: '512Mi', memoryLimit: '1Gi' },
    cpuTarget: 65,
  },
  milter: {
    replicas: { min: 2, max: 10 },
    resources: { cpu: '250m', memory: '256Mi', memoryLimit: '512Mi' },
    cpuTarget: 65,
  },
  workers: {
    default: {
      replicas: { min: 2, max: 30 },
      resources: { cpu: '250m', memory: '256Mi', memoryLimit: '512Mi' },
      backlogPerReplica: 5,
    },
    dlp: {
      replicas: { min: 2, max: 30 },
      resources: { cpu: '500m', memory: '512Mi', memoryLimit: '1Gi' },
      backlogPerReplica: 5,
    },
  },
  clamd: {
    replicas: { min: 2, max: 12 },
    resources: { cpu: '1', memory: '3Gi', memoryLimit: '3Gi' },
    cpuTarget: 70,
  },
  rspamd: { replicas: 2, resources: { cpu: '500m', memory: '1Gi', memoryLimit: '2Gi' } },
  spamd: { replicas: 2, resources: { cpu: '1', memory: '1Gi', memoryLimit: '1536Mi' } },
  mtaCidrs: [],
  monitoring: { namespace: 'monitoring', podLabels: { 'app.kubernetes.io/name': 'prometheus' } },
  otel: { namespace: 'observability', service: 'otel-collector', port: 4318 },
  kedaNamespace: 'keda',
  spread: true,
};

/** The overlays rendered to deploy/k8s/rendered/<name>/. */
export const OVERLAYS: Record<string, Overlay> = { dev, prod };
