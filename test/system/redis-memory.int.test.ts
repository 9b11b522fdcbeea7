/**
 * Issue 11: Redis memory is bounded by what is in flight, not by history. Message bytes leave Redis once every
 * scanner has answered (or the deadline passed), so after a burst of answered mail Redis is back to its baseline.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { Redis } from 'ioredis';
import { startRedis, startClamd, freePort, type RedisDaemon, type ClamdDaemon } from '../support/daemons.js';
import { startHookgate, writeConfig, postStalwart, type HookgateProcess } from '../support/processes.js';
import { stalwartRequest } from '../support/stalwart.js';
import { clean } from '../support/samples.js';

let redis: RedisDaemon;
let clamd: ClamdDaemon;
let hg: HookgateProcess;
let r: Redis;

beforeAll(async () => {
  [redis, clamd] = await Promise.all([startRedis(), startClamd()]);
  r = new Redis(redis.url);
  const cfg = writeConfig('redis: { prefix: mem }\nscanners: { dlp: { enabled: true } }\n');
  hg = await startHookgate(['all'], {
    HOOKGATE_CONFIG: cfg,
    HOOKGATE_REDIS_URL: redis.url,
    HOOKGATE_CLAMD: clamd.tcp,
    HOOKGATE_LISTEN: `127.0.0.1:${await freePort()}`,
  });
});
afterAll(async () => {
  r?.disconnect();
  await hg?.stop();
  await Promise.all([redis?.stop(), clamd?.stop()]);
});

const usedMemory = async () => Number(/used_memory:(\d+)/.exec(await r.info('memory'))![1]);

describe('Redis memory after answered mail', () => {
  it('returns to its baseline within a minute after 200 MB of answered messages; no message bytes are left', async () => {
    const MB = 1024 * 1024;
    const message = (i: number) => ({
      ...clean({ subject: `bulk ${i}`, messageId: `bulk${i}` }),
      body: `${'lorem ipsum dolor sit amet '.repeat(MB / 27)}\r\n`,
    });
    // One transaction first, so scripts, queues and pools exist in the baseline.
    expect(
      (await postStalwart(hg.url!, stalwartRequest('data', { clientPort: 40000 }, message(0)))).body.action,
    ).toBe('accept');
    const baseline = await usedMemory();

    let peak = baseline;
    let next = 1;
    const sendAll = async () => {
      while (next <= 200) {
        const i = next++;
        const res = await postStalwart(
          hg.url!,
          stalwartRequest('data', { clientPort: 40000 + i, clientIp: `198.51.100.${i % 250}` }, message(i)),
        );
        expect(res.body.action).toBe('accept');
        peak = Math.max(peak, await usedMemory());
      }
    };
    await Promise.all([sendAll(), sendAll(), sendAll(), sendAll()]);

    // What is left is the small per-transaction record (a few hundred bytes each), never the megabyte of bytes.
    await expect
      .poll(async () => (await usedMemory()) - baseline, { timeout: 60_000, interval: 500 })
      .toBeLessThan(2 * MB);
    expect(await r.keys('mem:{*}:m:*')).toEqual([]);
    console.info(
      `redis used_memory: baseline ${(baseline / MB).toFixed(1)} MB, peak ${(peak / MB).toFixed(1)} MB during 200 × 1 MB, after ${((await usedMemory()) / MB).toFixed(1)} MB`,
    );
  }, 180_000);
});
