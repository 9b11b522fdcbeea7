/**
 * Issue 16: `hookgate scan` as operators run it (the built executable). --local runs the configured scanners (a
 * private clamd here) in process; --url goes through a running `hookgate all` with the MTA credentials and reads
 * reasons and scanner timings back with an admin token. One line per message off a terminal, a progress bar on one
 * (through `script`), a summary, --json, and exit codes 0/1/2.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { spawn, spawnSync } from 'node:child_process';
import { copyFileSync, mkdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import {
  startClamd,
  startRedis,
  freePort,
  tempDir,
  type ClamdDaemon,
  type RedisDaemon,
} from '../support/daemons.js';
import {
  HOOKGATE_BIN,
  repoRoot,
  startHookgate,
  writeConfig,
  type HookgateProcess,
} from '../support/processes.js';
import { clean, eicarInline, toEml } from '../support/samples.js';

let clamd: ClamdDaemon;
let redis: RedisDaemon;
let hookgate: HookgateProcess;
let dir: string;

const MTA_TOKEN = 'scan-mta-token-0123456789abcdef';
const ADMIN_TOKEN = 'scan-admin-token-0123456789abcdef';
// Viruses are quarantined for mail from hold.example; everything else with a virus is rejected.
const CONFIG = `
policies:
  default: {}
  holding: { scanners: { clamav: { action: quarantine } } }
rules:
  - { name: hold, match: { senderDomains: [hold.example] }, policy: holding }
`;

beforeAll(async () => {
  [clamd, redis] = await Promise.all([startClamd(), startRedis()]);
  dir = tempDir('scan');
  mkdirSync(join(dir, 'mail', 'Maildir', 'cur'), { recursive: true });
  mkdirSync(join(dir, 'clean'));
  writeFileSync(join(dir, 'mail', 'a-clean.eml'), toEml(clean({ subject: 'clean one' })));
  writeFileSync(join(dir, 'mail', 'b-virus.eml'), toEml(eicarInline()));
  writeFileSync(
    join(dir, 'mail', 'Maildir', 'cur', '1700000000.M1P1.host:2,S'),
    toEml(clean({ subject: 'maildir' })),
  );
  writeFileSync(join(dir, 'mail', 'notes.txt'), 'not mail');
  // An mbox: two clean messages around a virus from hold.example (quarantined by the rule).
  const mbox = [
    clean({ subject: 'mbox 1' }),
    eicarInline({ from: 'x@hold.example' }),
    clean({ subject: 'mbox 3' }),
  ]
    .map(
      (s) =>
        `From sender@example.org Mon Dec  7 10:00:00 2026\n${toEml(s)
          .replace(/\r\n/g, '\n')
          .replace(/^From /gm, '>From ')}\n`,
    )
    .join('');
  writeFileSync(join(dir, 'mail', 'c-box.mbox'), mbox);
  copyFileSync(join(repoRoot(), 'test/fixtures/mbox/python-mailbox.mbox'), join(dir, 'clean', 'python.mbox'));
  writeFileSync(join(dir, 'clean', 'one.eml'), toEml(clean()));
  hookgate = await startHookgate(['all'], {
    HOOKGATE_CONFIG: writeConfig(CONFIG),
    HOOKGATE_REDIS_URL: redis.url,
    HOOKGATE_LISTEN: '127.0.0.1:0',
    HOOKGATE_CLAMD: clamd.tcp,
    HOOKGATE_AUTH_TOKENS: `mta=${MTA_TOKEN}`,
    HOOKGATE_ADMIN_TOKENS: `ops=${ADMIN_TOKEN}`,
    HOOKGATE_METRICS_LISTEN: '127.0.0.1:0',
  });
});
afterAll(async () => {
  await hookgate?.stop();
  await Promise.all([clamd?.stop(), redis?.stop()]);
});

function scan(
  args: string[],
  env: Record<string, string> = {},
  stdin?: string,
): Promise<{ code: number | null; stdout: string; stderr: string }> {
  return new Promise((resolve) => {
    const child = spawn(process.execPath, [HOOKGATE_BIN, 'scan', ...args], {
      cwd: dir,
      env: {
        PATH: process.env.PATH ?? '',
        HOOKGATE_CONFIG: writeConfig(CONFIG),
        HOOKGATE_CLAMD: clamd.tcp,
        ...env,
      },
      stdio: ['pipe', 'pipe', 'pipe'],
    });
    let stdout = '';
    let stderr = '';
    child.stdout.on('data', (b) => (stdout += String(b)));
    child.stderr.on('data', (b) => (stderr += String(b)));
    child.stdin.end(stdin ?? '');
    child.on('exit', (code) => resolve({ code, stdout, stderr }));
  });
}

describe('hookgate scan --local', () => {
  it('one line per message off a terminal, a summary, exit 1 when any is refused', async () => {
    const r = await scan(['--local', 'mail']);
    expect(r.code, r.stderr).toBe(1);
    const lines = r.stdout.split('\n');
    expect(lines).toContainEqual(expect.stringMatching(/^ACCEPT +mail\/a-clean\.eml +\d+ ms$/));
    expect(lines).toContainEqual(
      expect.stringMatching(
        /^REJECT +mail\/b-virus\.eml +550 5\.7\.1 Virus found: Test\.EICAR\S* +\[clamav:virus:Test\.EICAR\S*\]/,
      ),
    );
    expect(lines).toContainEqual(expect.stringMatching(/^ACCEPT +mail\/c-box\.mbox#1 /));
    expect(lines).toContainEqual(expect.stringMatching(/^QUARANTINE +mail\/c-box\.mbox#2 .*\[clamav:virus:/));
    expect(lines).toContainEqual(expect.stringMatching(/^ACCEPT +mail\/c-box\.mbox#3 /));
    expect(lines).toContainEqual(
      expect.stringMatching(/^ACCEPT +mail\/Maildir\/cur\/1700000000\.M1P1\.host:2,S /),
    );
    expect(r.stdout).toMatch(
      /scanned 6 messages in [\d.]+ s \(1 file skipped: not \.eml, \.mbox or Maildir\)/,
    );
    expect(r.stdout).toMatch(/^ {2}accept +4$/m);
    expect(r.stdout).toMatch(/^ {2}reject +1$/m);
    expect(r.stdout).toMatch(/^ {2}quarantine +1$/m);
    expect(r.stdout).toMatch(/^ +2 +clamav:virus:Test\.EICAR/m);
    expect(r.stdout).toMatch(
      /slowest scanners \(p50 \/ p95 \/ max\):\n {2}clamav +\d+ \/ \d+ \/ \d+ ms over 6/,
    );
    expect(r.stderr).toMatch(/scanning in this process with: clamav, dlp/);
  });

  it('--json gives every message and the summary; exit 0 when all pass', async () => {
    const r = await scan(['--local', '--json', 'clean']);
    expect(r.code, r.stderr).toBe(0);
    const doc = JSON.parse(r.stdout) as {
      messages: { label: string; action: string; scanners: { id: string }[] }[];
      summary: { messages: number; byAction: Record<string, number>; errors: number };
    };
    expect(doc.messages.map((m) => m.label)).toEqual([
      'clean/one.eml',
      'clean/python.mbox#1',
      'clean/python.mbox#2',
      'clean/python.mbox#3',
    ]);
    expect(
      doc.messages.every((m) => m.action === 'accept' && m.scanners.some((s) => s.id === 'clamav')),
    ).toBe(true);
    expect(doc.summary).toMatchObject({ messages: 4, byAction: { accept: 4 }, errors: 0 });
  });

  it('reads one message or an mbox from standard input', async () => {
    const one = await scan(['--local', '-'], {}, toEml(eicarInline()));
    expect(one.code).toBe(1);
    expect(one.stdout).toMatch(/^REJECT +- /m);
    const box = await scan(
      ['--local', '-'],
      {},
      `From a@b Mon Dec  7 10:00:00 2026\n${toEml(clean()).replace(/\r\n/g, '\n')}\nFrom a@b Mon Dec  7 10:00:01 2026\n${toEml(clean()).replace(/\r\n/g, '\n')}\n`,
    );
    expect(box.code).toBe(0);
    expect(box.stdout).toMatch(/^ACCEPT +-#1 [\s\S]*^ACCEPT +-#2 /m);
  });

  it('exit 2 for what cannot be scanned, and for bad usage', async () => {
    const r = await scan(['--local', 'clean/one.eml', 'missing.eml']);
    expect(r.code).toBe(2);
    expect(r.stdout).toMatch(/^ERROR +missing\.eml +no such file or directory$/m);
    expect(r.stdout).toMatch(/^ACCEPT +clean\/one\.eml /m);
    expect((await scan(['mail'])).stderr).toMatch(/give exactly one of --url URL or --local/);
    expect((await scan(['--local'])).code).toBe(2);
  });

  it('draws a progress bar on a terminal and prints only what needs attention', () => {
    const env = {
      ...process.env,
      HOOKGATE_CONFIG: writeConfig(CONFIG),
      HOOKGATE_CLAMD: clamd.tcp,
      COLUMNS: '100',
    };
    const r = spawnSync(
      'script',
      ['-qec', `${process.execPath} ${HOOKGATE_BIN} scan --local mail`, '/dev/null'],
      { cwd: dir, env, encoding: 'utf8', timeout: 120_000 },
    );
    expect(r.status).toBe(1);
    expect(r.stdout).toMatch(/\r\x1b\[2K\[#+ *\] +\d+% \d+ messages, \d+ refused, 0 errors/);
    expect(r.stdout).toMatch(/\[#{10,}\] 100% 6 messages, 2 refused, 0 errors/);
    expect(r.stdout).toMatch(/REJECT +mail\/b-virus\.eml/);
    expect(r.stdout).not.toMatch(/ACCEPT +mail\/a-clean\.eml/);
    expect(r.stdout).toMatch(/scanned 6 messages/);
  });
});

describe('hookgate scan --url', () => {
  it('sends each message through a running hookgate with the MTA token; the admin token adds reasons and timings', async () => {
    const r = await scan(['--url', hookgate.url!, 'mail'], {
      HOOKGATE_AUTH_TOKENS: `mta=${MTA_TOKEN}`,
      HOOKGATE_ADMIN_TOKENS: `ops=${ADMIN_TOKEN}`,
    });
    expect(r.code, r.stderr + r.stdout).toBe(1);
    expect(r.stdout).toMatch(
      /^REJECT +mail\/b-virus\.eml +550 5\.7\.1 Virus found: Test\.EICAR\S* +\[clamav:virus:/m,
    );
    // Kept in the running hookgate's quarantine: the reply names the item.
    expect(r.stdout).toMatch(
      /^QUARANTINE +mail\/c-box\.mbox#2 +550 5\.7\.1 Message quarantined as [0-9a-z]{19} +\[clamav:virus:\S+\] +quarantine=[0-9a-z]{19} /m,
    );
    expect(r.stdout).toMatch(/slowest scanners[\s\S]*clamav +\d+ \/ \d+ \/ \d+ ms over 6/);
  });

  it('without credentials the ingress refuses (exit 2, naming the variables); an unreachable URL is exit 2', async () => {
    const denied = await scan(['--url', hookgate.url!, 'clean/one.eml']);
    expect(denied.code).toBe(2);
    expect(denied.stdout).toMatch(
      /^ERROR +clean\/one\.eml +HTTP 401: authentication required \(set HOOKGATE_AUTH_TOKENS or HOOKGATE_AUTH_BASIC/m,
    );
    const down = await scan(['--url', `http://127.0.0.1:${await freePort()}`, 'clean/one.eml'], {
      HOOKGATE_AUTH_TOKENS: MTA_TOKEN,
    });
    expect(down.code).toBe(2);
    expect(down.stdout).toMatch(
      /^ERROR +clean\/one\.eml +cannot reach http:\/\/127\.0\.0\.1:\d+: ECONNREFUSED/m,
    );
  });

  it('--json with only an MTA token: the answer without reasons', async () => {
    const r = await scan(['--url', hookgate.url!, '--json', 'mail/b-virus.eml'], {
      HOOKGATE_AUTH_TOKENS: `mta=${MTA_TOKEN}`,
    });
    expect(r.code).toBe(1);
    const doc = JSON.parse(r.stdout) as { messages: { action: string; reply: string; txnId: string }[] };
    expect(doc.messages[0]).toMatchObject({
      action: 'reject',
      reply: expect.stringMatching(/^550 5\.7\.1 Virus found/),
      txnId: expect.stringMatching(/\.\d+$/),
    });
  });
});
