import { HookgateError, ERR } from '@hookgate/contracts';

/** A daemon address: `tcp://host:port`, `host:port`, `unix:/path` or an absolute socket path. */
export type Endpoint = { kind: 'tcp'; host: string; port: number } | { kind: 'unix'; path: string };

export function parseEndpoint(value: string): Endpoint {
  const v = value.trim();
  if (v.startsWith('/')) return { kind: 'unix', path: v };
  if (v.startsWith('unix:'))
    return { kind: 'unix', path: v.slice('unix:'.length).replace(/^\/\/(?=\/)/, '') };
  const hostPort = v.startsWith('tcp://') ? v.slice('tcp://'.length) : v;
  const m = /^(\[[^\]]+\]|[^:/]+):(\d{1,5})$/.exec(hostPort);
  const port = m ? Number(m[2]) : NaN;
  if (!m || port < 1 || port > 65535) {
    throw new HookgateError(
      ERR.CONFIG_INVALID,
      `invalid endpoint "${value}": expected tcp://host:port or a socket path`,
    );
  }
  return { kind: 'tcp', host: m[1]!.replace(/^\[|\]$/g, ''), port };
}

export function formatEndpoint(e: Endpoint): string {
  return e.kind === 'tcp' ? `tcp://${e.host}:${e.port}` : e.path;
}
