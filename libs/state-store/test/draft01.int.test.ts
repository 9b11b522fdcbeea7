import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { randomBytes } from 'node:crypto';
import type { Draft01Registration } from '@hookgate/contracts';
import { createRedisClient, connectRedis, closeRedis, type RedisClient } from '@hookgate/redis';
import { DedupeStore, RegistrationStore, type StoredAnswer } from '@hookgate/state-store';
import { startRedis, type RedisDaemon } from '../../../test/support/daemons.js';

let redis: RedisDaemon;
let client: RedisClient;

beforeAll(async () => {
  redis = await startRedis();
  client = createRedisClient({ mode: 'standalone', url: redis.url }, { role: 'command' });
  await connectRedis(client);
});
afterAll(async () => {
  await closeRedis(client);
  await redis.stop();
});

const T0 = 1_800_000_000_000;
const prefix = () => `d1t${randomBytes(3).toString('hex')}`;
const registration = (over: Partial<Draft01Registration> = {}): Draft01Registration => ({
  v: 1,
  id: `reg-${randomBytes(6).toString('hex')}`,
  identity: 'mta-1',
  name: 'mx1',
  version: null,
  status: 'active',
  createdAt: T0,
  expiresAt: T0 + 60_000,
  serialization: 'json',
  timeoutMs: null,
  inbound: { stages: ['data'], properties: ['/stage'] },
  outbound: null,
  metadata: null,
  ...over,
});

describe('RegistrationStore', () => {
  it('stores a registration shared by any reader, with a TTL past expiry + grace', async () => {
    const store = new RegistrationStore(client, { prefix: prefix(), graceMs: 5_000, tombstoneMs: 10_000 });
    const reg = registration({ expiresAt: Date.now() + 60_000 });
    expect(await store.create(reg, 10, Date.now())).toBe(true);
    const other = new RegistrationStore(client, { prefix: store.keys.prefix });
    expect(await other.get(reg.id)).toEqual(reg);
    const ttl = await client.pttl(store.keys.registration(reg.id));
    expect(ttl).toBeGreaterThan(70_000);
    expect(ttl).toBeLessThanOrEqual(75_000);
    expect(await store.get('reg-unknown')).toBeUndefined();
  });

  it('enforces the per-identity limit; expired registrations free their slot; identities are separate', async () => {
    const store = new RegistrationStore(client, { prefix: prefix() });
    expect(await store.create(registration({ expiresAt: T0 + 1_000 }), 2, T0)).toBe(true);
    expect(await store.create(registration(), 2, T0)).toBe(true);
    expect(await store.create(registration(), 2, T0)).toBe(false);
    expect(await store.create(registration({ identity: 'mta-{2}' }), 2, T0)).toBe(true);
    // The first one expired: its slot is free again.
    expect(await store.create(registration({ createdAt: T0 + 2_000 }), 2, T0 + 2_000)).toBe(true);
  });

  it('serves an id through expiry grace, deregistration grace and renewal grace, then not', async () => {
    const store = new RegistrationStore(client, { prefix: prefix(), graceMs: 5_000 });
    const reg = registration();
    expect(store.state(reg, T0)).toEqual({ kind: 'active' });
    expect(store.state(reg, reg.expiresAt + 1)).toEqual({ kind: 'grace', why: 'expired' });
    expect(store.state(reg, reg.expiresAt + 5_000)).toEqual({ kind: 'expired' });

    expect(await store.create(reg, 5, T0)).toBe(true);
    const gone = await store.deregister(reg, T0 + 1_000);
    expect(gone).toMatchObject({ status: 'deregistered', deregisteredAt: T0 + 1_000 });
    expect(await store.deregister(gone, T0 + 3_000)).toBe(gone);
    expect(store.state(gone, T0 + 2_000)).toEqual({ kind: 'grace', why: 'deregistered' });
    expect(store.state(gone, T0 + 6_001)).toEqual({ kind: 'deregistered' });
    expect((await store.get(reg.id))?.status).toBe('deregistered');

    const old = registration();
    await store.create(old, 5, T0);
    await store.retire(old, 'reg-new', T0 + 10_000);
    const retired = (await store.get(old.id))!;
    expect(retired).toMatchObject({ replacedBy: 'reg-new', retiresAt: T0 + 15_000 });
    expect(store.state(retired, T0 + 12_000)).toEqual({ kind: 'grace', why: 'renewed' });
    expect(store.state(retired, T0 + 15_000)).toEqual({ kind: 'expired' });
  });

  it('keeps statistics: totals, windows, average, consecutive failures', async () => {
    const store = new RegistrationStore(client, { prefix: prefix() });
    const reg = registration();
    const day = 86_400_000;
    await store.recordInvocation(reg, true, 10, T0 - 10 * day);
    await store.recordInvocation(reg, false, 30, T0 - 2 * day);
    await store.recordInvocation(reg, true, 20, T0 - 1000);
    await store.recordInvocation(reg, false, 40, T0);
    await store.recordInvocation(reg, false, 50, T0);
    const s = await store.stats(reg.id, T0);
    expect(s.invocations).toEqual({ total: 5, last24h: 3, last7d: 4, last30d: 5 });
    expect(s.errors).toEqual({ total: 3, last24h: 2, last7d: 3, last30d: 3 });
    expect(s.averageResponseMs).toBe(30);
    expect(s.lastInvocation).toBe(T0);
    expect(s.consecutiveFailures).toBe(2);
    await store.recordInvocation(reg, true, 1, T0);
    expect((await store.stats(reg.id, T0)).consecutiveFailures).toBe(0);
    expect(await store.stats('reg-none', T0)).toMatchObject({
      invocations: { total: 0 },
      lastInvocation: null,
    });
  });
});

describe('DedupeStore', () => {
  const answer = (over: Partial<StoredAnswer> = {}): StoredAnswer => ({
    v: 1,
    status: 200,
    ops: { set: [{ path: '/rawMessage', value: Buffer.from('new bytes') }] },
    registrationId: 'reg-a',
    reqId: 'hg1',
    at: T0,
    ...over,
  });

  it('claims once; a duplicate sees the claim, then the stored answer (bytes intact), in the window', async () => {
    const d = new DedupeStore(client, { prefix: prefix(), windowMs: 30_000 });
    expect(await d.claim('mta-1', 'r1', 'A', 5_000)).toEqual({ kind: 'claimed' });
    expect(await d.claim('mta-1', 'r1', 'B', 5_000)).toEqual({ kind: 'pending' });
    await d.complete('mta-1', 'r1', answer());
    const again = await d.claim('mta-1', 'r1', 'B', 5_000);
    expect(again.kind).toBe('done');
    const ops = again.kind === 'done' ? again.answer.ops : undefined;
    expect(Buffer.from(ops!.set![0]!.value as Uint8Array).toString()).toBe('new bytes');
    const ttl = await client.pttl(d.keys.request('mta-1', 'r1'));
    expect(ttl).toBeGreaterThan(25_000);
    // Another identity never sees it.
    expect(await d.claim('mta-2', 'r1', 'C', 5_000)).toEqual({ kind: 'claimed' });
  });

  it('a concurrent duplicate waits for the first answer instead of scanning', async () => {
    const d = new DedupeStore(client, { prefix: prefix() });
    expect((await d.claim('mta-1', 'r2', 'A', 10_000)).kind).toBe('claimed');
    const waiting = d.claimOrWait('mta-1', 'r2', 'B', 10_000, Date.now() + 10_000);
    await d.complete('mta-1', 'r2', answer({ status: 204, ops: undefined }));
    expect(await waiting).toEqual({ kind: 'done', answer: answer({ status: 204, ops: undefined }) });
  });

  it('takes over when the first claim lapses, and gives up at its own deadline', async () => {
    const d = new DedupeStore(client, { prefix: prefix() });
    await d.claim('mta-1', 'r3', 'A', 100);
    expect(await d.claimOrWait('mta-1', 'r3', 'B', 5_000, Date.now() + 10_000)).toEqual({ kind: 'claimed' });
    expect(await d.claimOrWait('mta-1', 'r3', 'C', 5_000, Date.now() + 50)).toEqual({ kind: 'pending' });
  });

  it('release drops only the owner’s own claim, never an answer', async () => {
    const d = new DedupeStore(client, { prefix: prefix() });
    await d.claim('mta-1', 'r4', 'A', 10_000);
    await d.release('mta-1', 'r4', 'B');
    expect((await d.claim('mta-1', 'r4', 'B', 10_000)).kind).toBe('pending');
    await d.release('mta-1', 'r4', 'A');
    expect((await d.claim('mta-1', 'r4', 'B', 10_000)).kind).toBe('claimed');
    await d.complete('mta-1', 'r4', answer());
    await d.release('mta-1', 'r4', 'B');
    expect((await d.claim('mta-1', 'r4', 'C', 10_000)).kind).toBe('done');
  });
});
