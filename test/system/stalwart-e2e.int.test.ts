/**
 * End to end through real processes: `hookgate` ingress and worker processes, a private Redis and a private
 * clamd, driven over HTTP exactly as Stalwart calls it.
 */
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { existsSync } from 'node:fs';
import { Redis } from 'ioredis';
import {
  startRedis,
  startClamd,
  startTarpit,
  freePort,
  type RedisDaemon,
  type ClamdDaemon,
} from '../support/daemons.js';
import {
  startHookgate,
  runHookgate,
  writeConfig,
  postStalwart,
  type HookgateProcess,
} from '../support/processes.js';
import { stalwartRequest, transaction } from '../support/stalwart.js';
import { clean, eicarAttachment, eicarInline, eicarZip } from '../support/samples.js';

let redis: RedisDaemon;
let clamd: ClamdDaemon;
const running: HookgateProcess[] = [];
let prefixN = 0;

beforeAll(async () => {
  [redis, clamd] = await Promise.all([startRedis(), startClamd()]);
});
afterEach(async () => {
  await Promise.all(running.splice(0).map((p) => p.stop('SIGKILL')));
});
afterAll(async () => {
  await Promise.all([redis?.stop(), clamd?.stop()]);
});

let lastPrefix = '';
/** A config with short deadlines so failure paths finish quickly; each test gets its own Redis prefix. */
function config(extra = ''): string {
  prefixN++;
  lastPrefix = `e2e${prefixN}x${process.pid}`;
  return writeConfig(`
redis: { prefix: ${lastPrefix} }
stages: { deadlineMs: { connect: 1500, ehlo: 1500, mail: 1500, rcpt: 1500, data: 2500 } }
${extra}`);
}

async function hookgate(
  args: string[],
  env: Record<string, string>,
  ready?: RegExp,
): Promise<HookgateProcess> {
  const p = await startHookgate(args, env, ready);
  running.push(p);
  return p;
}

const listen = async () => `127.0.0.1:${await freePort()}`;

describe('hookgate all: Stalwart → Redis → BullMQ → clamd → one verdict', () => {
  it('rejects viruses at data and accepts clean mail with the scanned header', async () => {
    const p = await hookgate(['all'], {
      HOOKGATE_CONFIG: config(),
      HOOKGATE_REDIS_URL: redis.url,
      HOOKGATE_CLAMD: clamd.tcp,
      HOOKGATE_LISTEN: await listen(),
    });
    expect(p.stderr()).toMatch(
      /scanner clamav: active, worker here: clamd at tcp:\/\/127\.0\.0\.1:\d+ \[stages data\]/,
    );
    for (const sample of [eicarInline(), eicarAttachment(), eicarZip()]) {
      const { status, body } = await postStalwart(p.url!, stalwartRequest('data', {}, sample));
      expect(status).toBe(200);
      expect(body).toMatchObject({
        action: 'reject',
        response: { status: 550, enhanced_status: '5.7.1', enhancedStatus: '5.7.1' },
      });
      expect(String((body.response as { message: string }).message)).toMatch(/^Virus found: Test\.EICAR/);
    }
    const ok = await postStalwart(p.url!, stalwartRequest('data', {}, clean()));
    expect(ok.body).toEqual({
      action: 'accept',
      modifications: [{ type: 'addHeader', name: 'X-Virus-Scanned', value: 'hookgate (ClamAV)' }],
    });
  });

  it('starts a private Redis when none is configured, and stops it on exit', async () => {
    const p = await hookgate(['all'], { HOOKGATE_LISTEN: await listen() });
    const m = /started a private redis-server at redis:\/\/127\.0\.0\.1:(\d+)/.exec(p.stderr());
    expect(m).not.toBeNull();
    expect(p.stderr()).toMatch(/scanner clamav: inactive: no engine configured \(set HOOKGATE_CLAMD/);
    expect((await postStalwart(p.url!, stalwartRequest('connect'))).body).toEqual({ action: 'accept' });
    expect(await p.stop('SIGTERM')).toBe(0);
    const port = Number(m![1]);
    const probe = await fetch(`http://127.0.0.1:${port}`).then(
      () => 'open',
      (e: Error) => String((e.cause as { code?: string })?.code),
    );
    expect(probe).toBe('ECONNREFUSED');
  });
});

describe('horizontal: two ingress processes and a separate worker pool', () => {
  it('answers alternate stages of the same transactions exactly as a single instance does', async () => {
    const cfg = config();
    const env = { HOOKGATE_CONFIG: cfg, HOOKGATE_REDIS_URL: redis.url, HOOKGATE_CLAMD: clamd.tcp };
    await hookgate(['worker', '--scanners', 'clamav,dlp'], env);
    const a = await hookgate(['ingress'], { ...env, HOOKGATE_LISTEN: await listen() });
    const b = await hookgate(['ingress'], { ...env, HOOKGATE_LISTEN: await listen() });
    const samples = [clean(), eicarInline(), clean({ subject: 'second' }), eicarZip()];
    const single: unknown[][] = [];
    const alternating: unknown[][] = [];
    for (const [i, sample] of samples.entries()) {
      const one = transaction(
        { clientPort: 41000 + i, rcpts: ['bob@example.net', 'carol@example.net'] },
        sample,
      );
      const two = transaction(
        { clientPort: 42000 + i, rcpts: ['bob@example.net', 'carol@example.net'] },
        sample,
      );
      const s1 = [];
      for (const body of one) s1.push((await postStalwart(a.url!, body)).body);
      const s2 = [];
      for (const [j, body] of two.entries())
        s2.push((await postStalwart(j % 2 === 0 ? a.url! : b.url!, body)).body);
      single.push(s1);
      alternating.push(s2);
    }
    expect(alternating).toEqual(single);
    expect(single.map((t) => (t.at(-1) as { action: string }).action)).toEqual([
      'accept',
      'reject',
      'accept',
      'reject',
    ]);
  });
});

describe('failure: the ingress answers before the deadline whatever fails', () => {
  it('clamd down: tempfail 451 4.7.1 when required, accept when optional', async () => {
    const port = await freePort();
    const env = { HOOKGATE_REDIS_URL: redis.url, HOOKGATE_CLAMD: `tcp://127.0.0.1:${port}` };
    const closed = await hookgate(['all'], {
      ...env,
      HOOKGATE_CONFIG: config(),
      HOOKGATE_LISTEN: await listen(),
    });
    const t0 = Date.now();
    const res = await postStalwart(closed.url!, stalwartRequest('data', {}, clean()));
    expect(res.body).toEqual({
      action: 'reject',
      response: {
        status: 451,
        enhanced_status: '4.7.1',
        enhancedStatus: '4.7.1',
        message: 'Temporary failure in content scanning, try again later',
      },
    });
    expect(Date.now() - t0).toBeLessThan(2500);
    const open = await hookgate(['all'], {
      ...env,
      HOOKGATE_CONFIG: config('scanners: { clamav: { required: false } }'),
      HOOKGATE_LISTEN: await listen(),
    });
    expect((await postStalwart(open.url!, stalwartRequest('data', {}, clean()))).body).toEqual({
      action: 'accept',
    });
  });

  it('no worker running: startup and /readyz name the pool, requests tempfail at once; a worker that starts is used at once (issue 11)', async () => {
    const prefix = `nw${Date.now().toString(36)}`;
    const env = {
      HOOKGATE_CONFIG: config(),
      HOOKGATE_REDIS_URL: redis.url,
      HOOKGATE_REDIS_PREFIX: prefix,
      HOOKGATE_CLAMD: clamd.tcp,
    };
    const p = await hookgate(['ingress'], { ...env, HOOKGATE_LISTEN: await listen() });
    expect(p.stderr()).toMatch(/scanner clamav: expected: .*NO LIVE WORKER/);
    const ready = (await (await fetch(`${p.url}/readyz`)).json()) as {
      status: string;
      pools: Record<string, number>;
      unconsumed?: string[];
    };
    expect(ready).toMatchObject({
      status: 'ready',
      pools: { clamav: 0 },
      unconsumed: expect.arrayContaining(['clamav']),
    });
    const t0 = Date.now();
    const res = await postStalwart(p.url!, stalwartRequest('data', {}, clean()));
    expect(res.body).toMatchObject({ action: 'reject', response: { status: 451, enhanced_status: '4.7.1' } });
    // Decided by clamav's failure policy without waiting for the 2 s data deadline.
    expect(Date.now() - t0).toBeLessThan(2000);
    const metrics = await (await fetch(`${p.url}/metrics`)).text();
    expect(metrics).toMatch(/^hookgate_scanner_workers\{scanner="clamav"[^}]*\} 0$/m);
    const w = await hookgate(['worker', '--scanners', 'clamav'], {
      ...env,
      HOOKGATE_METRICS_LISTEN: await listen(),
    });
    await expect
      .poll(
        async () =>
          ((await (await fetch(`${p.url}/readyz`)).json()) as { pools: Record<string, number> }).pools.clamav,
      )
      .toBe(1);
    const scanned = await postStalwart(p.url!, stalwartRequest('data', {}, clean()));
    expect(scanned.body).toMatchObject({ action: 'accept' });
    await w.stop('SIGTERM');
    // A worker that leaves is out of the pool at once (it says so on shutdown).
    expect(
      ((await (await fetch(`${p.url}/readyz`)).json()) as { pools: Record<string, number> }).pools.clamav,
    ).toBe(0);
  });

  it('a scanner slower than the deadline: tempfail before the deadline', async () => {
    const tarpit = await startTarpit();
    try {
      const p = await hookgate(['all'], {
        HOOKGATE_CONFIG: config(),
        HOOKGATE_REDIS_URL: redis.url,
        HOOKGATE_CLAMD: tarpit.endpoint,
        HOOKGATE_LISTEN: await listen(),
      });
      const t0 = Date.now();
      const res = await postStalwart(p.url!, stalwartRequest('data', {}, clean()));
      expect(res.body).toMatchObject({ action: 'reject', response: { status: 451 } });
      expect(Date.now() - t0).toBeLessThan(2500 + 500);
    } finally {
      await tarpit.stop();
    }
  });

  it('SIGTERM drains: an in-flight request is still answered, then the process exits 0', async () => {
    const tarpit = await startTarpit();
    try {
      const p = await hookgate(['all'], {
        HOOKGATE_CONFIG: config(),
        HOOKGATE_REDIS_URL: redis.url,
        HOOKGATE_CLAMD: tarpit.endpoint,
        HOOKGATE_LISTEN: await listen(),
      });
      const inflight = postStalwart(p.url!, stalwartRequest('data', {}, clean()));
      // Signal once the request is in the pipeline (its scan job is queued), not after a guessed delay.
      const redisClient = new Redis(redis.url);
      await expect
        .poll(async () => (await redisClient.keys(`${lastPrefix}:*`)).length > 0, { timeout: 10_000 })
        .toBe(true);
      redisClient.disconnect();
      p.child.kill('SIGTERM');
      expect((await inflight).body).toMatchObject({ action: 'reject', response: { status: 451 } });
      expect(await p.exited).toBe(0);
    } finally {
      await tarpit.stop();
    }
  });
});

describe('Redis gone (issue 11)', () => {
  it('logs one line when Redis goes and one when it is back (with the error count), and shuts down at once while it is gone', async () => {
    const own = await startRedis();
    try {
      const p = await hookgate(['all'], {
        HOOKGATE_CONFIG: config(),
        HOOKGATE_REDIS_URL: own.url,
        HOOKGATE_CLAMD: clamd.tcp,
        HOOKGATE_LISTEN: await listen(),
        HOOKGATE_LOG_LEVEL: 'info',
      });
      const lines = (msg: string) =>
        p
          .stdout()
          .split('\n')
          .filter((l) => l.includes(`"msg":"${msg}`));
      await own.pause();
      await expect.poll(() => lines('redis unreachable').length, { timeout: 10_000 }).toBe(1);
      // While it is gone, requests are still answered (by the scanners' failure policies).
      const res = await postStalwart(p.url!, stalwartRequest('data', {}, clean()));
      expect(res.body).toMatchObject({ action: 'reject', response: { status: 451 } });
      await own.restart();
      await expect.poll(() => lines('redis reachable again').length, { timeout: 15_000 }).toBe(1);
      const back = JSON.parse(lines('redis reachable again')[0]!) as {
        errors: number;
        downMs: number;
        clients: string[];
      };
      // Five clients (ingress store, queue, subscriber; worker store, queue) lost the connection: one line each way.
      expect(back.clients.length).toBeGreaterThan(1);
      expect(back.errors).toBeGreaterThanOrEqual(back.clients.length);
      expect(lines('redis unreachable')).toHaveLength(1);
      expect(p.stdout()).not.toMatch(/"msg":"redis connection error"/);

      await own.pause();
      await expect.poll(() => lines('redis unreachable').length, { timeout: 10_000 }).toBe(2);
      const t0 = Date.now();
      expect(await p.stop('SIGTERM')).toBe(0);
      // Nothing waits for a Redis that is not there (it took ~35 s and exit 1 before).
      expect(Date.now() - t0).toBeLessThan(5_000);
    } finally {
      await own.stop();
    }
  });
});

describe('operator safety and the CLI', () => {
  it('refuses to listen beyond loopback without auth', async () => {
    const r = await runHookgate(['ingress'], { HOOKGATE_LISTEN: '0.0.0.0:0', HOOKGATE_REDIS_URL: redis.url });
    expect(r.code).toBe(1);
    expect(r.stderr).toMatch(/refusing to listen on 0\.0\.0\.0:0 without authentication/);
  });

  it('`config check` exits 0 on a good file and 1 listing problems on a bad one', async () => {
    expect(existsSync('deploy/config/hookgate.example.yaml')).toBe(true);
    const good = await runHookgate(['config', 'check', 'deploy/config/hookgate.example.yaml']);
    expect(good.code).toBe(0);
    expect(good.stdout).toMatch(/OK \(listen 127\.0\.0\.1:8080; active scanners: clamav, dlp\)/);
    const bad = await runHookgate([
      'config',
      'check',
      writeConfig('listen: nope\nscanners: { clamav: { action: maybe } }\n'),
    ]);
    expect(bad.code).toBe(1);
    expect(bad.stdout).toMatch(
      /- listen: must be host:port[\s\S]*- scanners\.clamav\.action: must be one of reject, quarantine, discard/,
    );
  });

  it('`config check` and startup refuse an unknown key, naming it and the key it probably meant', async () => {
    const typo = writeConfig(
      `redis: { prefix: typo${process.pid} }\nscanners: { clamv: { endpoint: ${clamd.tcp} } }\nstages: { deadlineMs: { dta: 2500 } }\n`,
    );
    const check = await runHookgate(['config', 'check', typo]);
    expect(check.code).toBe(1);
    const problems = [
      /- scanners\.clamv: unknown key; did you mean scanners\.clamav\?/,
      /- stages\.deadlineMs\.dta: unknown key; did you mean stages\.deadlineMs\.data\?/,
    ];
    for (const p of problems) expect(check.stdout).toMatch(p);
    // Startup: the same list, and no ready line (a regression would start, and fail this instead of hanging).
    const start = await hookgate(['all'], {
      HOOKGATE_CONFIG: typo,
      HOOKGATE_REDIS_URL: redis.url,
      HOOKGATE_LISTEN: await listen(),
    }).then(
      () => 'started',
      (err: Error) => err.message,
    );
    expect(start).toMatch(/exited with 1 before ready/);
    for (const p of problems) expect(start).toMatch(p);
  });

  it('an unknown HOOKGATE_* variable is a warning: `config check` passes and hookgate starts', async () => {
    const env = { HOOKGATE_FOO: '1', HOOKGATE_CLAMAV: clamd.tcp };
    const check = await runHookgate(['config', 'check', 'deploy/config/hookgate.example.yaml'], env);
    expect(check.code).toBe(0);
    expect(check.stdout).toMatch(
      /^warning: HOOKGATE_CLAMAV: unknown variable, ignored; did you mean HOOKGATE_CLAMD\?$/m,
    );
    expect(check.stdout).toMatch(/^warning: HOOKGATE_FOO: unknown variable, ignored$/m);
    expect(check.stdout).toMatch(/hookgate\.example\.yaml: OK/);
    const p = await hookgate(['ingress'], {
      ...env,
      HOOKGATE_CONFIG: config(),
      HOOKGATE_REDIS_URL: redis.url,
      HOOKGATE_LISTEN: await listen(),
    });
    expect(p.stderr()).toMatch(/^hookgate: warning: HOOKGATE_FOO: unknown variable, ignored$/m);
    // The JSON log has it too, by name only.
    await expect
      .poll(() => p.stdout())
      .toMatch(/"level":"warn".*"variable":"HOOKGATE_CLAMAV".*did you mean HOOKGATE_CLAMD\?/);
    expect(p.stdout()).not.toContain(clamd.tcp);
    expect((await postStalwart(p.url!, stalwartRequest('connect'))).status).toBe(200);
  });

  it('worker needs --scanners and names unknown or inactive ones', async () => {
    expect((await runHookgate(['worker'], { HOOKGATE_REDIS_URL: redis.url })).stderr).toMatch(
      /worker needs --scanners/,
    );
    expect(
      (await runHookgate(['worker', '--scanners', 'bogus'], { HOOKGATE_REDIS_URL: redis.url })).stderr,
    ).toMatch(/unknown scanner\(s\): bogus/);
    expect(
      (await runHookgate(['worker', '--scanners', 'clamav'], { HOOKGATE_REDIS_URL: redis.url })).stderr,
    ).toMatch(/scanner clamav is not active/);
  });
});
