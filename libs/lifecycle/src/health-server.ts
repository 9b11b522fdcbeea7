import { createServer, type IncomingMessage, type ServerResponse } from 'node:http';

export interface HealthServerOptions {
  host: string;
  port: number;
  isReady: () => boolean;
  /** Details /readyz adds to its status; they never change the status code. */
  readiness?: () => object;
  /** Serves GET /metrics when given. */
  metricsHandler?: (req: IncomingMessage, res: ServerResponse) => void;
}

/**
 * A small HTTP server for processes without an HTTP frontend (workers, milter): /healthz (liveness), /readyz
 * (readiness) and /metrics. Nothing else is served.
 */
export async function startHealthServer(
  o: HealthServerOptions,
): Promise<{ url: string; close(): Promise<void> }> {
  const server = createServer((req, res) => {
    const path = (req.url ?? '/').split('?')[0];
    if (req.method !== 'GET') {
      res.writeHead(405).end();
      return;
    }
    if (path === '/healthz') {
      res.writeHead(200, { 'content-type': 'application/json' }).end('{"status":"ok"}');
    } else if (path === '/readyz') {
      const ready = o.isReady();
      res
        .writeHead(ready ? 200 : 503, { 'content-type': 'application/json' })
        .end(JSON.stringify({ status: ready ? 'ready' : 'not ready', ...o.readiness?.() }));
    } else if (path === '/metrics' && o.metricsHandler) {
      o.metricsHandler(req, res);
    } else {
      res.writeHead(404).end();
    }
  });
  server.keepAliveTimeout = 5000;
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(o.port, o.host, () => resolve());
  });
  const addr = server.address();
  const port = typeof addr === 'object' && addr ? addr.port : o.port;
  return {
    url: `http://${o.host.includes(':') ? `[${o.host}]` : o.host}:${port}`,
    close: () =>
      new Promise<void>((resolve) => {
        server.close(() => resolve());
        server.closeIdleConnections();
      }),
  };
}
