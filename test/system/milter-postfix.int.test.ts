/**
 * Issue 7 end to end: a real Postfix 3.7 (throwaway instance on loopback, delivering to smtp-sink) calls
 * `hookgate milter`; swaks is the SMTP client. hookgate workers host clamav, spamd and dlp on private daemons.
 * A second listener of the same Postfix uses a second milter whose clamd endpoint is a closed port (outage).
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startRedis, startClamd, freePort, type RedisDaemon, type ClamdDaemon } from '../support/daemons.js';
import { startSpamd, type SpamdDaemon } from '../support/spamd.js';
import { startHookgate, writeConfig, type HookgateProcess } from '../support/processes.js';
import { startPostfix, type PostfixInstance } from '../support/postfix.js';
import { swaks } from '../support/swaks.js';
import { clean, eicarInline, gtube, toEml, type Sample } from '../support/samples.js';

let redis: RedisDaemon;
let clamd: ClamdDaemon;
let spamd: SpamdDaemon;
let postfix: PostfixInstance;
const processes: HookgateProcess[] = [];

const STAGES = 'stages: { deadlineMs: { connect: 3000, ehlo: 3000, mail: 3000, rcpt: 3000, data: 15000 } }';
// Greylisting only for grey.example recipients; quarantine instead of reject for mail from hold.example, left to
// Postfix's hold queue (milter.quarantine: hold; the default keeps it in hookgate's quarantine: test/system/operator).
const MAIN = `
redis: { prefix: pfa${process.pid} }
milter: { quarantine: hold }
${STAGES}
scanners:
  greylist: { enabled: true, delayMs: 1 }
policies:
  default: { scanners: { greylist: { enabled: false } } }
  greylisting: {}
  holding: { scanners: { greylist: { enabled: false }, clamav: { action: quarantine } } }
rules:
  - { name: grey, match: { recipientDomains: [grey.example] }, policy: greylisting }
  - { name: hold, match: { senderDomains: [hold.example] }, policy: holding }
`;
const OUTAGE = `
redis: { prefix: pfb${process.pid} }
${STAGES}
scanners: { dlp: { enabled: false } }
`;

async function hookgate(
  args: string[],
  env: Record<string, string>,
  ready?: RegExp,
): Promise<HookgateProcess> {
  const p = await startHookgate(args, { HOOKGATE_METRICS_LISTEN: '127.0.0.1:0', ...env }, ready);
  processes.push(p);
  return p;
}

async function milter(env: Record<string, string>): Promise<string> {
  const p = await hookgate(
    ['milter'],
    { ...env, HOOKGATE_MILTER_LISTEN: '127.0.0.1:0' },
    /milter listening on \S+/,
  );
  return /\(Postfix: smtpd_milters = (\S+)\)/.exec(p.stderr())![1]!;
}

beforeAll(async () => {
  [redis, clamd, spamd] = await Promise.all([startRedis(), startClamd(), startSpamd()]);
  const main = {
    HOOKGATE_CONFIG: writeConfig(MAIN),
    HOOKGATE_REDIS_URL: redis.url,
    HOOKGATE_CLAMD: clamd.tcp,
    HOOKGATE_SPAMD: spamd.endpoint,
  };
  const outage = {
    HOOKGATE_CONFIG: writeConfig(OUTAGE),
    HOOKGATE_REDIS_URL: redis.url,
    HOOKGATE_CLAMD: `tcp://127.0.0.1:${await freePort()}`,
  };
  await Promise.all([
    hookgate(['worker', '--scanners', 'clamav,spamd,dlp'], main),
    hookgate(['worker', '--scanners', 'clamav'], outage),
  ]);
  const [a, b] = await Promise.all([milter(main), milter(outage)]);
  postfix = await startPostfix({
    listeners: [
      { name: 'main', milters: a },
      { name: 'outage', milters: b },
    ],
  });
});
afterAll(async () => {
  await postfix?.stop();
  await Promise.all(processes.map((p) => p.stop()));
  await Promise.all([redis?.stop(), clamd?.stop(), spamd?.stop()]);
});

let n = 0;
/** The sample with a unique last line, so its delivery can be recognised once complete. */
function marked(sample: Sample): { text: string; mark: string } {
  const mark = `END-OF-TEST-MESSAGE-${process.pid}-${++n}`;
  return { text: `${toEml(sample)}${mark}\r\n`, mark };
}

const send = (to: string[], text: string, from = 'alice@example.org', port = postfix.ports.main!) =>
  swaks({ port, from, to, message: text });

describe('Postfix 3.7 → hookgate milter', () => {
  it('rejects EICAR at end of data with hookgate reply text visible to the client', async () => {
    const r = await send(['bob@example.net'], marked(eicarInline()).text);
    expect(r.replies).toContainEqual(
      expect.stringMatching(/^550 5\.7\.1 Virus found: Test\.EICAR-Body\.UNOFFICIAL/),
    );
    expect(postfix.maillog()).toMatch(
      /milter-reject: END-OF-MESSAGE from \S+: 5\.7\.1 Virus found: Test\.EICAR/,
    );
  });

  it('rejects GTUBE (spamd) at end of data', async () => {
    const r = await send(['bob@example.net'], marked(gtube()).text);
    expect(r.replies).toContain('550 5.7.1 Message identified as spam');
  });

  it('delivers clean mail with hookgate headers added, body intact', async () => {
    const { text, mark } = marked(clean({ messageId: 'pf-clean' }));
    const r = await send(['bob@example.net'], text);
    expect(r.replies).toContainEqual(expect.stringMatching(/^250 2\.0\.0 Ok: queued as /));
    const delivered = await postfix.waitForDelivery((c) => c.includes(mark));
    expect(delivered.content).toMatch(/^X-Virus-Scanned: hookgate \(ClamAV\)$/m);
    expect(delivered.content).toMatch(/^X-Spam-Status: No, score=/m);
    expect(delivered.content).toContain('please find the notes of our meeting below. Nothing special.');
    expect(delivered.content).toMatch(/^Message-ID: <pf-clean@lab\.invalid>$/m);
  });

  it('greylists per recipient at RCPT: a new triplet is deferred, a retry passes, a new recipient next to a known one is deferred alone', async () => {
    const first = await send(['known@grey.example'], marked(clean()).text, 'news@sender.example');
    expect(first.replies).toContainEqual(
      expect.stringMatching(/^451 4\.7\.1 Greylisted, please try again in \d+ seconds$/),
    );
    expect(first.replies.some((l) => l.startsWith('250 2.0.0 Ok: queued'))).toBe(false);

    const retry = marked(clean());
    expect((await send(['known@grey.example'], retry.text, 'news@sender.example')).replies).toContainEqual(
      expect.stringMatching(/^250 2\.0\.0 Ok: queued/),
    );
    await postfix.waitForDelivery((c) => c.includes(retry.mark));

    const both = marked(clean());
    const r = await send(['known@grey.example', 'new@grey.example'], both.text, 'news@sender.example');
    expect(r.replies).toContainEqual(expect.stringMatching(/^451 4\.7\.1 Greylisted/));
    expect(r.replies).toContainEqual(expect.stringMatching(/^250 2\.0\.0 Ok: queued/));
    const delivered = await postfix.waitForDelivery((c) => c.includes(both.mark));
    expect(delivered.content).toMatch(/^X-Rcpt-Args: <known@grey\.example>/m);
    expect(delivered.content).not.toContain('new@grey.example');
  });

  it('quarantine puts the message on Postfix hold (SMFIR_QUARANTINE)', async () => {
    const r = await send(['bob@example.net'], marked(eicarInline()).text, 'x@hold.example');
    const queued = /^250 2\.0\.0 Ok: queued as (\S+)/.exec(
      r.replies.find((l) => l.startsWith('250 2.0.0 Ok: queued')) ?? '',
    );
    expect(queued).not.toBeNull();
    const id = queued![1]!;
    expect(postfix.queue().find((e) => e.queue_id === id)?.queue_name).toBe('hold');
    expect(postfix.maillog()).toMatch(
      new RegExp(`${id}: milter-hold: END-OF-MESSAGE from \\S+: milter triggers HOLD action`),
    );
  });

  it('a scanner outage (clamd on a closed port) gives the configured tempfail at end of data', async () => {
    const r = await send(
      ['bob@example.net'],
      marked(clean()).text,
      'alice@example.org',
      postfix.ports.outage!,
    );
    expect(r.replies).toContain('451 4.7.1 Temporary failure in content scanning, try again later');
  });
});
