/**
 * The milter peers the benchmark compares hookgate with (test/bench/peers.ts), checked end to end so the bench
 * cannot quietly measure a broken setup: a real Postfix calls clamav-milter (scanning with a private clamd) on one
 * listener and rspamd's proxy worker in milter mode on another. swaks shows the replies; smtp-source, the bench's
 * load generator, must get the bench's own message through both.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startClamd, tempDir, waitUntil, type ClamdDaemon } from '../support/daemons.js';
import { startClamavMilter, type ClamavMilter } from '../support/clamav-milter.js';
import { startRspamd, type RspamdDaemon } from '../support/rspamd.js';
import { startPostfix, type PostfixInstance } from '../support/postfix.js';
import { messageFile, smtpSource } from '../support/smtp-source.js';
import { swaks } from '../support/swaks.js';
import { clean, clean20k, eicarInline, gtube, toEml, type Sample } from '../support/samples.js';
import { rmSync } from 'node:fs';

let clamd: ClamdDaemon;
let rspamd: RspamdDaemon;
let clamavMilter: ClamavMilter;
let postfix: PostfixInstance;

beforeAll(async () => {
  [clamd, rspamd] = await Promise.all([startClamd(), startRspamd({ milterProxy: true })]);
  clamavMilter = await startClamavMilter({ clamdPort: clamd.port });
  postfix = await startPostfix({
    listeners: [
      { name: 'clamav', milters: clamavMilter.spec },
      { name: 'rspamd', milters: rspamd.milterSpec! },
    ],
  });
});
afterAll(async () => {
  await postfix?.stop();
  await clamavMilter?.stop();
  await Promise.all([clamd?.stop(), rspamd?.stop()]);
});

let n = 0;
/** The sample with a unique last line, so its delivery can be recognised once complete. */
function marked(sample: Sample): { text: string; mark: string } {
  const mark = `END-OF-PEER-MESSAGE-${process.pid}-${++n}`;
  return { text: `${toEml(sample)}${mark}\r\n`, mark };
}

const send = (listener: 'clamav' | 'rspamd', text: string) =>
  swaks({
    port: postfix.ports[listener]!,
    from: 'alice@example.org',
    to: ['bob@example.net'],
    message: text,
  });

describe('Postfix → clamav-milter → clamd', () => {
  it('rejects EICAR at end of data with the signature name', async () => {
    const r = await send('clamav', marked(eicarInline()).text);
    expect(r.replies).toContainEqual(expect.stringMatching(/^550 5\.7\.1 Virus found: Test\.EICAR/));
    expect(clamavMilter.log()).toMatch(/infected by Test\.EICAR/);
  });

  it('delivers clean mail, stamped as scanned clean by clamav-milter', async () => {
    const { text, mark } = marked(clean({ messageId: 'peer-clean' }));
    const r = await send('clamav', text);
    expect(r.replies).toContainEqual(expect.stringMatching(/^250 2\.0\.0 Ok: queued as /));
    const delivered = await postfix.waitForDelivery((c) => c.includes(mark));
    expect(delivered.content).toMatch(/^X-Virus-Scanned: clamav-milter /m);
    expect(delivered.content).toMatch(/^X-Virus-Status: Clean$/m);
    expect(delivered.content).toMatch(/^Message-ID: <peer-clean@lab\.invalid>$/m);
  });
});

describe("Postfix → rspamd's proxy worker (milter mode) → rspamd", () => {
  it('rejects GTUBE at end of data', async () => {
    const r = await send('rspamd', marked(gtube()).text);
    expect(r.replies).toContainEqual(expect.stringMatching(/^554 5\.7\.1 Gtube pattern/));
  });

  it('runs the proxy as a worker of its own next to the normal worker (the bench charges their CPU apart)', () => {
    const roles = rspamd.processes().map((p) => p.role);
    expect(roles.filter((r) => r === 'rspamd_proxy')).toHaveLength(1);
    expect(roles.filter((r) => r === 'normal')).toHaveLength(1);
  });
});

describe("the bench's load: smtp-source sending the 20 KB message file", () => {
  it('gets every message through both peers (smtp-source stops at the first refusal)', async () => {
    const dir = tempDir('peers-int');
    try {
      const file = messageFile(dir, toEml(clean20k({ messageId: 'peers-int' })));
      for (const listener of ['clamav', 'rspamd'] as const) {
        const r = await smtpSource({ port: postfix.ports[listener]!, sessions: 2, messages: 4, file });
        expect({ listener, code: r.code, output: r.output.trim() }).toEqual({
          listener,
          code: 0,
          output: '',
        });
      }
      // smtp-sink writes as data arrives: a copy counts once its last line is there.
      const copies = () =>
        postfix
          .delivered()
          .filter(
            (m) => m.content.includes('<peers-int@lab.invalid>') && /Regards,\r?\nAlice/.test(m.content),
          );
      await waitUntil(() => copies().length === 8, 20_000, 'eight copies delivered');
      expect(copies()[0]!.content).toContain('Subject: Project status report, week 47');
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });
});
