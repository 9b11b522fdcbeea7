/** HTTP for load loops: keep-alive JSON posts without fetch's per-request overhead. */
import { request, type Agent } from 'node:http';

/** A JSON POST to `url` over `agent` (keep-alive), resolving with the status and the body as text. */
export function postJson(
  url: URL,
  agent: Agent,
): (body: string) => Promise<{ status: number; text: string }> {
  return (body) =>
    new Promise((resolve, reject) => {
      const req = request(
        url,
        {
          method: 'POST',
          agent,
          headers: { 'content-type': 'application/json', 'content-length': Buffer.byteLength(body) },
        },
        (res) => {
          let text = '';
          res.setEncoding('utf8');
          res.on('data', (c: string) => (text += c));
          res.on('end', () => resolve({ status: res.statusCode ?? 0, text }));
        },
      );
      req.on('error', reject);
      req.end(body);
    });
}
