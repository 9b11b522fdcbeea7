/**
 * Milter fuzz targets: the packet codec, a whole session fed byte streams as a socket would deliver them (split at
 * random points or coalesced), and the real listener over loopback TCP.
 *
 * Streams start from valid sessions (Postfix-like: OPTNEG, macros, CONNECT … end of message, QUIT) built with the
 * test client's own packet encoder, then get packet-level mutations (wrong lengths, unknown or swapped commands,
 * dropped, duplicated and truncated packets, hostile OPTNEG offers) and byte-level ones.
 *
 * Oracles:
 * - codec: only MilterProtocolError is thrown; the packets found are exactly those an independent reading of the
 *   stream finds, whatever the chunking; each re-encodes to its own bytes; every command parser either parses (with
 *   values in range) or throws MilterProtocolError;
 * - session: only MilterProtocolError is thrown (the server then closes that one connection); every command gets
 *   the replies the protocol allows (one final reply, none for macros/abort/quit or NR steps, modifications only
 *   at end of message and only those negotiated, reply codes of the right class on one line); the stage requests
 *   keep the contract's shape; random chunking gives the same replies as packet-by-packet delivery;
 * - server: nothing is logged at error level, every connection ends, replies are well-formed packets, the
 *   listener keeps serving (a valid session gets its answers every 500 cases) and keeps no connection behind.
 */
import { connect as netConnect } from 'node:net';
import fc from 'fast-check';
import type { Stage, StageRequest, Verdict } from '@hookgate/contracts';
import type { IncomingStage } from '@hookgate/pipeline';
import {
  Act,
  FrameDecoder,
  MilterProtocolError,
  MilterServer,
  MilterSession,
  Proto,
  encodeFrame,
  parseConnect,
  parseEnvelope,
  parseHeader,
  parseMacros,
  parseOptneg,
  splitStrings,
  type Frame,
  type MilterLogger,
  type SessionOptions,
  type StageRunner,
} from '@hookgate/milter';
import { packet } from '../support/milter-client.js';
import { toEml, clean, eicarInline } from '../support/samples.js';
import { byteOp, mutateBytes, showBytes, type ByteOp } from './mutate.js';
import { verdictArb } from './http-targets.js';
import { cpuTime, violated, type Target } from './harness.js';
import { verdict as makeVerdict } from '../support/verdicts.js';

// ---------------------------------------------------------------------------------------------------------------
// Streams

interface Pkt {
  cmd: string;
  data: Buffer;
  /** A length prefix that lies about the data. */
  length?: number;
}

const z = (...parts: string[]) => Buffer.from(parts.map((p) => `${p}\0`).join(''), 'utf8');

function optnegData(version: number, actions: number, protocol: number): Buffer {
  const b = Buffer.alloc(12);
  b.writeUInt32BE(version >>> 0, 0);
  b.writeUInt32BE(actions >>> 0, 4);
  b.writeUInt32BE(protocol >>> 0, 8);
  return b;
}

function connectData(host: string, family: string, port: number, ip: string): Buffer {
  const p = Buffer.alloc(2);
  p.writeUInt16BE(port);
  return Buffer.concat([z(host), Buffer.from(family, 'latin1'), p, z(ip)]);
}

/** One SMTP session as Postfix sends it (v6, all steps, macros), `messages` transactions long. */
function sessionSeed(
  message: string,
  opts: { version?: number; protocol?: number; quit?: 'Q' | 'K' | 'A' } = {},
): Pkt[] {
  const split = message.indexOf('\r\n\r\n');
  const head = message.slice(0, split + 2);
  const body = Buffer.from(message.slice(split + 4), 'utf8');
  const headers = head
    .split(/\r\n(?![ \t])/)
    .filter((l) => l !== '')
    .map((line) => {
      const colon = line.indexOf(':');
      return { cmd: 'L', data: z(line.slice(0, colon), line.slice(colon + 1).replace(/\r\n/g, '\n')) };
    });
  const macros = (forCmd: string, pairs: Record<string, string>) => ({
    cmd: 'D',
    data: Buffer.concat([Buffer.from(forCmd), z(...Object.entries(pairs).flat())]),
  });
  return [
    { cmd: 'O', data: optnegData(opts.version ?? 6, 0x1ff, opts.protocol ?? 0x1fffff) },
    macros('C', {
      j: 'mx.test.invalid',
      '{daemon_addr}': '198.51.100.25',
      '{daemon_port}': '25',
      '{client_ptr}': 'mail.sender.example',
    }),
    { cmd: 'C', data: connectData('mail.sender.example', '4', 40522, '203.0.113.45') },
    macros('H', { '{tls_version}': 'TLSv1.3', '{cipher}': 'TLS_AES_256_GCM_SHA384' }),
    { cmd: 'H', data: z('mail.sender.example') },
    macros('M', {
      i: '4Xk2Lz0m1Tz9q',
      '{auth_authen}': 'alice',
      '{auth_type}': 'PLAIN',
      '{mail_addr}': 'alice@example.org',
    }),
    { cmd: 'M', data: z('<alice@example.org>', 'SIZE=2048', 'BODY=8BITMIME') },
    macros('R', { '{rcpt_addr}': 'bob@example.net' }),
    { cmd: 'R', data: z('<bob@example.net>') },
    { cmd: 'R', data: z('<carol@example.net>', 'NOTIFY=NEVER') },
    { cmd: 'T', data: Buffer.alloc(0) },
    ...headers,
    { cmd: 'N', data: Buffer.alloc(0) },
    { cmd: 'B', data: body.subarray(0, Math.ceil(body.length / 2)) },
    { cmd: 'B', data: body.subarray(Math.ceil(body.length / 2)) },
    macros('E', { i: '4Xk2Lz0m1Tz9q' }),
    { cmd: 'E', data: Buffer.alloc(0) },
    ...(opts.quit === 'K'
      ? [
          { cmd: 'K', data: Buffer.alloc(0) },
          { cmd: 'C', data: connectData('[192.0.2.9]', '6', 25, 'IPv6:2001:db8::9') },
        ]
      : []),
    ...(opts.quit === 'A'
      ? [
          { cmd: 'M', data: z('<>') },
          { cmd: 'A', data: Buffer.alloc(0) },
        ]
      : []),
    { cmd: 'Q', data: Buffer.alloc(0) },
  ];
}

function seeds(): Pkt[][] {
  return [
    sessionSeed(toEml(clean())),
    sessionSeed(toEml(eicarInline()), { quit: 'K' }),
    sessionSeed(toEml(clean()), { version: 2, protocol: 0, quit: 'A' }),
    sessionSeed(toEml(clean()), { protocol: 0x1fffff & ~Proto.HDR_LEADSPC }),
  ];
}

type PktOp =
  | { k: 'cmd'; at: number; cmd: string }
  | { k: 'length'; at: number; length: number }
  | { k: 'drop'; at: number }
  | { k: 'dup'; at: number }
  | { k: 'swap'; at: number; with: number }
  | { k: 'data'; at: number; ops: ByteOp[] }
  | { k: 'insert'; at: number; cmd: string; data: Uint8Array }
  | { k: 'optneg'; version: number; actions: number; protocol: number };

const CMDS = 'ABCDEHKLMNOQRTU';
const anyCmd = fc.oneof(
  { weight: 4, arbitrary: fc.constantFrom(...CMDS) },
  { weight: 1, arbitrary: fc.nat(255).map((c) => String.fromCharCode(c)) },
);
const u32 = fc.oneof(
  fc.constantFrom(0, 1, 2, 5, 6, 7, 0xff, 0x1ff, 0x1fffff, 0x7fffffff, 0xffffffff),
  fc.nat({ max: 0xffffffff }),
);

const pktOp: fc.Arbitrary<PktOp> = fc.oneof(
  { weight: 3, arbitrary: fc.record({ k: fc.constant('cmd' as const), at: fc.nat(), cmd: anyCmd }) },
  {
    weight: 3,
    arbitrary: fc.record({
      k: fc.constant('length' as const),
      at: fc.nat(),
      length: fc.oneof(
        fc.constantFrom(0, 1, 2, 4, 5, 12, 13, 65536, 1 << 20, (1 << 20) + 1, 0x7fffffff, 0xffffffff),
        fc.nat(64),
      ),
    }),
  },
  { weight: 3, arbitrary: fc.record({ k: fc.constant('drop' as const), at: fc.nat() }) },
  { weight: 2, arbitrary: fc.record({ k: fc.constant('dup' as const), at: fc.nat() }) },
  { weight: 2, arbitrary: fc.record({ k: fc.constant('swap' as const), at: fc.nat(), with: fc.nat() }) },
  {
    weight: 4,
    arbitrary: fc.record({
      k: fc.constant('data' as const),
      at: fc.nat(),
      ops: fc.array(byteOp, { minLength: 1, maxLength: 3 }),
    }),
  },
  {
    weight: 2,
    arbitrary: fc.record({
      k: fc.constant('insert' as const),
      at: fc.nat(),
      cmd: anyCmd,
      data: fc.uint8Array({ maxLength: 40 }),
    }),
  },
  {
    weight: 2,
    arbitrary: fc.record({ k: fc.constant('optneg' as const), version: u32, actions: u32, protocol: u32 }),
  },
);

function applyPktOps(base: readonly Pkt[], ops: readonly PktOp[]): Pkt[] {
  const pkts = base.map((p) => ({ ...p }));
  for (const op of ops) {
    if (op.k === 'optneg') {
      const o = pkts.find((p) => p.cmd === 'O');
      if (o) o.data = optnegData(op.version, op.actions, op.protocol);
      continue;
    }
    if (op.k === 'insert') {
      pkts.splice(op.at % (pkts.length + 1), 0, { cmd: op.cmd, data: Buffer.from(op.data) });
      continue;
    }
    if (pkts.length === 0) continue;
    const i = op.at % pkts.length;
    const p = pkts[i]!;
    switch (op.k) {
      case 'cmd':
        p.cmd = op.cmd;
        break;
      case 'length':
        p.length = op.length;
        break;
      case 'drop':
        pkts.splice(i, 1);
        break;
      case 'dup':
        pkts.splice(i, 0, { ...p });
        break;
      case 'swap': {
        const j = op.with % pkts.length;
        pkts[i] = pkts[j]!;
        pkts[j] = p;
        break;
      }
      case 'data':
        p.data = mutateBytes(p.data, op.ops);
        break;
    }
  }
  return pkts;
}

function encodeStream(pkts: readonly Pkt[]): Buffer {
  return Buffer.concat(
    pkts.map((p) => {
      const b = packet(p.cmd, p.data);
      if (p.length !== undefined) b.writeUInt32BE(p.length >>> 0, 0);
      return b;
    }),
  );
}

export interface StreamCase {
  stream: Buffer;
  /** Where a socket would split the stream (offsets, any order, any count). */
  splits: number[];
  options: {
    noReply: boolean;
    requestMacros: boolean;
    stages: Stage[];
    maxMessageBytes: number;
    oversize: 'reject' | 'tempfail' | 'accept';
    onError: 'tempfail' | 'accept';
  };
  verdicts: Verdict[];
}

const streamArb: fc.Arbitrary<Buffer> = (() => {
  const base = seeds();
  const valid = fc.constantFrom(...base).map(encodeStream);
  const mutated = fc
    .tuple(
      fc.constantFrom(...base),
      fc.array(pktOp, { minLength: 1, maxLength: 5 }),
      fc.oneof(
        { weight: 4, arbitrary: fc.constant<ByteOp[]>([]) },
        { weight: 1, arbitrary: fc.array(byteOp, { minLength: 1, maxLength: 3 }) },
      ),
    )
    .map(([pkts, ops, bytes]) => mutateBytes(encodeStream(applyPktOps(pkts, ops)), bytes));
  const randomPkts = fc
    .tuple(
      fc.constantFrom(...base),
      fc.array(
        fc.record({ cmd: anyCmd, data: fc.uint8Array({ maxLength: 48 }).map((b) => Buffer.from(b)) }),
        { maxLength: 12 },
      ),
    )
    .map(([pkts, extra]) => encodeStream([pkts[0]!, ...extra]));
  const random = fc.uint8Array({ maxLength: 256 }).map((b) => Buffer.from(b));
  return fc.oneof(
    { weight: 2, arbitrary: valid },
    { weight: 10, arbitrary: mutated },
    { weight: 3, arbitrary: randomPkts },
    { weight: 1, arbitrary: random },
  );
})();

const ALL_STAGES: Stage[] = ['connect', 'ehlo', 'mail', 'rcpt', 'data'];

const streamCaseArb: fc.Arbitrary<StreamCase> = fc.record({
  stream: streamArb,
  splits: fc.oneof(
    { weight: 1, arbitrary: fc.constant<number[]>([]) },
    { weight: 3, arbitrary: fc.array(fc.nat(), { maxLength: 12 }) },
    { weight: 1, arbitrary: fc.constant<number[]>([0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13]) },
  ),
  options: fc.record({
    noReply: fc.boolean(),
    requestMacros: fc.boolean(),
    stages: fc.subarray(ALL_STAGES),
    maxMessageBytes: fc.constantFrom(64, 10_000, 1 << 20),
    oversize: fc.constantFrom('reject' as const, 'tempfail' as const, 'accept' as const),
    onError: fc.constantFrom('tempfail' as const, 'accept' as const),
  }),
  verdicts: fc.array(verdictArb, { minLength: 1, maxLength: 4 }),
});

function chunks(stream: Buffer, splits: readonly number[]): Buffer[] {
  const cuts = [...new Set(splits.map((s) => (stream.length === 0 ? 0 : s % stream.length)))]
    .filter((s) => s > 0)
    .sort((a, b) => a - b);
  const out: Buffer[] = [];
  let from = 0;
  for (const c of cuts) {
    out.push(stream.subarray(from, c));
    from = c;
  }
  out.push(stream.subarray(from));
  return out;
}

function showStream(c: StreamCase): string {
  return `stream=${showBytes(c.stream, 1200)} splits=${JSON.stringify(c.splits)} options=${JSON.stringify(c.options)} verdicts=${JSON.stringify(c.verdicts).slice(0, 300)}`;
}

// ---------------------------------------------------------------------------------------------------------------
// An independent reading of a stream: what the decoder must find

const MAX_FRAME = 1 << 20;

interface Reading {
  packets: { cmd: string; data: Buffer; raw: Buffer }[];
  /** Error the decoder must report, or undefined when the stream ends in a (possibly empty) partial packet. */
  error?: 'HOOKGATE_ERR_MILTER_MALFORMED' | 'HOOKGATE_ERR_MILTER_FRAME_TOO_LARGE';
  rest: number;
}

function read(stream: Buffer): Reading {
  const packets: Reading['packets'] = [];
  let at = 0;
  for (;;) {
    if (stream.length - at < 4) return { packets, rest: stream.length - at };
    const len = stream.readUInt32BE(at);
    if (len === 0) return { packets, error: 'HOOKGATE_ERR_MILTER_MALFORMED', rest: stream.length - at };
    if (len > MAX_FRAME)
      return { packets, error: 'HOOKGATE_ERR_MILTER_FRAME_TOO_LARGE', rest: stream.length - at };
    if (stream.length - at < 4 + len) return { packets, rest: stream.length - at };
    packets.push({
      cmd: String.fromCharCode(stream[at + 4]!),
      data: stream.subarray(at + 5, at + 4 + len),
      raw: stream.subarray(at, at + 4 + len),
    });
    at += 4 + len;
  }
}

function protocolCode(err: unknown, where: string): string {
  if (err instanceof MilterProtocolError) return err.code;
  return violated(
    'throw',
    `${where} threw ${err instanceof Error ? `${err.name}: ${err.message}` : String(err)} instead of MilterProtocolError`,
  );
}

// ---------------------------------------------------------------------------------------------------------------
// milter-codec

function checkParsers(cmd: string, data: Buffer): void {
  const parts = splitStrings(data);
  const joined = Buffer.concat(
    parts.flatMap((p, i) =>
      i < parts.length - 1 || data[data.length - 1] === 0 ? [p, Buffer.alloc(1)] : [p],
    ),
  );
  if (!joined.equals(data))
    violated('codec', `splitStrings does not cover the data: ${showBytes(data, 200)}`);
  try {
    switch (cmd) {
      case 'O': {
        const o = parseOptneg(data);
        for (const v of [o.version, o.actions, o.protocol])
          if (!Number.isInteger(v) || v < 0 || v > 0xffffffff) violated('codec', `OPTNEG value ${v}`);
        break;
      }
      case 'D': {
        const m = parseMacros(data);
        if (m.forCmd.length !== 1) violated('codec', 'MACRO command is not one character');
        for (const [k, v] of m.macros)
          if (typeof k !== 'string' || typeof v !== 'string') violated('codec', 'MACRO pair is not strings');
        break;
      }
      case 'C': {
        const c = parseConnect(data);
        if (!'46LU'.includes(c.family) || c.family.length !== 1)
          violated('codec', `CONNECT family ${JSON.stringify(c.family)}`);
        if (c.port !== undefined && !(Number.isInteger(c.port) && c.port >= 0 && c.port <= 65535))
          violated('codec', `CONNECT port ${c.port}`);
        break;
      }
      case 'H':
      case 'M':
      case 'R': {
        const e = parseEnvelope(data, cmd);
        if (typeof e.address !== 'string' || e.args.some((a) => typeof a !== 'string' || a === ''))
          violated('codec', 'envelope parts are not strings');
        break;
      }
      case 'L': {
        const h = parseHeader(data);
        if (h.name.length === 0 || h.name.includes(0) || h.value.includes(0))
          violated('codec', 'HEADER name empty or NUL inside name or value');
        break;
      }
    }
  } catch (err) {
    protocolCode(err, `parser for ${JSON.stringify(cmd)}`);
  }
}

function codecTarget(): Target<StreamCase> {
  return {
    name: 'milter-codec',
    description: 'FrameDecoder on arbitrarily chunked streams, encodeFrame round trips, every command parser',
    arbitrary: streamCaseArb,
    setup: async () => undefined,
    teardown: async () => undefined,
    show: showStream,
    async check(c) {
      const want = read(c.stream);
      const parts = chunks(c.stream, c.splits);
      const c0 = process.cpuUsage();
      const decoder = new FrameDecoder(MAX_FRAME);
      const got: Frame[] = [];
      let error: string | undefined;
      for (const chunk of parts) {
        try {
          got.push(...decoder.push(chunk));
        } catch (err) {
          error = protocolCode(err, 'FrameDecoder.push');
          break;
        }
      }
      if (error !== want.error)
        violated('codec', `decoder ended with ${error ?? 'no error'}, expected ${want.error ?? 'no error'}`);
      // Packets of the chunk that ended in an error are not returned; all others must be exactly the expected ones.
      if (error ? got.length > want.packets.length : got.length !== want.packets.length)
        violated('codec', `decoder found ${got.length} packets, expected ${want.packets.length}`);
      got.forEach((f, i) => {
        const w = want.packets[i]!;
        if (f.cmd !== w.cmd || !f.data.equals(w.data))
          violated(
            'codec',
            `packet ${i} differs: ${f.cmd} ${showBytes(f.data, 100)} vs ${w.cmd} ${showBytes(w.data, 100)}`,
          );
      });
      if (!error && decoder.buffered !== want.rest)
        violated('codec', `decoder holds ${decoder.buffered} bytes, expected ${want.rest}`);
      for (const p of want.packets) {
        if (!encodeFrame(p.cmd, p.data).equals(p.raw))
          violated('codec', `encodeFrame(${JSON.stringify(p.cmd)}) does not give the packet back`);
        checkParsers(p.cmd, p.data);
      }
      const used = process.cpuUsage(c0);
      return (used.user + used.system) / 1000;
    },
  };
}

// ---------------------------------------------------------------------------------------------------------------
// milter-session

const quiet: MilterLogger = { debug() {}, info() {}, warn() {}, error() {} };
const REPLIES = {
  tempfail: { code: 451, enhanced: '4.7.1', text: 'Temporary failure' },
  reject: { code: 550, enhanced: '5.7.1', text: 'Rejected' },
};
/** Final replies by command; modifications may come before the final reply to end of message only. */
const FINALS: Record<string, string> = {
  C: 'cyd',
  H: 'cyd',
  M: 'cyd',
  R: 'cyd',
  T: 'c',
  L: 'c',
  N: 'c',
  B: 'c',
  U: 'c',
  E: 'ayd',
};
const NO_REPLY_BIT: Record<string, number> = {
  C: Proto.NR_CONN,
  H: Proto.NR_HELO,
  M: Proto.NR_MAIL,
  R: Proto.NR_RCPT,
  T: Proto.NR_DATA,
  U: Proto.NR_UNKN,
  N: Proto.NR_EOH,
  B: Proto.NR_BODY,
  L: Proto.NR_HDR,
};
const MOD_ACTION: Record<string, number> = {
  h: Act.ADDHDRS,
  i: Act.ADDHDRS,
  m: Act.CHGHDRS,
  b: Act.CHGBODY,
  '+': Act.ADDRCPT,
  '2': Act.ADDRCPT_PAR,
  '-': Act.DELRCPT,
  e: Act.CHGFROM,
  q: Act.QUARANTINE,
};

interface Transcript {
  steps: { cmd: string; replies: string }[];
  closed?: string;
}

function pipelineFor(verdicts: readonly Verdict[], problems: string[]): StageRunner {
  let n = 0;
  return {
    deadlineFor: (_stage: Stage, receivedAt: number) => receivedAt + 5_000,
    async handle(incoming: IncomingStage, message?: Uint8Array) {
      checkMilterIncoming(incoming, message, problems);
      const verdict = verdicts[n++ % verdicts.length]!;
      return { verdict, request: {} as StageRequest, recorded: Promise.resolve() };
    },
  };
}

function checkMilterIncoming(i: IncomingStage, message: Uint8Array | undefined, problems: string[]): void {
  const bad = (why: string) => problems.push(`${why}: ${JSON.stringify(i).slice(0, 300)}`);
  if (i.protocol !== 'milter') bad('protocol');
  if (typeof i.client?.ip !== 'string') bad('client.ip');
  if (
    i.client.port !== undefined &&
    !(Number.isInteger(i.client.port) && i.client.port >= 0 && i.client.port <= 65535)
  )
    bad('client.port');
  if (i.server?.port !== undefined && !(Number.isInteger(i.server.port) && i.server.port > 0))
    bad('server.port');
  if (i.from !== undefined && typeof i.from.address !== 'string') bad('from.address');
  if (i.to?.some((r) => typeof r.address !== 'string')) bad('to');
  if (i.message && i.message.storedBytes !== (message?.byteLength ?? 0)) bad('message.storedBytes');
  if (i.stage === 'data' && !message) bad('data without message bytes');
}

/** Feeds chunks through a FrameDecoder into one session, as the listener does, checking every answer. */
async function drive(c: StreamCase, parts: readonly Buffer[]): Promise<Transcript> {
  const out: Buffer[] = [];
  let ended = false;
  let ids = 0;
  const problems: string[] = [];
  const options: SessionOptions = {
    pipeline: pipelineFor(c.verdicts, problems),
    stages: c.options.stages,
    maxMessageBytes: c.options.maxMessageBytes,
    oversize: c.options.oversize,
    onError: c.options.onError,
    replies: REPLIES,
    graceMs: 20,
    requestMacros: c.options.requestMacros,
    noReply: c.options.noReply,
    log: quiet,
    newSessionId: () => `s${++ids}`,
  };
  const session = new MilterSession(options, { write: (b) => out.push(b), end: () => (ended = true) });
  const decoder = new FrameDecoder(MAX_FRAME);
  const transcript: Transcript = { steps: [] };
  for (const part of parts) {
    let frames: Frame[];
    try {
      frames = decoder.push(part);
    } catch (err) {
      transcript.closed = `decoder:${protocolCode(err, 'FrameDecoder.push')}`;
      return transcript;
    }
    for (const f of frames) {
      const from = out.length;
      const wasEnded = ended;
      try {
        const pending = session.handle(f);
        if (pending) await pending;
      } catch (err) {
        transcript.closed = `session:${protocolCode(err, `MilterSession.handle(${JSON.stringify(f.cmd)})`)}`;
        return transcript;
      }
      if (problems.length > 0) violated('pipeline-input', problems.join('; '));
      const replies = new FrameDecoder(MAX_FRAME).push(Buffer.concat(out.slice(from)));
      checkReplies(f, replies, session.negotiated, wasEnded);
      transcript.steps.push({
        cmd: f.cmd,
        replies: replies.map((r) => `${r.cmd}${r.data.toString('latin1')}`).join('|'),
      });
    }
  }
  return transcript;
}

function checkReplies(
  f: Frame,
  replies: Frame[],
  negotiated: MilterSession['negotiated'],
  ended: boolean,
): void {
  const cmd = f.cmd;
  const shown = () => replies.map((r) => `${r.cmd}:${showBytes(r.data, 80)}`).join(' ');
  if (ended) {
    if (replies.length > 0) violated('protocol', `replies after QUIT: ${shown()}`);
    return;
  }
  if (cmd === 'O') {
    if (replies.length !== 1 || replies[0]!.cmd !== 'O' || replies[0]!.data.length < 12)
      violated('protocol', `OPTNEG answered with ${shown()}`);
    const d = replies[0]!.data;
    const offer = parseOptneg(f.data);
    if ((d.readUInt32BE(4) & ~offer.actions) !== 0 || (d.readUInt32BE(8) & ~offer.protocol) !== 0)
      violated('protocol', 'OPTNEG reply asks for actions or steps the MTA did not offer');
    if (d.readUInt32BE(0) > offer.version)
      violated('protocol', 'OPTNEG reply with a higher version than offered');
    return;
  }
  const finals = FINALS[cmd];
  const noReply =
    finals !== undefined &&
    negotiated !== undefined &&
    (negotiated.protocol & (NO_REPLY_BIT[cmd] ?? 0)) !== 0;
  if (finals === undefined || noReply) {
    if (replies.length > 0)
      violated(
        'protocol',
        `${JSON.stringify(cmd)} must not be answered (${noReply ? 'no-reply step' : 'no reply defined'}), got ${shown()}`,
      );
    return;
  }
  if (replies.length === 0) violated('protocol', `${JSON.stringify(cmd)} got no reply`);
  const last = replies[replies.length - 1]!;
  if (!finals.includes(last.cmd))
    violated(
      'protocol',
      `${JSON.stringify(cmd)} answered with final ${JSON.stringify(last.cmd)}: ${shown()}`,
    );
  for (const r of replies.slice(0, -1)) {
    if (cmd !== 'E') violated('protocol', `modification ${JSON.stringify(r.cmd)} before end of message`);
    const bit = MOD_ACTION[r.cmd];
    if (bit === undefined) violated('protocol', `${JSON.stringify(r.cmd)} is not a modification reply`);
    if (((negotiated?.actions ?? 0) & bit) === 0)
      violated('protocol', `${JSON.stringify(r.cmd)} sent without its action negotiated`);
    // SMFIR_INSHEADER and SMFIR_CHGHEADER start with a binary uint32 index.
    const strings = r.cmd === 'i' || r.cmd === 'm' ? r.data.subarray(4) : r.data;
    if ('him'.includes(r.cmd) && /[\r\n]/.test(strings.toString('latin1')))
      violated('protocol', 'header modification with CR or LF');
  }
  if (last.cmd === 'y') {
    const line = last.data.toString('latin1');
    if (!/^[45]\d\d [45]\.\d{1,3}\.\d{1,3} [\x20-\x7e]+\0$/.test(line) || line[0] !== line[4])
      violated('protocol', `reply code line ${JSON.stringify(line)}`);
  }
}

/** Packet-by-packet delivery, as a well-behaved MTA writes: the reference for any other chunking. */
function packetChunks(stream: Buffer): Buffer[] {
  const r = read(stream);
  const out = r.packets.map((p) => p.raw);
  const used = out.reduce((n, b) => n + b.length, 0);
  if (used < stream.length) out.push(stream.subarray(used));
  return out;
}

function sessionTarget(): Target<StreamCase> {
  return {
    name: 'milter-session',
    description:
      'MilterSession behind a FrameDecoder, fed whole sessions split at random points or coalesced',
    arbitrary: streamCaseArb,
    setup: async () => undefined,
    teardown: async () => undefined,
    show: showStream,
    async check(c) {
      const [reference, ms1] = await cpuTime(() => drive(c, packetChunks(c.stream)));
      const [split, ms2] = await cpuTime(() => drive(c, chunks(c.stream, c.splits)));
      const ms = Math.max(ms1, ms2);
      // A chunk that ends in a decoder error loses its packets, so the split run may stop earlier; never later.
      const n = split.steps.length;
      if (n > reference.steps.length)
        violated(
          'chunking',
          `random chunking handled ${n} packets, packet-by-packet ${reference.steps.length}`,
        );
      for (let i = 0; i < n; i++) {
        if (split.steps[i]!.replies !== reference.steps[i]!.replies)
          violated(
            'chunking',
            `packet ${i} (${JSON.stringify(split.steps[i]!.cmd)}) answered differently when chunked: ${split.steps[i]!.replies.slice(0, 200)} vs ${reference.steps[i]!.replies.slice(0, 200)}`,
          );
      }
      if (split.closed?.startsWith('decoder:')) {
        // The chunk holding the bad length also held packets the reference still handled, and may have ended on one.
        if (reference.closed === undefined)
          violated('chunking', `closed ${split.closed} when chunked, never packet by packet`);
      } else if (n !== reference.steps.length || split.closed !== reference.closed) {
        violated(
          'chunking',
          `handled ${n} packets and closed ${split.closed ?? 'not'} when chunked; ${reference.steps.length} and ${reference.closed ?? 'not'} packet by packet`,
        );
      }
      return ms;
    },
  };
}

// ---------------------------------------------------------------------------------------------------------------
// milter-server

function serverTarget(): Target<StreamCase> {
  let server: MilterServer;
  let port = 0;
  const errors: string[] = [];
  let verdicts: readonly Verdict[] = [];
  let n = 0;
  let cases = 0;
  const log: MilterLogger = {
    debug() {},
    info() {},
    warn() {},
    error: (obj, msg) => errors.push(`${msg ?? ''} ${JSON.stringify(obj).slice(0, 300)}`),
  };
  const pipeline: StageRunner = {
    deadlineFor: (_stage: Stage, receivedAt: number) => receivedAt + 5_000,
    async handle() {
      const verdict = verdicts[n++ % Math.max(1, verdicts.length)] ?? makeVerdict();
      return { verdict, request: {} as StageRequest, recorded: Promise.resolve() };
    },
  };

  /** Writes the chunks one by one, half-closes, and collects everything the server sends until it closes. */
  const exchange = (parts: readonly Buffer[]): Promise<Buffer> =>
    new Promise((resolve, reject) => {
      const s = netConnect({ host: '127.0.0.1', port });
      s.setNoDelay(true);
      const got: Buffer[] = [];
      const timer = setTimeout(() => {
        s.destroy();
        reject(new Error('the connection did not end within 5 s of the client closing its side'));
      }, 5_000);
      s.on('data', (b: Buffer) => got.push(b));
      s.on('error', () => undefined);
      s.on('close', () => {
        clearTimeout(timer);
        resolve(Buffer.concat(got));
      });
      s.on('connect', () => {
        for (const p of parts) if (p.length > 0) s.write(p);
        s.end();
      });
    });

  const canary = async () => {
    verdicts = [
      {
        v: 1,
        action: 'accept',
        modifications: [{ type: 'addHeader', name: 'X-Canary', value: 'yes' }],
        reasons: [],
        decidedBy: [],
        partial: false,
      },
    ];
    n = 0;
    const session = seeds()[0]!;
    const bytes = await exchange([encodeStream(session)]);
    const replies = read(bytes)
      .packets.map((p) => p.cmd)
      .join('');
    const want = `O${'c'.repeat(session.filter((p) => 'CHMRTLNB'.includes(p.cmd)).length)}ha`;
    if (replies !== want) violated('canary', `a valid session after fuzzing got ${JSON.stringify(replies)}`);
  };

  return {
    name: 'milter-server',
    description:
      'the MilterServer listener over loopback TCP: mutated sessions written in chunks, then half-closed',
    arbitrary: streamCaseArb,
    async setup() {
      server = new MilterServer({
        listen: { kind: 'tcp', host: '127.0.0.1', port: 0 },
        session: {
          pipeline,
          stages: ALL_STAGES,
          maxMessageBytes: 10_000,
          oversize: 'reject',
          onError: 'tempfail',
          replies: REPLIES,
          graceMs: 20,
          requestMacros: true,
          noReply: false,
        },
        maxFrameBytes: MAX_FRAME,
        negotiationTimeoutMs: 10_000,
        idleTimeoutMs: 10_000,
        maxConnections: 64,
        log,
      });
      const address = await server.listen();
      port = Number(address.slice(address.lastIndexOf(':') + 1));
    },
    teardown: () => server.close(1_000),
    show: showStream,
    async check(c) {
      errors.length = 0;
      verdicts = c.verdicts;
      n = 0;
      const [bytes, ms] = await cpuTime(() => exchange(chunks(c.stream, c.splits)));
      const r = read(bytes);
      if (r.error || r.rest !== 0)
        violated('protocol', `the server sent bytes that are not whole packets: ${showBytes(bytes, 200)}`);
      for (const p of r.packets)
        if (!'O+-2abcdehimpqrtyfs'.includes(p.cmd))
          violated('protocol', `unknown reply ${JSON.stringify(p.cmd)}`);
      if (++cases % 500 === 0) await canary();
      // The listener forgets a connection on its close event, which may trail the client's by a tick.
      for (let i = 0; i < 100 && server.connections > 0; i++)
        await new Promise((resolve) => setImmediate(resolve));
      if (server.connections > 0)
        violated('leak', `${server.connections} connections still open after the client left`);
      if (errors.length > 0) violated('log', `logged at error level: ${errors.join(' | ')}`);
      return ms;
    },
  };
}

export const MILTER_TARGETS: Record<string, () => Target<StreamCase>> = {
  'milter-codec': codecTarget,
  'milter-session': sessionTarget,
  'milter-server': serverTarget,
};
