import { BlockList, isIPv4, isIPv6 } from 'node:net';
import type { PolicyMatch, PolicyRule, StageRequest } from '@hookgate/contracts';

/** A rule with its networks parsed once. */
export interface CompiledRule extends PolicyRule {
  networks?: BlockList;
}

/** Parses CIDR networks; returns the problems (for config validation) instead of throwing. */
export function compileRules(rules: readonly PolicyRule[]): {
  rules: CompiledRule[];
  problems: { path: string; reason: string }[];
} {
  const problems: { path: string; reason: string }[] = [];
  const compiled = rules.map((rule, i): CompiledRule => {
    const nets = rule.match.clientNetworks;
    if (!nets?.length) return { ...rule };
    const list = new BlockList();
    nets.forEach((cidr, j) => {
      const [addr, bits] = cidr.split('/');
      const family = addr && isIPv4(addr) ? 'ipv4' : addr && isIPv6(addr) ? 'ipv6' : undefined;
      const prefix = bits === undefined ? (family === 'ipv4' ? 32 : 128) : Number(bits);
      if (!family || !Number.isInteger(prefix) || prefix < 0 || prefix > (family === 'ipv4' ? 32 : 128)) {
        problems.push({
          path: `rules.${i}.match.clientNetworks.${j}`,
          reason: `"${cidr}" is not an IP network (e.g. 192.0.2.0/24 or 2001:db8::/32)`,
        });
        return;
      }
      list.addSubnet(addr!, prefix, family);
    });
    return { ...rule, networks: list };
  });
  return { rules: compiled, problems };
}

function domainOf(address: string): string {
  const at = address.lastIndexOf('@');
  return at < 0 ? '' : address.slice(at + 1).toLowerCase();
}

/** `example.com` matches itself and its subdomains; `""` matches only the null sender / no domain. */
function domainMatches(domain: string, patterns: readonly string[]): boolean {
  return patterns.some((p) => {
    const d = p.toLowerCase().replace(/^\./, '');
    return d === '' ? domain === '' : domain === d || domain.endsWith(`.${d}`);
  });
}

function ipMatches(ip: string, list: BlockList): boolean {
  const v4mapped = /^::ffff:(\d+\.\d+\.\d+\.\d+)$/i.exec(ip)?.[1];
  const addr = v4mapped ?? ip;
  if (isIPv4(addr)) return list.check(addr, 'ipv4');
  if (isIPv6(addr)) return list.check(addr, 'ipv6');
  return false;
}

/** Whether every condition of `match` holds for the request. */
export function matches(match: PolicyMatch, networks: BlockList | undefined, request: StageRequest): boolean {
  if (match.direction && match.direction !== (request.auth ? 'outbound' : 'inbound')) return false;
  if (match.stages && !match.stages.includes(request.stage)) return false;
  if (match.senderDomains) {
    if (!request.from) return false;
    if (!domainMatches(domainOf(request.from.address), match.senderDomains)) return false;
  }
  if (match.recipientDomains) {
    const rcpts = request.rcpt ? [request.rcpt] : (request.to ?? []).map((t) => t.address);
    if (!rcpts.some((r) => domainMatches(domainOf(r), match.recipientDomains!))) return false;
  }
  if (networks && !ipMatches(request.client.ip, networks)) return false;
  if (match.minSizeBytes !== undefined || match.maxSizeBytes !== undefined) {
    const size = request.message?.size;
    if (size === undefined) return false;
    if (match.minSizeBytes !== undefined && size < match.minSizeBytes) return false;
    if (match.maxSizeBytes !== undefined && size > match.maxSizeBytes) return false;
  }
  return true;
}

/** The first rule that matches wins; none → the `default` bank. */
export function selectPolicy(
  rules: readonly CompiledRule[],
  request: StageRequest,
): { rule: string; policy: string } {
  for (const r of rules) if (matches(r.match, r.networks, request)) return { rule: r.name, policy: r.policy };
  return { rule: 'default', policy: 'default' };
}
