import { describe, expect, it } from 'vitest';
import type { Stage, StageRequest, Verdict } from '@hookgate/contracts';
import type { IncomingStage } from '@hookgate/pipeline';
import {
  FrameDecoder,
  MILTER_ERR,
  MilterSession,
  NO_REPLY_STEPS,
  Proto,
  WANTED_PROTOCOL,
  type SessionOptions,
  type StageRunner,
} from '../src/index.js';
import { verdict } from '../../../test/support/verdicts.js';

const quiet = { debug() {}, info() {}, warn() {}, error() {} };
const accept = verdict();

interface Call {
  incoming: IncomingStage;
  message?: string;
}

/** A pipeline that records every call and answers with `decide` (accept by default). */
function fakePipeline(
  decide: (i: IncomingStage) => Verdict | Promise<Verdict> = () => accept,
  deadlineMs = 5000,
): StageRunner & { calls: Call[] } {
  const calls: Call[] = [];
  return {
    calls,
    deadlineFor: (_stage: Stage, receivedAt: number) => receivedAt + deadlineMs,
    async handle(incoming, message) {
      calls.push({ incoming, ...(message ? { message: Buffer.from(message).toString('latin1') } : {}) });
      return { verdict: await decide(incoming), request: {} as StageRequest, recorded: Promise.resolve() };
    },
  };
}

function session(pipeline: StageRunner, over: Partial<SessionOptions> = {}) {
  const out: Buffer[] = [];
  let ended = false;
  let n = 0;
  const s = new MilterSession(
    {
      pipeline,
      stages: ['connect', 'ehlo', 'mail', 'rcpt', 'data'],
      maxMessageBytes: 10_000,
      oversize: 'reject',
      onError: 'tempfail',
      replies: {
        tempfail: { code: 451, enhanced: '4.7.1', text: 'Temporary failure' },
        reject: { code: 550, enhanced: '5.7.1', text: 'Rejected' },
      },
      graceMs: 20,
      requestMacros: true,
      noReply: false,
      log: quiet,
      newSessionId: () => `sess${++n}`,
      ...over,
    },
    { write: (b) => out.push(b), end: () => (ended = true) },
  );
  /** Sends a packet and waits for its handling; returns the replies it produced as [cmd, data]. */
  const send = async (cmd: string, data: string | Buffer = ''): Promise<[string, string][]> => {
    const from = out.length;
    await s.handle({ cmd, data: Buffer.isBuffer(data) ? data : Buffer.from(data, 'latin1') });
    return new FrameDecoder(1 << 20)
      .push(Buffer.concat(out.slice(from)))
      .map((f) => [f.cmd, f.data.toString('latin1')]);
  };
  return { s, send, ended: () => ended };
}

function optneg(version: number, actions: number, protocol: number): Buffer {
  const b = Buffer.alloc(12);
  b.writeUInt32BE(version, 0);
  b.writeUInt32BE(actions, 4);
  b.writeUInt32BE(protocol, 8);
  return b;
}

const connect = (ip = '192.0.2.10', port = 40000) =>
  Buffer.concat([
    Buffer.from('mx.example.org\x004'),
    Buffer.from([port >> 8, port & 255]),
    Buffer.from(`${ip}\0`),
  ]);

describe('negotiation', () => {
  it('v6 with Postfix 3.7 offer: all actions, leading spaces, macro list; every step answered by default', async () => {
    const { s, send } = session(fakePipeline());
    const [[cmd, data]] = (await send('O', optneg(6, 0x1ff, 0x1fffff))) as [[string, string]];
    const b = Buffer.from(data, 'latin1');
    expect(cmd).toBe('O');
    expect([b.readUInt32BE(0), b.readUInt32BE(4), b.readUInt32BE(8)]).toEqual([6, 0x1ff, Proto.HDR_LEADSPC]);
    expect(WANTED_PROTOCOL).toBe(Proto.HDR_LEADSPC);
    expect(b.subarray(12).toString('latin1')).toContain('{auth_authen}');
    expect(s.negotiated).toEqual({ version: 6, actions: 0x1ff, protocol: Proto.HDR_LEADSPC });
  });

  it('noReply: no replies for steps without a decision, where the MTA offers it', async () => {
    const { s, send } = session(fakePipeline(), { noReply: true });
    await send('O', optneg(6, 0x1ff, 0x1fffff));
    expect(s.negotiated!.protocol).toBe(NO_REPLY_STEPS | Proto.HDR_LEADSPC);
    expect(NO_REPLY_STEPS).toBe(Proto.NR_HDR | Proto.NR_BODY | Proto.NR_EOH | Proto.NR_DATA | Proto.NR_UNKN);
    await send('C', connect());
    await send('M', '<a@example.org>\0');
    for (const [cmd, data] of [
      ['T', ''],
      ['L', 'Subject\0 x\0'],
      ['N', ''],
      ['B', 'body'],
      ['U', 'XYZZY\0'],
    ] as const)
      expect(await send(cmd, data)).toEqual([]);
    expect(await send('E')).toEqual([['a', '']]);
    // An MTA that does not offer a step's NR bit still gets its reply.
    const old = session(fakePipeline(), { noReply: true });
    await old.send('O', optneg(6, 0x1ff, 0x1fffff & ~Proto.NR_HDR));
    expect(old.s.negotiated!.protocol & Proto.NR_HDR).toBe(0);
  });

  it('v2 (Stalwart can be set to it): no macro list, no v6 protocol bits, every step answered', async () => {
    const { send } = session(fakePipeline());
    const [[, data]] = (await send('O', optneg(2, 0x3f, 0x7f))) as [[string, string]];
    const b = Buffer.from(data, 'latin1');
    expect(b.length).toBe(12);
    expect([b.readUInt32BE(0), b.readUInt32BE(4), b.readUInt32BE(8)]).toEqual([2, 0x3f, 0]);
    await send('C', connect());
    await send('M', '<a@example.org>\0');
    expect(await send('T')).toEqual([['c', '']]);
    expect(await send('L', 'Subject\0hi\0')).toEqual([['c', '']]);
    expect(await send('N')).toEqual([['c', '']]);
    expect(await send('B', 'body\r\n')).toEqual([['c', '']]);
  });

  it('a version below 2 and anything before OPTNEG end the connection', () => {
    const { s } = session(fakePipeline());
    expect(() => s.handle({ cmd: 'C', data: connect() })).toThrow(
      expect.objectContaining({ code: MILTER_ERR.PROTOCOL }),
    );
    expect(() => s.handle({ cmd: 'O', data: optneg(1, 0, 0) })).toThrow(
      expect.objectContaining({ code: MILTER_ERR.PROTOCOL }),
    );
  });

  it('an unknown command byte ends the connection', async () => {
    const { s, send } = session(fakePipeline());
    await send('O', optneg(6, 0x1ff, 0x1fffff));
    expect(() => s.handle({ cmd: 'Z', data: Buffer.alloc(0) })).toThrow(
      expect.objectContaining({ code: MILTER_ERR.UNKNOWN_COMMAND }),
    );
  });
});

/** A Postfix-like v6 session up to the first recipient. */
async function open(send: (cmd: string, data?: string | Buffer) => Promise<[string, string][]>) {
  await send('O', optneg(6, 0x1ff, 0x1fffff));
  await send('D', 'Cj\0mx.example.org\0{daemon_addr}\x00127.0.0.1\0{daemon_port}\x0025\0');
  expect(await send('C', connect())).toEqual([['c', '']]);
  expect(await send('H', 'client.example.org\0')).toEqual([['c', '']]);
}

describe('a transaction', () => {
  it('maps callbacks to stages, rejects one recipient, and scans the exact message at end of message', async () => {
    const p = fakePipeline((i) =>
      i.stage === 'rcpt' && i.rcpt === 'new@example.net'
        ? { ...accept, action: 'tempfail', reply: { code: 451, enhanced: '4.7.1', text: 'Greylisted' } }
        : i.stage === 'data'
          ? { ...accept, modifications: [{ type: 'addHeader', name: 'X-Virus-Scanned', value: 'hookgate' }] }
          : accept,
    );
    const { send } = session(p);
    await open(send);
    await send('D', 'M{auth_authen}\0alice\0{auth_type}\0PLAIN\0');
    expect(await send('M', '<Alice@Example.org>\0SIZE=120\0')).toEqual([['c', '']]);
    await send('D', 'Ri\0QID1\0');
    expect(await send('R', '<known@example.net>\0')).toEqual([['c', '']]);
    expect(await send('R', '<new@example.net>\0')).toEqual([['y', '451 4.7.1 Greylisted\0']]);
    expect(await send('T')).toEqual([['c', '']]);
    expect(await send('L', 'From\0 a@example.org\0')).toEqual([['c', '']]);
    expect(await send('L', 'Subject\0 Hello\n\tworld\0')).toEqual([['c', '']]);
    expect(await send('N')).toEqual([['c', '']]);
    expect(await send('B', 'line 1\r\n')).toEqual([['c', '']]);
    expect(await send('E', 'line 2\r\n')).toEqual([
      ['h', 'X-Virus-Scanned\0 hookgate\0'],
      ['a', ''],
    ]);

    expect(p.calls.map((c) => c.incoming.stage)).toEqual(['connect', 'ehlo', 'mail', 'rcpt', 'rcpt', 'data']);
    const [conn, ehlo, mail, , rcpt2, data] = p.calls as [Call, Call, Call, Call, Call, Call];
    expect(conn.incoming).toMatchObject({
      protocol: 'milter',
      sessionId: 'sess1',
      client: { ip: '192.0.2.10', port: 40000, ptr: 'mx.example.org' },
      server: { name: 'mx.example.org', ip: '127.0.0.1', port: 25 },
    });
    expect(ehlo.incoming.client.helo).toBe('client.example.org');
    expect(mail.incoming).toMatchObject({
      from: { address: 'alice@example.org', parameters: { SIZE: '120' } },
      auth: { login: 'alice', method: 'PLAIN' },
    });
    expect(rcpt2.incoming).toMatchObject({
      rcpt: 'new@example.net',
      queueId: 'QID1',
      to: [{ address: 'known@example.net' }, { address: 'new@example.net' }],
    });
    // The refused recipient is not part of the message.
    expect(data.incoming.to).toEqual([{ address: 'known@example.net' }]);
    expect(data.incoming.message).toMatchObject({
      subject: 'Hello world',
      lossy: false,
      storedBytes: data.message!.length,
    });
    expect(data.message).toBe('From: a@example.org\r\nSubject: Hello\r\n\tworld\r\n\r\nline 1\r\nline 2\r\n');
  });

  it('abort: no reply, the next message on the same connection starts clean', async () => {
    const p = fakePipeline();
    const { send } = session(p);
    await open(send);
    await send('M', '<a@example.org>\0');
    await send('R', '<one@example.net>\0');
    await send('L', 'Subject\0 first\0');
    await send('B', 'first body\r\n');
    expect(await send('A')).toEqual([]);
    await send('M', '<b@example.org>\0');
    await send('R', '<two@example.net>\0');
    await send('L', 'Subject\0 second\0');
    await send('B', 'second body\r\n');
    expect(await send('E')).toEqual([['a', '']]);
    await send('M', '<c@example.org>\0');
    await send('R', '<three@example.net>\0');
    await send('B', 'third\r\n');
    expect(await send('E')).toEqual([['a', '']]);
    const data = p.calls.filter((c) => c.incoming.stage === 'data');
    expect(data.map((c) => [c.incoming.from?.address, c.incoming.to, c.message])).toEqual([
      ['b@example.org', [{ address: 'two@example.net' }], 'Subject: second\r\n\r\nsecond body\r\n'],
      ['c@example.org', [{ address: 'three@example.net' }], '\r\nthird\r\n'],
    ]);
    expect(new Set(p.calls.map((c) => c.incoming.sessionId))).toEqual(new Set(['sess1']));
  });

  it('QUIT_NC: the connection carries a new SMTP session with a new session id; QUIT ends it', async () => {
    const p = fakePipeline();
    const { send, ended } = session(p);
    await open(send);
    await send('D', 'M{auth_authen}\0alice\0');
    await send('M', '<a@example.org>\0');
    expect(await send('K')).toEqual([]);
    expect(await send('C', connect('198.51.100.7', 50000))).toEqual([['c', '']]);
    await send('M', '<b@example.org>\0');
    const last = p.calls.at(-1)!.incoming;
    expect(last).toMatchObject({ sessionId: 'sess2', client: { ip: '198.51.100.7', port: 50000 } });
    expect(last.auth).toBeUndefined();
    expect(await send('Q')).toEqual([]);
    expect(ended()).toBe(true);
  });

  it('stages not configured are answered at once, without the pipeline', async () => {
    const p = fakePipeline();
    const { send } = session(p, { stages: ['data'] });
    await open(send);
    expect(await send('M', '<a@example.org>\0')).toEqual([['c', '']]);
    expect(await send('R', '<b@example.net>\0')).toEqual([['c', '']]);
    expect(await send('E', 'x')).toEqual([['a', '']]);
    expect(p.calls.map((c) => [c.incoming.stage, c.incoming.to])).toEqual([
      ['data', [{ address: 'b@example.net' }]],
    ]);
  });

  it('a message above maxMessageBytes is refused with 552 5.3.4 and never reaches the pipeline', async () => {
    const p = fakePipeline();
    const { send } = session(p, { maxMessageBytes: 100 });
    await open(send);
    await send('M', '<a@example.org>\0');
    await send('R', '<b@example.net>\0');
    await send('B', 'x'.repeat(60));
    await send('B', 'x'.repeat(60));
    expect(await send('E')).toEqual([['y', '552 5.3.4 Message size exceeds fixed limit\0']]);
    expect(p.calls.some((c) => c.incoming.stage === 'data')).toBe(false);
  });
});

describe('failures answer before the MTA gives up', () => {
  it('a pipeline that throws: the configured tempfail', async () => {
    const { send } = session(
      fakePipeline(() => {
        throw new Error('boom');
      }),
    );
    await send('O', optneg(6, 0x1ff, 0x1fffff));
    expect(await send('C', connect())).toEqual([['y', '451 4.7.1 Temporary failure\0']]);
  });

  it('a pipeline that never answers: tempfail graceMs after its deadline, or accept when so configured', async () => {
    const hang = () => new Promise<Verdict>(() => undefined);
    const t0 = Date.now();
    const a = session(fakePipeline(hang, 30));
    await a.send('O', optneg(6, 0x1ff, 0x1fffff));
    expect(await a.send('C', connect())).toEqual([['y', '451 4.7.1 Temporary failure\0']]);
    expect(Date.now() - t0).toBeLessThan(2000);
    const b = session(fakePipeline(hang, 30), { onError: 'accept' });
    await b.send('O', optneg(6, 0x1ff, 0x1fffff));
    expect(await b.send('C', connect())).toEqual([['c', '']]);
  });

  it('a reply is never written after the connection closed', async () => {
    let release!: (v: Verdict) => void;
    const { s, send } = session(fakePipeline(() => new Promise<Verdict>((r) => (release = r))));
    await send('O', optneg(6, 0x1ff, 0x1fffff));
    const pending = send('C', connect());
    s.close();
    release(accept);
    expect(await pending).toEqual([]);
  });
});
