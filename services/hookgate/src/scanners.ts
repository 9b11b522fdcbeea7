/**
 * The scanners hookgate knows, listed once (`SCANNERS`), and everything derived from that list: the `scanners`
 * section of the config schema, the registry of what the config activates (routes for the ingress, plugins for
 * workers), the ids `--scanners` accepts and the worker pools deployments run (deploy/k8s reads `WORKER_POOLS`).
 * Ingress and workers read the same config, so they agree on what is expected at each stage.
 *
 * Adding a scanner is one package exporting its registration plus one line in `SCANNERS` (docs/scanners.md).
 */
import { createHash } from 'node:crypto';
import { Type, type Static, type TObject, type TProperties } from '@sinclair/typebox';
import {
  FAILURE_ACTIONS,
  UNSCANNED_ACTIONS,
  literals,
  type ScannerPolicy,
  type Stage,
} from '@hookgate/contracts';
import { scannerPolicy } from '@hookgate/verdict';
import type { RedisClient } from '@hookgate/redis';
import { MAX_QUEUE_SHARDS } from '@hookgate/queue/shards';
import { greylistRegistration, rateLimitRegistration } from '@hookgate/checks';
import {
  noopRegistration,
  type Scanner,
  type ScannerConfigProblem,
  type ScannerRegistration,
} from '@hookgate/scanner-sdk';
import { clamavRegistration } from '@hookgate/scanner-av';
import { rspamdRegistration, spamdRegistration } from '@hookgate/scanner-spam';
import { dlpRegistration } from '@hookgate/scanner-dlp';
import type { ScannerRoute } from '@hookgate/pipeline';

/** Every scanner, one line each, in the order the config, the usage text and deployments list them. */
export const SCANNERS = [
  clamavRegistration,
  rspamdRegistration,
  spamdRegistration,
  dlpRegistration,
  greylistRegistration,
  rateLimitRegistration,
  noopRegistration,
] as const;

type Registration = (typeof SCANNERS)[number];
export type ScannerId = Registration['id'];
export const SCANNER_IDS: readonly ScannerId[] = SCANNERS.map((s) => s.id);

/** Queued scanners that get a worker pool of their own in deployments (the noop scanner does not). */
type PoolOf<R> = R extends { placement: 'queue'; pool?: true; id: infer Id } ? Id : never;
export type WorkerPool = PoolOf<Registration>;
export const WORKER_POOLS = SCANNERS.filter((s) => s.placement === 'queue' && s.pool !== false).map(
  (s) => s.id,
) as WorkerPool[];

// ---------------------------------------------------------------------------------------------------------------
// Config: each scanner's own keys, then the keys the host enforces

/** How a scanner's failure counts (the host, not the plugin, decides it). */
const failurePolicy = (required: boolean) => ({
  required: Type.Boolean({ default: required }),
  onError: Type.Optional(literals(FAILURE_ACTIONS)),
  onTimeout: Type.Optional(literals(FAILURE_ACTIONS)),
  onMissing: Type.Optional(literals(FAILURE_ACTIONS)),
  onUnscanned: Type.Optional(literals(UNSCANNED_ACTIONS)),
  concurrency: Type.Integer({ minimum: 1, maximum: 1000, default: 8 }),
});

/**
 * Keys of scanners that run in worker pools behind a queue. `queueShards` splits the queue into that many BullMQ
 * queues, each its own Cluster slot (issue 13); 1 (the default) is the single queue of earlier versions.
 */
const queued = {
  queueShards: Type.Integer({ minimum: 1, maximum: MAX_QUEUE_SHARDS, default: 1 }),
};

type SectionProps<R> = R extends { schema: TObject<infer P>; placement: infer Placement }
  ? P & ReturnType<typeof failurePolicy> & (Placement extends 'queue' ? typeof queued : unknown)
  : never;

/** `scanners.<id>`: the registration's keys, the failure policy, and `queueShards` for queued scanners. */
function sectionSchema(r: Registration): TObject {
  return Type.Object(
    { ...r.schema.properties, ...failurePolicy(r.required), ...(r.placement === 'queue' ? queued : {}) },
    { default: {} },
  );
}

/** The `scanners` section of the config, derived from `SCANNERS`. */
export const ScannersSchema = Type.Object(
  Object.fromEntries(SCANNERS.map((r) => [r.id, sectionSchema(r)])) as TProperties,
  { default: {} },
) as unknown as TObject<{
  [R in Registration as R['id']]: TObject<SectionProps<R>>;
}>;
export type ScannersConfig = Static<typeof ScannersSchema>;

/** Environment variables the scanners declare, as `name → key` under `scanners.`. */
export const SCANNER_ENV: Readonly<Record<string, { key: string; file?: true }>> = Object.fromEntries(
  SCANNERS.flatMap((r) =>
    Object.entries(('env' in r ? r.env : undefined) ?? {}).map(([name, v]) => [
      name,
      { ...v, key: `scanners.${r.id}.${v.key}` },
    ]),
  ),
);

/** The config rules each scanner states beyond its schema. */
export function checkScanners(scanners: ScannersConfig): ScannerConfigProblem[] {
  return SCANNERS.flatMap((r) => loose(r).check?.(scanners[r.id], `scanners.${r.id}`) ?? []);
}

// ---------------------------------------------------------------------------------------------------------------
// Registry

export interface ScannerEntry {
  id: ScannerId;
  /** Inactive scanners are neither expected by the ingress nor hosted by workers. */
  active: boolean;
  /** Why it is (in)active, for the startup summary. */
  why: string;
  stages: readonly Stage[];
  policy: ScannerPolicy;
  concurrency: number;
  /** Shards of a queued scanner's queue (`scanners.<id>.queueShards`); 1 for inline checks. */
  queueShards: number;
  /** Queued scanners run in worker pools; inline checks run in the ingress itself, on its Redis client. */
  placement: 'queue' | 'inline';
  create: (redis?: RedisClient) => Scanner;
  /** Identifies the scanner's configuration, so cached results of another configuration are never reused. */
  configVersion: string;
}

/** A section as the host reads it: the keys every scanner config has, plus the host's own. */
type Section = Record<string, unknown> &
  Parameters<typeof scannerPolicy>[1] & { stages: Stage[]; concurrency: number; queueShards?: number };
type LooseRegistration = ScannerRegistration<
  ScannerId,
  TObject,
  'queue' | 'inline',
  { prefix: string; redis?: RedisClient }
>;

/** A registration with its config typed as the host reads it (the list's union is typed per scanner above). */
const loose = (r: Registration) =>
  r as unknown as LooseRegistration & { check?: (c: unknown, path: string) => ScannerConfigProblem[] };

function version(section: unknown): string {
  return createHash('sha256').update(JSON.stringify(section)).digest('base64url').slice(0, 12);
}

export function scannerRegistry(config: {
  scanners: ScannersConfig;
  redis: { prefix: string };
}): ScannerEntry[] {
  return SCANNERS.map((registration) => {
    const r = loose(registration);
    const section = config.scanners[r.id] as Section;
    const { active, why } = r.status(section);
    const inQueue = r.placement === 'queue';
    return {
      id: r.id,
      active,
      why,
      stages: section.stages,
      policy: scannerPolicy(r.id, section),
      concurrency: inQueue ? section.concurrency : 1,
      queueShards: inQueue ? (section.queueShards ?? 1) : 1,
      placement: r.placement,
      configVersion: version(r.cacheIdentity ? r.cacheIdentity(section) : section),
      create: (redis) => r.create(section, { prefix: config.redis.prefix, ...(redis ? { redis } : {}) }),
    };
  });
}

/** Queue shards of every active queued scanner, by id (what producers and depth readers need). */
export function queueShardsOf(entries: readonly ScannerEntry[]): Record<string, number> {
  return Object.fromEntries(
    entries.filter((e) => e.active && e.placement === 'queue').map((e) => [e.id, e.queueShards]),
  );
}

/** Routes of the active queued scanners: what the ingress fans out to. */
export function routesOf(entries: readonly ScannerEntry[]): ScannerRoute[] {
  return entries
    .filter((e) => e.active && e.placement === 'queue')
    .map((e) => ({ id: e.id, stages: e.stages, policy: e.policy }));
}
