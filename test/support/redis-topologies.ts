/**
 * Private Redis Cluster and Redis Sentinel deployments for tests: every server on free loopback ports in its own
 * temp dir, started by the test command and stopped by the returned `stop()`. Nothing here touches the machine's
 * shared Redis. Waits are on observable state (CLUSTER INFO, SENTINEL answers), never on elapsed time.
 */
import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
import { rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { Redis } from 'ioredis';
import { freePort, requireBinary, tempDir, waitUntil, stopChild } from './daemons.js';

export interface HostPort {
  host: string;
  port: number;
}

/** One redis-server child. */
export interface RedisNode extends HostPort {
  dir: string;
  child: ChildProcess;
  /** A short-lived control connection: runs `fn`, then disconnects. */
  with<T>(fn: (r: Redis) => Promise<T>): Promise<T>;
  /** SIGTERM and wait for exit (the data dir is kept). */
  stop(): Promise<void>;
}

const LOOPBACK = '127.0.0.1';

function exited(child: ChildProcess): boolean {
  return child.exitCode !== null || child.signalCode !== null;
}

async function control<T>(node: HostPort, fn: (r: Redis) => Promise<T>): Promise<T> {
  const r = new Redis({
    host: node.host,
    port: node.port,
    lazyConnect: true,
    maxRetriesPerRequest: 0,
    retryStrategy: () => null,
    connectTimeout: 2000,
  });
  r.on('error', () => undefined);
  try {
    await r.connect();
    return await fn(r);
  } finally {
    r.disconnect();
  }
}

async function ping(node: HostPort): Promise<boolean> {
  return control(node, async (r) => (await r.ping()) === 'PONG').catch(() => false);
}

/**
 * Starts one redis-server with the production settings hookgate documents (`noeviction`), on a free port.
 * `args` are extra `--name value` arguments (cluster mode, persistence, replicaof...).
 */
export async function startRedisNode(args: string[] = [], dir = tempDir('redis-node')): Promise<RedisNode> {
  requireBinary('redis-server', 'redis-server');
  // A free port can be taken by someone else before redis-server binds it: try again on another one.
  for (let attempt = 1; ; attempt++) {
    try {
      return await launchRedisNode(args, dir);
    } catch (err) {
      if (attempt >= 3) throw err;
    }
  }
}

async function launchRedisNode(args: string[], dir: string): Promise<RedisNode> {
  const port = await freePort();
  const base = [
    '--bind',
    LOOPBACK,
    '--port',
    String(port),
    '--dir',
    dir,
    '--save',
    '',
    '--appendonly',
    'no',
    '--maxmemory-policy',
    'noeviction',
    '--loglevel',
    'warning',
    '--logfile',
    join(dir, 'redis.log'),
  ];
  const child = spawn('redis-server', [...base, ...args], { stdio: 'ignore' });
  const node: RedisNode = {
    host: LOOPBACK,
    port,
    dir,
    child,
    with: (fn) => control(node, fn),
    stop: () => stopChild(child),
  };
  await waitUntil(
    async () => {
      if (exited(child))
        throw new Error(
          `redis-server ${args.join(' ')} exited with ${child.exitCode}; see ${join(dir, 'redis.log')}`,
        );
      return ping(node);
    },
    10_000,
    `redis-server on ${port}`,
  ).catch((err: unknown) => {
    child.kill('SIGKILL');
    throw err;
  });
  return node;
}

/** `INFO <section>` as a map of fields. */
export function parseInfo(text: string): Record<string, string> {
  const out: Record<string, string> = {};
  for (const line of text.split('\r\n')) {
    const i = line.indexOf(':');
    if (i > 0 && !line.startsWith('#')) out[line.slice(0, i)] = line.slice(i + 1);
  }
  return out;
}

/** `INFO commandstats` as calls per command (`evalsha`, `hset`, ...). */
export function parseCommandStats(text: string): Record<string, number> {
  const out: Record<string, number> = {};
  for (const [k, v] of Object.entries(parseInfo(text))) {
    const m = /^cmdstat_(.+)$/.exec(k);
    const calls = /calls=(\d+)/.exec(v);
    if (m && calls) out[m[1]!] = Number(calls[1]);
  }
  return out;
}

// ---------------------------------------------------------------------------------------------------------------
// Cluster

export interface RedisCluster {
  nodes: RedisNode[];
  /** `host:port,host:port,...`: the value of HOOKGATE_REDIS_CLUSTER. */
  seeds: string;
  /** Ports of the nodes that own slots now, with their slot ranges. */
  masters(): Promise<{ port: number; slots: [number, number][] }[]>;
  /** Keys matching `pattern` on each master, by port (SCAN on every master: each holds only its own slots; replicas are left out). */
  keysByNode(pattern: string): Promise<Map<number, string[]>>;
  /** `INFO commandstats` of each master now, by port. */
  commandStatsByMaster(): Promise<Map<number, Record<string, number>>>;
  /**
   * Kills the master at `port` (SIGKILL: no goodbye to the cluster) and resolves once a replica has taken over
   * its slots and every live node reports `cluster_state:ok`; returns the new owner's port.
   */
  killMaster(port: number): Promise<number>;
  /** `INFO errorstats` summed over every node: `{ CROSSSLOT: n, MOVED: n, ... }`. */
  errorStats(): Promise<Record<string, number>>;
  /** `INFO commandstats` summed over every node. */
  commandStats(): Promise<Record<string, number>>;
  /** Channels with subscribers, per node (`PUBSUB CHANNELS` is node-local in a Cluster). */
  channelsByNode(pattern: string): Promise<Map<number, string[]>>;
  /** Sharded channels with subscribers, per master (`PUBSUB SHARDCHANNELS`: only on the shard owning the channel). */
  shardChannelsByNode(pattern: string): Promise<Map<number, string[]>>;
  stop(): Promise<void>;
}

/**
 * A Redis Cluster of `masters` masters (and `replicasPerMaster` replicas each), created with
 * `redis-cli --cluster create`. Ready once every node reports `cluster_state:ok` and knows every other node.
 * The cluster bus port of each node is a second free port (`--cluster-port`), so nothing depends on port + 10000
 * being free.
 */
export async function startRedisCluster(
  options: { masters?: number; replicasPerMaster?: number } = {},
): Promise<RedisCluster> {
  requireBinary('redis-cli', 'redis-tools');
  const masters = options.masters ?? 3;
  const replicas = options.replicasPerMaster ?? 0;
  const count = masters * (1 + replicas);
  const nodes: RedisNode[] = [];
  const stopAll = async () => {
    await Promise.all(nodes.map((n) => n.stop()));
    for (const n of nodes) rmSync(n.dir, { recursive: true, force: true });
  };
  try {
    for (let i = 0; i < count; i++) {
      const busPort = await freePort();
      nodes.push(
        await startRedisNode(
          [
            '--cluster-enabled',
            'yes',
            '--cluster-config-file',
            'nodes.conf',
            '--cluster-port',
            String(busPort),
            '--cluster-node-timeout',
            '3000',
            // A test cluster must serve even while a slot range is briefly without an owner.
            '--cluster-require-full-coverage',
            'no',
          ],
          tempDir(`cluster-${i}`),
        ),
      );
    }
    const addrs = nodes.map((n) => `${n.host}:${n.port}`);
    const r = spawnSync(
      'redis-cli',
      ['--cluster', 'create', ...addrs, '--cluster-replicas', String(replicas), '--cluster-yes'],
      { encoding: 'utf8', timeout: 60_000 },
    );
    if (r.status !== 0)
      throw new Error(`redis-cli --cluster create failed (${r.status}): ${r.stdout}\n${r.stderr}`);
    await waitUntil(
      async () => {
        const infos = await Promise.all(nodes.map((n) => n.with((c) => c.cluster('INFO')).catch(() => '')));
        return infos.every((t) => {
          const i = parseInfo(String(t));
          return (
            i.cluster_state === 'ok' &&
            i.cluster_slots_assigned === '16384' &&
            Number(i.cluster_known_nodes) === count
          );
        });
      },
      30_000,
      'redis cluster_state:ok on every node',
    );
    if (replicas > 0) {
      await waitUntil(
        async () => {
          const infos = await Promise.all(
            nodes.map((n) => n.with((c) => c.info('replication')).catch(() => '')),
          );
          const repl = infos.map(parseInfo);
          return (
            repl.filter((i) => i.role === 'slave').length === masters * replicas &&
            repl.every((i) => i.role !== 'slave' || i.master_link_status === 'up')
          );
        },
        30_000,
        'cluster replicas in sync',
      );
    }
  } catch (err) {
    await stopAll();
    throw err;
  }

  const sumOver = async (section: string, parse: (t: string) => Record<string, number>) => {
    const total: Record<string, number> = {};
    for (const n of nodes.filter((x) => !exited(x.child))) {
      const part = parse(await n.with((c) => c.info(section)));
      for (const [k, v] of Object.entries(part)) total[k] = (total[k] ?? 0) + v;
    }
    return total;
  };

  const live = () => nodes.filter((n) => !exited(n.child));
  const masterNodes = async () => {
    const roles = await Promise.all(
      live().map(
        async (n) => [n, parseInfo(await n.with((c) => c.info('replication')).catch(() => '')).role] as const,
      ),
    );
    return roles.filter(([, role]) => role === 'master').map(([n]) => n);
  };
  const slotOwners = async (): Promise<Map<number, [number, number][]>> => {
    const slots = (await live()[0]!.with((c) => c.cluster('SLOTS'))) as unknown as [
      number,
      number,
      [string, number, string],
    ][];
    const byPort = new Map<number, [number, number][]>();
    for (const [from, to, [, port]] of slots) byPort.set(port, [...(byPort.get(port) ?? []), [from, to]]);
    return byPort;
  };

  return {
    nodes,
    seeds: nodes.map((n) => `${n.host}:${n.port}`).join(','),
    async commandStatsByMaster() {
      const out = new Map<number, Record<string, number>>();
      for (const n of await masterNodes())
        out.set(n.port, parseCommandStats(await n.with((c) => c.info('commandstats'))));
      return out;
    },
    async killMaster(port) {
      const node = nodes.find((n) => n.port === port);
      if (!node) throw new Error(`no node on port ${port}`);
      const owned = (await slotOwners()).get(port);
      if (!owned) throw new Error(`node ${port} owns no slots`);
      node.child.kill('SIGKILL');
      await waitUntil(() => exited(node.child), 10_000, `redis-server ${port} gone`);
      let owner = 0;
      await waitUntil(
        async () => {
          const infos = await Promise.all(
            live().map((n) => n.with((c) => c.cluster('INFO')).catch(() => '')),
          );
          if (!infos.every((t) => parseInfo(String(t)).cluster_state === 'ok')) return false;
          const owners = await slotOwners().catch(() => new Map<number, [number, number][]>());
          const [from] = owned[0]!;
          for (const [p, ranges] of owners)
            if (p !== port && ranges.some(([a, b]) => a <= from && from <= b)) owner = p;
          return owner !== 0;
        },
        30_000,
        `a replica promoted in place of ${port}`,
      );
      return owner;
    },
    async masters() {
      const slots = (await live()[0]!.with((c) => c.cluster('SLOTS'))) as unknown as [
        number,
        number,
        [string, number, string],
      ][];
      const byPort = new Map<number, [number, number][]>();
      for (const [from, to, [, port]] of slots) byPort.set(port, [...(byPort.get(port) ?? []), [from, to]]);
      return [...byPort.entries()].map(([port, s]) => ({ port, slots: s }));
    },
    async keysByNode(pattern) {
      const out = new Map<number, string[]>();
      for (const n of await masterNodes()) {
        const keys: string[] = [];
        await n.with(async (c) => {
          let cursor = '0';
          do {
            const [next, batch] = await c.scan(cursor, 'MATCH', pattern, 'COUNT', 1000);
            cursor = next;
            keys.push(...batch);
          } while (cursor !== '0');
        });
        out.set(n.port, keys);
      }
      return out;
    },
    errorStats: () =>
      sumOver('errorstats', (t) => {
        const out: Record<string, number> = {};
        for (const [k, v] of Object.entries(parseInfo(t))) {
          const m = /^errorstat_(.+)$/.exec(k);
          const count = /count=(\d+)/.exec(v);
          if (m && count) out[m[1]!] = Number(count[1]);
        }
        return out;
      }),
    commandStats: () => sumOver('commandstats', parseCommandStats),
    async channelsByNode(pattern) {
      const out = new Map<number, string[]>();
      for (const n of live())
        out.set(n.port, (await n.with((c) => c.pubsub('CHANNELS', pattern))) as string[]);
      return out;
    },
    async shardChannelsByNode(pattern) {
      const out = new Map<number, string[]>();
      for (const n of await masterNodes())
        out.set(n.port, (await n.with((c) => c.call('PUBSUB', 'SHARDCHANNELS', pattern))) as string[]);
      return out;
    },
    stop: stopAll,
  };
}

// ---------------------------------------------------------------------------------------------------------------
// Sentinel

export interface RedisSentinel {
  /** The master group name (HOOKGATE_REDIS_SENTINEL_NAME). */
  name: string;
  /** `host:port,...` of the sentinels (HOOKGATE_REDIS_SENTINELS). */
  seeds: string;
  sentinels: RedisNode[];
  /** The data nodes (first: the initial master, then replicas). */
  servers: RedisNode[];
  /** The master's address as the sentinels report it now. */
  master(): Promise<HostPort>;
  /** The data node that is master now. */
  masterNode(): Promise<RedisNode>;
  /**
   * Forces a failover (`SENTINEL FAILOVER`) and resolves once every sentinel reports the new master and the new
   * master says `role:master`; returns the new master's address.
   */
  failover(): Promise<HostPort>;
  stop(): Promise<void>;
}

/**
 * A master, `replicas` replicas (default 1) and `sentinels` sentinels (default 3, quorum 2), all on loopback.
 * Ready once every replica's link is up and every sentinel knows the master, every replica and every other
 * sentinel, so a failover can start at once.
 */
export async function startRedisSentinel(
  options: { replicas?: number; sentinels?: number; name?: string; downAfterMs?: number } = {},
): Promise<RedisSentinel> {
  requireBinary('redis-server', 'redis-server');
  const name = options.name ?? 'hgmaster';
  const replicaCount = options.replicas ?? 1;
  const sentinelCount = options.sentinels ?? 3;
  const quorum = Math.floor(sentinelCount / 2) + 1;
  const servers: RedisNode[] = [];
  const sentinels: RedisNode[] = [];
  const stopAll = async () => {
    await Promise.all(sentinels.map((s) => s.stop()));
    await Promise.all(servers.map((s) => s.stop()));
    for (const n of [...sentinels, ...servers]) rmSync(n.dir, { recursive: true, force: true });
  };
  try {
    const master = await startRedisNode([], tempDir('sentinel-master'));
    servers.push(master);
    for (let i = 0; i < replicaCount; i++) {
      servers.push(
        await startRedisNode(
          ['--replicaof', master.host, String(master.port)],
          tempDir(`sentinel-replica-${i}`),
        ),
      );
    }
    await waitUntil(
      async () => {
        const infos = await Promise.all(
          servers.slice(1).map((s) => s.with((c) => c.info('replication')).catch(() => '')),
        );
        return infos.every((t) => parseInfo(t).master_link_status === 'up');
      },
      15_000,
      'replica links up',
    );
    for (let i = 0; i < sentinelCount; i++) {
      const dir = tempDir(`sentinel-${i}`);
      const conf = join(dir, 'sentinel.conf');
      // A sentinel rewrites its config file: it must be its own, writable.
      writeFileSync(
        conf,
        [
          `sentinel monitor ${name} ${master.host} ${master.port} ${quorum}`,
          `sentinel down-after-milliseconds ${name} ${options.downAfterMs ?? 2000}`,
          `sentinel failover-timeout ${name} 10000`,
          `sentinel parallel-syncs ${name} 1`,
          '',
        ].join('\n'),
      );
      const node = await startRedisNodeWithConfig(conf, dir, ['--sentinel']);
      sentinels.push(node);
    }
    await waitUntil(
      async () => {
        const views = await Promise.all(
          sentinels.map((s) =>
            s
              .with(async (c) => {
                const m = (await c.call('SENTINEL', 'MASTER', name)) as string[];
                const replicas = (await c.call('SENTINEL', 'REPLICAS', name)) as string[][];
                return { m: pairs(m), replicas: replicas.map(pairs) };
              })
              .catch(() => undefined),
          ),
        );
        return views.every(
          (v) =>
            v !== undefined &&
            v.m.flags === 'master' &&
            Number(v.m['num-other-sentinels']) === sentinelCount - 1 &&
            v.replicas.length === replicaCount &&
            v.replicas.every((r) => r.flags === 'slave' && r['master-link-status'] === 'ok'),
        );
      },
      30_000,
      `sentinels monitoring ${name}`,
    );
  } catch (err) {
    await stopAll();
    throw err;
  }

  const master = async (): Promise<HostPort> => {
    const [host, port] = (await sentinels[0]!.with((c) =>
      c.call('SENTINEL', 'GET-MASTER-ADDR-BY-NAME', name),
    )) as [string, string];
    return { host, port: Number(port) };
  };
  return {
    name,
    seeds: sentinels.map((s) => `${s.host}:${s.port}`).join(','),
    sentinels,
    servers,
    master,
    async masterNode() {
      const m = await master();
      const node = servers.find((s) => s.port === m.port);
      if (!node) throw new Error(`master ${m.host}:${m.port} is none of ours`);
      return node;
    },
    async failover() {
      const before = await master();
      await sentinels[0]!.with((c) => c.call('SENTINEL', 'FAILOVER', name));
      let after: HostPort = before;
      await waitUntil(
        async () => {
          const views = await Promise.all(
            sentinels.map((s) =>
              s.with((c) => c.call('SENTINEL', 'GET-MASTER-ADDR-BY-NAME', name)).catch(() => undefined),
            ),
          );
          const ports = new Set(views.map((v) => (v ? Number((v as string[])[1]) : -1)));
          if (ports.size !== 1 || ports.has(before.port) || ports.has(-1)) return false;
          after = { host: before.host, port: [...ports][0]! };
          const node = servers.find((s) => s.port === after.port);
          return node ? parseInfo(await node.with((c) => c.info('replication'))).role === 'master' : false;
        },
        30_000,
        `failover of ${name}`,
      );
      return after;
    },
    stop: stopAll,
  };
}

/** A redis-server (or sentinel) from a config file, on the port it gets here. */
async function startRedisNodeWithConfig(conf: string, dir: string, extra: string[]): Promise<RedisNode> {
  for (let attempt = 1; ; attempt++) {
    try {
      return await launchWithConfig(conf, dir, extra);
    } catch (err) {
      if (attempt >= 3) throw err;
    }
  }
}

async function launchWithConfig(conf: string, dir: string, extra: string[]): Promise<RedisNode> {
  const port = await freePort();
  const child = spawn(
    'redis-server',
    [
      conf,
      ...extra,
      '--bind',
      LOOPBACK,
      '--port',
      String(port),
      '--dir',
      dir,
      '--loglevel',
      'warning',
      '--logfile',
      join(dir, 'redis.log'),
    ],
    { stdio: 'ignore' },
  );
  const node: RedisNode = {
    host: LOOPBACK,
    port,
    dir,
    child,
    with: (fn) => control(node, fn),
    stop: () => stopChild(child),
  };
  await waitUntil(
    async () => {
      if (exited(child))
        throw new Error(`redis-server ${conf} exited with ${child.exitCode}; see ${join(dir, 'redis.log')}`);
      return ping(node);
    },
    10_000,
    `redis ${extra.join(' ')} on ${port}`,
  ).catch((err: unknown) => {
    child.kill('SIGKILL');
    throw err;
  });
  return node;
}

function pairs(flat: string[]): Record<string, string> {
  const out: Record<string, string> = {};
  for (let i = 0; i + 1 < flat.length; i += 2) out[flat[i]!] = flat[i + 1]!;
  return out;
}
