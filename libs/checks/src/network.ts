import { isIPv4, isIPv6 } from 'node:net';

/**
 * The client's network for greylisting: /24 for IPv4 and /64 for IPv6, because large senders retry from another
 * address of the same pool (configurable prefix lengths).
 */
export function clientNetwork(ip: string, v4Prefix = 24, v6Prefix = 64): string {
  const v4 = /^::ffff:(\d+\.\d+\.\d+\.\d+)$/i.exec(ip)?.[1] ?? ip;
  if (isIPv4(v4)) {
    const n = v4.split('.').reduce((acc, o) => (acc << 8) + Number(o), 0) >>> 0;
    const masked = v4Prefix === 0 ? 0 : (n & (0xffffffff << (32 - v4Prefix))) >>> 0;
    return `${[24, 16, 8, 0].map((s) => (masked >>> s) & 255).join('.')}/${v4Prefix}`;
  }
  if (isIPv6(ip)) {
    const groups = expandV6(ip);
    const bits = groups
      .map((g) => g.toString(2).padStart(16, '0'))
      .join('')
      .slice(0, v6Prefix)
      .padEnd(128, '0');
    const out = Array.from({ length: 8 }, (_, i) =>
      parseInt(bits.slice(i * 16, i * 16 + 16), 2).toString(16),
    );
    return `${out.join(':')}/${v6Prefix}`;
  }
  return ip;
}

function expandV6(ip: string): number[] {
  const [head, tail] = ip.split('::') as [string, string | undefined];
  const h = head ? head.split(':') : [];
  const t = tail ? tail.split(':') : [];
  const fill = new Array<string>(8 - h.length - t.length).fill('0');
  return [...h, ...(tail !== undefined ? fill : []), ...t].map((g) => parseInt(g || '0', 16));
}
