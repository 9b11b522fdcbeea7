import { it } from 'vitest';
import { readFileSync, writeFileSync } from 'node:fs';
import { startSpamd } from '../../../test/support/spamd.js';
import { talk } from '../../../test/support/daemons.js';
import { clean, gtube, toEml } from '../../../test/support/samples.js';

it('scratch', async () => {
  const s = await startSpamd();
  const out = [`start ${s.startMs}`];
  try {
    for (const cmd of ['SYMBOLS', 'REPORT', 'CHECK']) {
      for (const m of [gtube(), clean()]) {
        const b = Buffer.from(toEml(m));
        const t = Date.now();
        out.push(`--- ${cmd} ${m.body.slice(0, 10)}`, await talk({ port: s.port }, Buffer.concat([Buffer.from(`${cmd} SPAMC/1.5\r\nContent-length: ${b.length}\r\n\r\n`), b])), `${Date.now() - t} ms`);
      }
    }
    out.push('--- bad', await talk({ port: s.port }, 'FOO SPAMC/1.5\r\n\r\n'));
    out.push('--- bad2', await talk({ port: s.port }, 'SYMBOLS SPAMC/1.5\r\nContent-length: x\r\n\r\n'));
    out.push('--- 1.2', await talk({ port: s.port }, 'SYMBOLS SPAMC/9.9\r\nContent-length: 2\r\n\r\nab'));
  } finally {
    out.push(readFileSync(s.logFile, 'utf8').slice(-3000));
    writeFileSync('/tmp/scratch-spamd.txt', out.join('\n'));
    await s.stop();
  }
});
