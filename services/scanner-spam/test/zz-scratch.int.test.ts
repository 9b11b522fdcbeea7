import { it } from 'vitest';
import { writeFileSync } from 'node:fs';
import { startSpamd } from '../../../test/support/spamd.js';
import { startRspamd } from '../../../test/support/rspamd.js';
import { talk } from '../../../test/support/daemons.js';
import { checkRspamd } from '@hookgate/scanner-spam';
import { clean, toEml } from '../../../test/support/samples.js';

it('scratch', async () => {
  const out: string[] = [];
  const s = await startSpamd();
  try {
    out.push(`spamd start ${s.startMs}`, await talk({ path: s.socket }, 'PING SPAMC/1.5\r\n\r\n'));
  } finally {
    await s.stop();
  }
  const r = await startRspamd();
  try {
    const msg = Buffer.from(toEml(clean()));
    for (const h of [{ IP: '192.0.2.10', Helo: 'mail.example.org', From: 'alice@example.org', Rcpt: ['bob@example.net', 'carol@gmail.com'] }, { IP: '192.0.2.10', Helo: 'mail.example.org', From: 'alice@example.org', Rcpt: 'bob@example.net', User: 'alice' }]) {
      const res = await checkRspamd(r.url, msg, h);
      out.push(`${res.action} ${res.score} ${Object.values(res.symbols ?? {}).map((x) => `${x.name}(${x.score})${x.options ? x.options.join('|') : ''}`).join(' ')}`);
    }
  } finally {
    await r.stop();
  }
  writeFileSync('/tmp/scratch.txt', out.join('\n'));
});
