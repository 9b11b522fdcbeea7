import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import { checkRspamd, pingRspamd } from '@hookgate/scanner-spam';
import { freePort } from '../../../test/support/daemons.js';

/** A fake rspamd: records what arrives and answers what the test asks for. */
let server: Server;
let base: string;
let answer: (req: IncomingMessage, res: ServerResponse, body: Buffer) => void;
const seen: { method?: string; url?: string; rawHeaders: string[]; body: Buffer }[] = [];

beforeAll(async () => {
  server = createServer((req, res) => {
    const chunks: Buffer[] = [];
    req.on('data', (b: Buffer) => chunks.push(b));
    req.on('end', () => {
      const body = Buffer.concat(chunks);
      seen.push({ method: req.method, url: req.url, rawHeaders: req.rawHeaders, body });
      answer(req, res, body);
    });
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const addr = server.address();
  base = `http://127.0.0.1:${typeof addr === 'object' && addr ? addr.port : 0}`;
});
afterAll(() => new Promise<void>((resolve) => server.close(() => resolve())));

const json = (status: number, value: unknown) => (_req: IncomingMessage, res: ServerResponse) => {
  res.writeHead(status, { 'Content-Type': 'application/json', Connection: 'close' });
  res.end(typeof value === 'string' ? value : JSON.stringify(value));
};

describe('rspamd client (fake server)', () => {
  it('POSTs the raw bytes to /checkv2 with one header line per recipient', async () => {
    answer = json(200, { action: 'no action', score: 1.5, symbols: {} });
    const message = Buffer.from('Subject: x\r\n\r\nbody\xff', 'latin1');
    const r = await checkRspamd(`${base}/`, message, {
      IP: '192.0.2.1',
      Rcpt: ['a@example.net', 'b@example.net'],
    });
    expect(r).toMatchObject({ action: 'no action', score: 1.5 });
    const req = seen.at(-1)!;
    expect([req.method, req.url]).toEqual(['POST', '/checkv2']);
    expect(req.body.equals(message)).toBe(true);
    const pairs = req.rawHeaders.flatMap((v, i, a) => (i % 2 === 0 ? [[v, a[i + 1]]] : []));
    expect(pairs.filter(([n]) => n === 'Rcpt')).toEqual([
      ['Rcpt', 'a@example.net'],
      ['Rcpt', 'b@example.net'],
    ]);
    expect(pairs).toContainEqual(['Content-Length', String(message.byteLength)]);
  });

  it('keeps a base path (rspamd behind a reverse proxy)', async () => {
    answer = json(200, { action: 'no action', score: 0 });
    await checkRspamd(`${base}/rspamd`, Buffer.from('x'));
    expect(seen.at(-1)!.url).toBe('/rspamd/checkv2');
  });

  it.each([
    [500, { error: 'internal' }, 'HOOKGATE_ERR_SCAN_ENGINE_UNAVAILABLE', /HTTP 500: internal/],
    [403, { error: 'Unauthorized' }, 'HOOKGATE_ERR_SCAN_PROTOCOL', /HTTP 403: Unauthorized/],
    [200, 'not json', 'HOOKGATE_ERR_SCAN_PROTOCOL', /not JSON/],
    [200, { score: 1 }, 'HOOKGATE_ERR_SCAN_PROTOCOL', /no action or score/],
  ])('HTTP %i %j → %s', async (status, body, code, message) => {
    answer = json(status, body);
    await expect(checkRspamd(base, Buffer.from('x'))).rejects.toMatchObject({
      code,
      message: expect.stringMatching(message),
    });
  });

  it('a closed port is an unavailable engine', async () => {
    const port = await freePort();
    await expect(checkRspamd(`http://127.0.0.1:${port}`, Buffer.from('x'))).rejects.toMatchObject({
      code: 'HOOKGATE_ERR_SCAN_ENGINE_UNAVAILABLE',
      retryable: true,
    });
  });

  it('its own timeout is a scan timeout; the caller abort is an abort', async () => {
    answer = () => undefined; // never answers
    await expect(checkRspamd(base, Buffer.from('x'), {}, { timeoutMs: 150 })).rejects.toMatchObject({
      code: 'HOOKGATE_ERR_SCAN_TIMEOUT',
      message: 'rspamd did not answer within 150 ms',
    });
    const controller = new AbortController();
    setTimeout(() => controller.abort(), 50);
    await expect(
      checkRspamd(base, Buffer.from('x'), {}, { signal: controller.signal, timeoutMs: 5000 }),
    ).rejects.toMatchObject({ name: 'AbortError', message: 'rspamd scan aborted' });
  });

  it('ping expects pong', async () => {
    answer = (_req, res) => res.end('pong\r\n');
    expect(await pingRspamd(base)).toBe(true);
    answer = (_req, res) => res.end('nope');
    expect(await pingRspamd(base)).toBe(false);
  });
});
