import type { RedisTarget } from '@hookgate/redis';
import type { HookgateConfig } from './config.js';

const hostPort = (s: string) => {
  const i = s.lastIndexOf(':');
  return { host: s.slice(0, i), port: Number(s.slice(i + 1)) };
};

/** The Redis deployment the config names, or undefined when none is configured. */
export function redisTarget(config: HookgateConfig): RedisTarget | undefined {
  const r = config.redis;
  const password = r.password ? { password: r.password } : {};
  if (r.cluster) return { mode: 'cluster', nodes: r.cluster.map(hostPort), ...password };
  if (r.sentinels)
    return {
      mode: 'sentinel',
      sentinels: r.sentinels.map(hostPort),
      name: r.sentinelName ?? 'mymaster',
      ...password,
    };
  if (r.url) return { mode: 'standalone', url: r.url };
  return undefined;
}

/** A target for display: never the password. */
export function describeTarget(t: RedisTarget): string {
  switch (t.mode) {
    case 'standalone': {
      const u = new URL(t.url);
      u.password = '';
      u.username = '';
      return u.toString();
    }
    case 'cluster':
      return `cluster ${t.nodes.map((n) => `${n.host}:${n.port}`).join(',')}`;
    case 'sentinel':
      return `sentinel ${t.name} via ${t.sentinels.map((n) => `${n.host}:${n.port}`).join(',')}`;
  }
}
