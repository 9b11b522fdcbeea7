import type { Static, TObject } from '@sinclair/typebox';
import type { Stage } from '@hookgate/contracts';
import type { Scanner } from './scanner.js';

/** A config problem, with its key path (`scanners.clamav.reply.code`). */
export interface ScannerConfigProblem {
  path: string;
  reason: string;
}

/**
 * How a scanner plugs into a host: everything hookgate needs to configure, place and build it, exported by the
 * scanner's own package next to the plugin (as Haraka keeps a plugin's config defaults with its code). The host
 * lists registrations in one place; from that list it derives its config schema (`scanners.<id>`), the scanner
 * registry, the ids `--scanners` accepts and the worker pools deployments run.
 *
 * The registration declares only the scanner's own keys. The host adds the keys it enforces itself: the failure
 * policy (`required` with the default given here, `onError`, `onTimeout`, `onMissing`, `onUnscanned`,
 * `concurrency`) and, for queued scanners, `queueShards`.
 */
export interface ScannerRegistration<
  Id extends string = string,
  Schema extends TObject = TObject,
  Placement extends 'queue' | 'inline' = 'queue' | 'inline',
  Host = ScannerHost,
  Pool extends boolean = boolean,
> {
  /** Unique id: the key under `scanners.` in the config, the queue name, the name `--scanners` takes. */
  readonly id: Id;
  /** `queue`: runs in worker pools behind a queue; `inline`: runs in the ingress itself (cheap checks on Redis). */
  readonly placement: Placement;
  /** Whether deployments run a worker pool for it (queued scanners only). Default true; false for test scanners. */
  readonly pool?: Pool;
  /** The scanner's own config keys, each with its default; must include `stages`. */
  readonly schema: Schema;
  /** Default of `required`: a required scanner's failure is fail-closed (tempfail), an optional one's fail-open. */
  readonly required: boolean;
  /** Environment variables that set one of its keys: variable name → key (`file`: a secret, `NAME_FILE` works too). */
  readonly env?: Readonly<Record<string, { key: string; file?: true }>>;
  /** Whether this config turns the scanner on, and why (one line for the startup summary). */
  status(config: Static<Schema>): { active: boolean; why: string };
  /** Rules the schema cannot express, as problems under `path` (e.g. `scanners.clamav`). */
  check?(config: Static<Schema>, path: string): ScannerConfigProblem[];
  /** The part of the config that identifies cached results (default: all of it); leave secrets out. */
  cacheIdentity?(config: Static<Schema>): unknown;
  /** The plugin for this config. Called once per process that hosts it. */
  create(config: Static<Schema>, host: Host): Scanner;
}

/** What every host gives `create`. */
export interface ScannerHost {
  /** Key prefix of the deployment's Redis keys (`redis.prefix`). */
  prefix: string;
}

/** The keys every scanner config has. */
export interface ScannerConfigBase {
  stages: Stage[];
}

/**
 * Declares a registration, keeping its id, placement and pool as literal types (so a host's list of registrations
 * types its config and its worker pools by scanner).
 */
export function defineScanner<
  const Id extends string,
  Schema extends TObject,
  const Placement extends 'queue' | 'inline',
  Host = ScannerHost,
  const Pool extends boolean = true,
>(
  registration: ScannerRegistration<Id, Schema, Placement, Host, Pool>,
): ScannerRegistration<Id, Schema, Placement, Host, Pool> {
  return registration;
}
