/**
 * Issue 16: the quarantine store, on real Redis and on a real directory: keep, list with filters, show (headers,
 * body only when asked, audited), release once, delete, and clear errors for bad ids, unknown, expired and deleted
 * items, double releases and a full store. Delivery itself is tested against a real Postfix in relay.int.test.ts;
 * here the relay records what it was given.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { randomBytes } from 'node:crypto';
import { readdirSync, rmSync } from 'node:fs';
import { ERR, errorCode, type StageRequest, type VerdictRecord } from '@hookgate/contracts';
import { createRedisClient, connectRedis, closeRedis, type RedisClient } from '@hookgate/redis';
import {
  FsQuarantineStore,
  Quarantine,
  RedisQuarantineStore,
  idTime,
  isId,
  newId,
  type QuarantineStore,
  type Relay,
} from '@hookgate/quarantine';
import { startRedis, tempDir, type RedisDaemon } from '../../../test/support/daemons.js';

let redis: RedisDaemon;
let client: RedisClient;
const dirs: string[] = [];
const stores: QuarantineStore[] = [];

beforeAll(async () => {
  redis = await startRedis();
  client = createRedisClient(
    { mode: 'standalone', url: redis.url },
    { role: 'command', commandTimeoutMs: 5000 },
  );
  await connectRedis(client);
});
afterAll(async () => {
  for (const s of stores) await s.close?.();
  await closeRedis(client);
  await redis.stop();
  for (const d of dirs) rmSync(d, { recursive: true, force: true });
});

const HOUR = 3_600_000;

function message(subject: string, body = 'Hello.\r\n'): Buffer {
  return Buffer.from(
    `From: Alice <alice@example.org>\r\nTo: bob@example.net\r\nSubject: ${subject}\r\n  folded\r\nMessage-ID: <${randomBytes(4).toString('hex')}@example.org>\r\n\r\n${body}`,
  );
}

function request(o: { from?: string; to?: string[]; subject?: string } = {}): StageRequest {
  return {
    v: 1,
    protocol: 'milter',
    stage: 'data',
    sessionId: randomBytes(6).toString('hex'),
    txnId: 'abc.1',
    reqId: randomBytes(6).toString('hex'),
    client: { ip: '192.0.2.7', helo: 'mx.example.org' },
    from: { address: o.from ?? 'alice@example.org' },
    to: (o.to ?? ['bob@example.net']).map((address) => ({ address })),
    queueId: 'Q123',
    message: { size: 10, storedBytes: 10, lossy: false, subject: o.subject ?? 'hello' },
    receivedAt: 1,
    deadlineAt: 2,
  };
}

function record(reasons: string[]): VerdictRecord {
  return {
    v: 1,
    reqId: 'r',
    txnId: 'abc.1',
    stage: 'data',
    verdict: {
      v: 1,
      action: 'quarantine',
      modifications: [],
      reasons,
      decidedBy: ['clamav'],
      partial: false,
    },
    expected: ['clamav'],
    results: [
      {
        v: 1,
        scanner: 'clamav',
        kind: 'av',
        outcome: { status: 'fail', category: 'virus', action: 'quarantine', names: ['Eicar'] },
        durationMs: 12,
        at: 3,
      },
    ],
    answeredAt: 5,
    durationMs: 4,
  };
}

/** A relay that records deliveries; `fail` makes it refuse. */
function recordingRelay(): Relay & {
  sent: { to: string[]; bytes: Buffer }[];
  fail: boolean;
  gate?: Promise<void>;
} {
  const r = {
    target: 'smtp://relay.test:25',
    sent: [] as { to: string[]; bytes: Buffer }[],
    fail: false,
    gate: undefined as Promise<void> | undefined,
    async deliver(env: { from: string; to: string[] }, bytes: Uint8Array) {
      await r.gate;
      if (r.fail) throw Object.assign(new Error('relay said 554 no'), { code: ERR.RELAY_FAILED });
      r.sent.push({ to: env.to, bytes: Buffer.from(bytes) });
      return { reply: '250 2.0.0 Ok: queued as ABC', accepted: env.to, refused: [] };
    },
  };
  return r;
}

async function codeOf(p: Promise<unknown>): Promise<string | undefined> {
  try {
    await p;
    return 'resolved';
  } catch (err) {
    return errorCode(err);
  }
}

const kinds = {
  redis: async (maxBytes: number) =>
    new RedisQuarantineStore(client, { prefix: `q${randomBytes(4).toString('hex')}`, maxBytes }),
  filesystem: async (maxBytes: number) => {
    const directory = tempDir('quarantine');
    dirs.push(directory);
    const s = await FsQuarantineStore.open({ directory, maxBytes, retentionMs: 24 * HOUR });
    stores.push(s);
    return s;
  },
};

describe('quarantine ids', () => {
  it('carry their keeping time, sort by it and are safe in a reply', () => {
    const t = Date.now();
    const a = newId(t);
    const b = newId(t + 1);
    expect(isId(a)).toBe(true);
    expect(idTime(a)).toBe(t);
    expect(a < b).toBe(true);
    expect(a).toMatch(/^[0-9a-z]{19}$/);
    expect(isId('../etc/passwd')).toBe(false);
    expect(isId(a.toUpperCase())).toBe(false);
  });
});

describe.each(Object.keys(kinds) as (keyof typeof kinds)[])('quarantine on %s', (kind) => {
  const make = async (o: { maxBytes?: number; now?: () => number } = {}) => {
    const relay = recordingRelay();
    const store = await kinds[kind](o.maxBytes ?? 1 << 20);
    return {
      q: new Quarantine({ store, retentionMs: 24 * HOUR, relay, ...(o.now ? { now: o.now } : {}) }),
      relay,
      store,
    };
  };

  it('keeps a message with its record; show gives headers and verdict, the body only when asked (audited)', async () => {
    const { q } = await make();
    const bytes = message('Invoice');
    const id = await q.keep(request({ subject: 'Invoice' }), bytes, record(['clamav:virus:Eicar']));
    expect(isId(id)).toBe(true);
    const view = await q.show(id, 'ops', false);
    expect(view).toMatchObject({
      id,
      status: 'held',
      size: bytes.byteLength,
      from: 'alice@example.org',
      to: ['bob@example.net'],
      queueId: 'Q123',
      txnId: 'abc.1',
      subject: 'Invoice',
      lossy: false,
    });
    expect(view.record.verdict.reasons).toEqual(['clamav:virus:Eicar']);
    expect(view.headers).toContainEqual({ name: 'Subject', value: 'Invoice folded' });
    expect(view.message).toBeUndefined();
    expect(view.audit.map((a) => `${a.who}:${a.what}`)).toEqual(['hookgate:keep']);
    const withBody = await q.show(id, 'ops', true);
    expect(Buffer.from(withBody.message!.base64, 'base64').equals(bytes)).toBe(true);
    const again = await q.show(id, 'ops', false);
    expect(again.audit.map((a) => `${a.who}:${a.what}`)).toEqual(['hookgate:keep', 'ops:view-body']);
  });

  it('lists newest first, filters by recipient, sender, reason and time, and pages with a cursor', async () => {
    let t = Date.now();
    const { q } = await make({ now: () => t });
    const ids: string[] = [];
    for (let i = 0; i < 5; i++) {
      t += 1000;
      ids.push(
        await q.keep(
          request({ from: `s${i}@send.example`, to: [`r${i}@rcpt.example`, 'all@rcpt.example'] }),
          message(`m${i}`),
          record([i % 2 ? 'rspamd:spam' : 'clamav:virus:Eicar']),
        ),
      );
    }
    const all = await q.list({});
    expect(all.items.map((i) => i.id)).toEqual([...ids].reverse());
    expect(all.next).toBeUndefined();
    expect((await q.list({ recipient: 'R3@RCPT' })).items.map((i) => i.id)).toEqual([ids[3]]);
    expect((await q.list({ sender: 's1@' })).items.map((i) => i.id)).toEqual([ids[1]]);
    expect((await q.list({ reason: 'spam' })).items.map((i) => i.id)).toEqual([ids[3], ids[1]]);
    expect((await q.list({ since: idTime(ids[1]!), until: idTime(ids[3]!) })).items.map((i) => i.id)).toEqual(
      [ids[3], ids[2], ids[1]],
    );
    const p1 = await q.list({ limit: 2 });
    expect(p1.items.map((i) => i.id)).toEqual([ids[4], ids[3]]);
    const p2 = await q.list({ limit: 2, cursor: p1.next! });
    expect(p2.items.map((i) => i.id)).toEqual([ids[2], ids[1]]);
    const p3 = await q.list({ limit: 2, cursor: p2.next! });
    expect(p3.items.map((i) => i.id)).toEqual([ids[0]]);
    expect(all.items[0]).toMatchObject({
      status: 'held',
      reasons: ['clamav:virus:Eicar'],
      to: ['r4@rcpt.example', 'all@rcpt.example'],
    });
  });

  it('releases once: the relay gets the kept bytes and envelope; a second release is a 409 naming who released', async () => {
    const { q, relay } = await make();
    const bytes = message('release me');
    const id = await q.keep(request({ to: ['bob@example.net', 'carol@example.net'] }), bytes, record(['x']));
    const r = await q.release(id, 'alice-admin');
    expect(r).toMatchObject({
      id,
      status: 'released',
      reply: '250 2.0.0 Ok: queued as ABC',
      accepted: ['bob@example.net', 'carol@example.net'],
    });
    expect(relay.sent).toHaveLength(1);
    expect(relay.sent[0]!.bytes.equals(bytes)).toBe(true);
    expect(relay.sent[0]!.to).toEqual(['bob@example.net', 'carol@example.net']);
    await expect(q.release(id, 'bob-admin')).rejects.toMatchObject({
      code: ERR.QUARANTINE_CONFLICT,
      message: expect.stringMatching(/already released by alice-admin at \d{4}-/),
    });
    expect(relay.sent).toHaveLength(1);
    const view = await q.show(id, 'ops', true);
    expect(view.status).toBe('released');
    expect(view.message).toBeUndefined();
    expect(view.outcome).toMatchObject({
      what: 'released',
      by: 'alice-admin',
      reply: '250 2.0.0 Ok: queued as ABC',
    });
    expect(view.audit.map((a) => `${a.who}:${a.what}`)).toEqual(['hookgate:keep', 'alice-admin:release']);
    expect((await q.list({})).items.map((i) => i.id)).not.toContain(id);
    expect((await q.list({ status: 'released' })).items.map((i) => i.id)).toContain(id);
  });

  it('two releases at once deliver once: the second gets 409 while the first runs', async () => {
    const { q, relay } = await make();
    const id = await q.keep(request(), message('race'), record(['x']));
    let open!: () => void;
    relay.gate = new Promise((resolve) => (open = resolve));
    const first = q.release(id, 'a');
    // The first has claimed the item once it waits at the relay.
    await expect.poll(async () => (await q.show(id, 'ops', false)).status).toBe('releasing');
    expect(await codeOf(q.release(id, 'b'))).toBe(ERR.QUARANTINE_CONFLICT);
    expect(await codeOf(q.delete(id, 'b'))).toBe(ERR.QUARANTINE_CONFLICT);
    open();
    await first;
    expect(relay.sent).toHaveLength(1);
  });

  it('a relay failure keeps the item held, audits it and a later release succeeds', async () => {
    const { q, relay } = await make();
    const id = await q.keep(request(), message('retry'), record(['x']));
    relay.fail = true;
    await expect(q.release(id, 'ops')).rejects.toMatchObject({ code: ERR.RELAY_FAILED });
    expect((await q.show(id, 'ops', false)).status).toBe('held');
    relay.fail = false;
    await q.release(id, 'ops');
    const view = await q.show(id, 'ops', false);
    expect(view.audit.map((a) => a.what)).toEqual(['keep', 'release-failed', 'release']);
  });

  it('delete leaves a tombstone: show says who deleted it, release and a second delete are 410', async () => {
    const { q, relay } = await make();
    const id = await q.keep(request(), message('bye'), record(['x']));
    expect(await q.delete(id, 'ops')).toEqual({ id, status: 'deleted' });
    const view = await q.show(id, 'ops', true);
    expect(view).toMatchObject({ status: 'deleted', outcome: { what: 'deleted', by: 'ops' } });
    expect(view.message).toBeUndefined();
    await expect(q.release(id, 'ops')).rejects.toMatchObject({
      code: ERR.QUARANTINE_GONE,
      message: expect.stringMatching(/deleted by ops/),
    });
    expect(await codeOf(q.delete(id, 'ops'))).toBe(ERR.QUARANTINE_GONE);
    expect(relay.sent).toHaveLength(0);
    const trail = await q.audit(10);
    expect(trail.slice(0, 2).map((a) => `${a.who}:${a.what}:${a.id}`)).toEqual([
      `ops:delete:${id}`,
      `hookgate:keep:${id}`,
    ]);
  });

  it('bad ids are 400, unknown ids 404, expired items 410', async () => {
    let t = Date.now();
    const { q } = await make({ now: () => t });
    for (const op of [
      q.show('nope', 'ops', false),
      q.release('../../x', 'ops'),
      q.delete('A'.repeat(19), 'ops'),
    ])
      expect(await codeOf(op)).toBe(ERR.REQUEST_INVALID);
    const unknown = newId(t - 1000);
    expect(await codeOf(q.show(unknown, 'ops', false))).toBe(ERR.NOT_FOUND);
    expect(await codeOf(q.release(unknown, 'ops'))).toBe(ERR.NOT_FOUND);
    // Kept 25 hours ago with a 24-hour retention: gone from the store, and its id says why.
    t = Date.now() - 25 * HOUR;
    const old = await q.keep(request(), message('old'), record(['x']));
    t = Date.now();
    if (kind === 'filesystem') await (q.store as FsQuarantineStore).sweep(t);
    for (const op of [q.show(old, 'ops', false), q.release(old, 'ops'), q.delete(old, 'ops')]) {
      await expect(op).rejects.toMatchObject({
        code: ERR.QUARANTINE_GONE,
        message: expect.stringMatching(/expired/),
      });
    }
    expect((await q.list({ status: 'any' })).items.map((i) => i.id)).not.toContain(old);
  });

  it('a full store refuses to keep (QUARANTINE_FULL) and keeps nothing; releasing frees the space', async () => {
    const { q } = await make({ maxBytes: 1000 });
    const a = await q.keep(request(), message('a', 'x'.repeat(500)), record(['x']));
    await expect(q.keep(request(), message('b', 'y'.repeat(500)), record(['x']))).rejects.toMatchObject({
      code: ERR.QUARANTINE_FULL,
      retryable: true,
    });
    expect((await q.list({ status: 'any' })).items.map((i) => i.id)).toEqual([a]);
    expect(await q.usage()).toMatchObject({ held: 1, maxBytes: 1000 });
    await q.release(a, 'ops');
    expect(await q.usage()).toMatchObject({ held: 0, bytes: 0 });
    await q.keep(request(), message('b', 'y'.repeat(500)), record(['x']));
  });

  if (kind === 'filesystem') {
    it('writes one file set per item and removes the message on release', async () => {
      const { q, store } = await make();
      const id = await q.keep(request(), message('files'), record(['x']));
      const dir = (store as unknown as { dirOf?: string }).dirOf ?? dirs[dirs.length - 1]!;
      expect(
        readdirSync(dir)
          .filter((n) => n.startsWith(id))
          .sort(),
      ).toEqual([`${id}.audit`, `${id}.eml`, `${id}.json`]);
      await q.release(id, 'ops');
      expect(
        readdirSync(dir)
          .filter((n) => n.startsWith(id))
          .sort(),
      ).toEqual([`${id}.audit`, `${id}.json`]);
    });
  }
});
