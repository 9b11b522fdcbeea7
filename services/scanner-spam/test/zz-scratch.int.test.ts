import { it } from 'vitest';
import { mkdirSync, writeFileSync } from 'node:fs';
import { request } from 'node:http';
import { startRspamd } from '../../../test/support/rspamd.js';
import { clean, gtube, toEml } from '../../../test/support/samples.js';

const dir = 'test/fixtures/rspamd/replies';
function post(url: string, body: string, headers: Record<string, string | string[]>): Promise<string> {
  return new Promise((resolve, reject) => {
    const req = request(`${url}/checkv2`, { method: 'POST', headers: { ...headers, 'Content-Length': Buffer.byteLength(body) } }, (res) => {
      const c: Buffer[] = [];
      res.on('data', (b) => c.push(b));
      res.on('end', () => resolve(Buffer.concat(c).toString()));
    });
    req.on('error', reject);
    req.end(body);
  });
}
const save = (name: string, json: string) => writeFileSync(`${dir}/${name}.json`, JSON.stringify(JSON.parse(json), null, 2) + '\n');
const env = { IP: '192.0.2.10', Helo: 'mail.example.org', Hostname: 'mail.example.org', From: 'alice@example.org', Rcpt: 'bob@example.net', 'Queue-Id': 'ABC123' };
const { Hostname: _h, ...noHost } = env;

it('record stock', async () => {
  mkdirSync(dir, { recursive: true });
  const r = await startRspamd();
  try {
    save('stock-clean-no-action', await post(r.url, toEml(clean()), env));
    save('stock-clean-no-hostname-add-header', await post(r.url, toEml(clean()), noHost));
    save('stock-gtube-reject', await post(r.url, toEml(gtube()), env));
  } finally {
    await r.stop();
  }
});
it('record milter', async () => {
  const r = await startRspamd({
    extraFiles: {
      'local.d/actions.conf': 'rewrite_subject = 3;\nsubject = "***SPAM*** %s";\n',
      'local.d/milter_headers.conf': 'use = ["x-spamd-result", "x-rspamd-server", "x-spamd-bar", "authentication-results", "x-rspamd-queue-id"];\nskip_local = false;\nroutines { x-rspamd-server { hostname = "scanner.test"; } }\n',
    },
  });
  try {
    save('milter-headers-rewrite-subject', await post(r.url, toEml(clean()), env));
    save('milter-headers-forged-x-spam-add-header', await post(r.url, toEml(clean({ extra: [['X-Spam', ' Yes\r\n'], ['X-Spam', ' forged\r\n']] })), env));
  } finally {
    await r.stop();
  }
});
