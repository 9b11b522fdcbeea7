/**
 * Issue 16 end to end: a running `hookgate all` (ingress + clamav worker) and `hookgate milter` behind a real
 * Postfix, one Redis, the release relay pointing at the same Postfix (which delivers to smtp-sink). Headless
 * Chromium (Debian's package) drives the real console pages: log in with an admin token, see a rejected EICAR
 * message appear, look it up by transaction and by queue id, see the pools, release a quarantined message and see
 * it arrive at Postfix with the kept bytes, delete another. Screenshots of each page go to test/.results/console/
 * (the README's images in docs/images/ are copies of them).
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { mkdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { chromium, type BrowserContext, type Page } from 'playwright-core';
import { startClamd, startRedis, tempDir, type ClamdDaemon, type RedisDaemon } from '../support/daemons.js';
import {
  repoRoot,
  startHookgate,
  writeConfig,
  postStalwart,
  type HookgateProcess,
} from '../support/processes.js';
import { startPostfix, type PostfixInstance } from '../support/postfix.js';
import { stalwartRequest } from '../support/stalwart.js';
import { swaks } from '../support/swaks.js';
import { eicarInline, toEml, type Sample } from '../support/samples.js';

const CHROMIUM = '/usr/bin/chromium';
const SHOTS = join(repoRoot(), 'test/.results/console');
const MTA_TOKEN = 'console-mta-token-0123456789abcdef';
const ADMIN_TOKEN = 'console-admin-token-0123456789abcdef';
// Viruses from hold.example are quarantined (a policy bank), all others rejected.
const CONFIG = `
redis: { prefix: oc${process.pid} }
stages: { deadlineMs: { connect: 3000, ehlo: 3000, mail: 3000, rcpt: 3000, data: 15000 } }
policies:
  default: {}
  holding: { scanners: { clamav: { action: quarantine } } }
rules:
  - { name: hold, match: { senderDomains: [hold.example] }, policy: holding }
`;

let redis: RedisDaemon;
let clamd: ClamdDaemon;
let postfix: PostfixInstance;
const processes: HookgateProcess[] = [];
let url: string;
let context: BrowserContext;
let page: Page;

beforeAll(async () => {
  [redis, clamd] = await Promise.all([startRedis(), startClamd()]);
  // Postfix first (its relay listener is the release relay); the milter listener points at hookgate milter below.
  const milterPort = await (await import('../support/daemons.js')).freePort();
  postfix = await startPostfix({
    listeners: [
      { name: 'relay', milters: null },
      { name: 'mx', milters: `inet:127.0.0.1:${milterPort}` },
    ],
    main: { local_header_rewrite_clients: '' },
  });
  const env = {
    HOOKGATE_CONFIG: writeConfig(CONFIG),
    HOOKGATE_REDIS_URL: redis.url,
    HOOKGATE_CLAMD: clamd.tcp,
    HOOKGATE_AUTH_TOKENS: `stalwart=${MTA_TOKEN}`,
    HOOKGATE_ADMIN_TOKENS: `ops-alice=${ADMIN_TOKEN}`,
    HOOKGATE_QUARANTINE_RELAY: `smtp://127.0.0.1:${postfix.ports.relay}`,
    HOOKGATE_METRICS_LISTEN: '127.0.0.1:0',
  };
  const all = await startHookgate(['all'], { ...env, HOOKGATE_LISTEN: '127.0.0.1:0' });
  processes.push(all);
  processes.push(
    await startHookgate(
      ['milter'],
      { ...env, HOOKGATE_MILTER_LISTEN: `127.0.0.1:${milterPort}` },
      /milter listening on \S+/,
    ),
  );
  url = all.url!;
  mkdirSync(SHOTS, { recursive: true });
  context = await chromium.launchPersistentContext(tempDir('chromium'), {
    executablePath: CHROMIUM,
    headless: true,
    args: [
      '--headless',
      '--no-sandbox',
      '--disable-gpu',
      '--disable-background-networking',
      '--disable-component-update',
      '--disable-sync',
      '--no-first-run',
    ],
    viewport: { width: 1366, height: 860 },
  });
  page = context.pages()[0] ?? (await context.newPage());
  // Release and delete ask for confirmation.
  page.on('dialog', (d) => void d.accept());
}, 180_000);
afterAll(async () => {
  await context?.close();
  await postfix?.stop();
  await Promise.all(processes.map((p) => p.stop()));
  await Promise.all([redis?.stop(), clamd?.stop()]);
});

let n = 0;
/** A virus with a unique last line, so its delivery can be recognised once complete. */
function marked(from: string): { sample: Sample; mark: string } {
  const mark = `END-OF-CONSOLE-TEST-${process.pid}-${++n}`;
  const s = eicarInline({ from, subject: `Invoice ${n}` });
  return { sample: { ...s, body: `${s.body}${mark}\r\n` }, mark };
}

async function viaStalwart(sample: Sample, from: string, clientPort: number, queueId: string) {
  return postStalwart(url, stalwartRequest('data', { clientPort, queueId, from }, sample), {
    authorization: `Bearer ${MTA_TOKEN}`,
  });
}

async function shot(name: string): Promise<void> {
  await page.screenshot({ path: join(SHOTS, `console-${name}.png`), fullPage: false });
}

describe('operator console in headless Chromium', () => {
  it('refuses a wrong token and logs in with an admin token', async () => {
    await page.goto(`${url}/console/`);
    await page.waitForSelector('#login:not([hidden])');
    await page.fill('#token', 'not-a-token-at-all-0123456789');
    await page.click('#login-form button');
    await expect.poll(() => page.textContent('#login-error')).toMatch(/refused/);
    await shot('login');
    await page.fill('#token', ADMIN_TOKEN);
    await page.click('#login-form button');
    await page.waitForSelector('#nav:not([hidden])');
    expect(await page.textContent('#who')).toBe('admin: ops-alice');
  });

  it('shows a rejected EICAR message appear in the live verdicts', async () => {
    await page.goto(`${url}/console/#verdicts`);
    const res = await viaStalwart(
      marked('alice@example.org').sample,
      'alice@example.org',
      52001,
      'QCONSOLE1',
    );
    expect(res.body).toMatchObject({ action: 'reject', response: { status: 550 } });
    const row = page.locator('#v-rows tr', { has: page.locator('.action.reject') }).first();
    await row.waitFor({ timeout: 10_000 });
    expect(await row.textContent()).toMatch(/stalwart.*data.*reject.*clamav:virus:Test\.EICAR.*clamav fail/);
    // Content-free: no address or subject on the page.
    expect(await page.textContent('#page-verdicts')).not.toMatch(/alice@|Invoice/);
    await shot('verdicts');
  });

  it('looks the transaction up from the verdict, and by queue id', async () => {
    const row = page.locator('#v-rows tr', { has: page.locator('.action.reject') }).first();
    await row.locator('a.mono').first().click();
    await page.waitForSelector('#txn .stage[data-stage="data"]');
    const card = await page.textContent('#txn');
    expect(card).toMatch(/reject/);
    expect(card).toMatch(/Virus found: Test\.EICAR/);
    expect(card).toMatch(/clamavfail/);
    await shot('lookup');
    await page.fill('#lookup-q', 'QCONSOLE1');
    await page.click('#lookup-form button');
    await page.locator('#txn h2', { hasText: 'queue id QCONSOLE1' }).first().waitFor();
  });

  it('shows the scanner pools with live workers and rates', async () => {
    await page.goto(`${url}/console/#pools`);
    const row = page.locator('#p-rows tr[data-scanner="clamav"]');
    await row.waitFor();
    const cells = await row.locator('td').allTextContents();
    expect(cells.slice(0, 5)).toEqual(['clamav', 'worker pool', 'data', 'yes (fail-closed)', '1']);
    expect(cells[7]).toBe('0 %');
    await shot('pools');
  });

  it('releases a quarantined message (kept by the milter path) and Postfix delivers the kept bytes', async () => {
    // Postfix → hookgate milter: the virus from hold.example is refused with a reply naming the item.
    const { sample, mark } = marked('x@hold.example');
    const r = await swaks({
      port: postfix.ports.mx!,
      from: 'x@hold.example',
      to: ['bob@example.net'],
      message: toEml(sample),
    });
    const reply = r.replies.find((l) => l.startsWith('550'));
    expect(reply).toMatch(/^550 5\.7\.1 Message quarantined as [0-9a-z]{19}$/);
    const id = /as ([0-9a-z]{19})$/.exec(reply!)![1]!;
    expect(postfix.queue()).toEqual([]);
    // A second one through the Stalwart endpoint, to delete.
    const other = await viaStalwart(marked('y@hold.example').sample, 'y@hold.example', 52002, 'QCONSOLE2');
    const otherId = /quarantined as ([0-9a-z]{19})/.exec(
      String((other.body.response as { message: string }).message),
    )![1]!;

    await page.goto(`${url}/console/#quarantine`);
    await page.waitForSelector(`#q-rows tr[data-id="${id}"]`);
    await page.waitForSelector(`#q-rows tr[data-id="${otherId}"]`);
    const kept = Buffer.from(
      (
        (await (
          await fetch(`${url}/admin/quarantine/${id}?body=1`, {
            headers: { authorization: `Bearer ${ADMIN_TOKEN}` },
          })
        ).json()) as { message: { base64: string } }
      ).message.base64,
      'base64',
    );
    await page.click(`#q-rows tr[data-id="${id}"]`);
    await page.waitForSelector(`#q-item[data-id="${id}"][data-status="held"]`);
    expect(await page.textContent('#q-item')).toMatch(/x@hold\.example → bob@example\.net/);
    await shot('quarantine');
    await page.click('#q-release');
    await page.waitForSelector(`#q-item[data-id="${id}"][data-status="released"]`);
    expect(await page.textContent('#q-result')).toMatch(/^Released: 250 2\.0\.0 Ok: queued as \S+/);
    const delivered = await postfix.waitForDelivery((c) => c.includes(mark));
    // smtp-sink stores LF line ends and adds one empty line at the end; before the message, its own lines and the
    // Received header of the Postfix that took the release.
    const raw = readFileSync(delivered.file);
    const lf = Buffer.from(kept.toString('latin1').replace(/\r\n/g, '\n'), 'latin1');
    const start = raw.indexOf(lf.subarray(0, 60));
    expect(start).toBeGreaterThan(0);
    expect(raw.subarray(start, -1).equals(lf)).toBe(true);
    expect(await page.textContent('#q-item')).toMatch(/release.*ops-alice|ops-alice.*release/s);
    await shot('released');

    // Delete the other one from the console.
    await page.goto(`${url}/console/#quarantine/${otherId}`);
    await page.waitForSelector(`#q-item[data-id="${otherId}"][data-status="held"]`);
    await page.click('#q-delete');
    await page.waitForSelector(`#q-item[data-id="${otherId}"][data-status="deleted"]`);
    expect(await page.locator(`#q-rows tr[data-id="${otherId}"]`).count()).toBe(0);
  });
});
