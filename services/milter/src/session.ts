/**
 * One milter connection: option negotiation, macros, the SMTP session and its transactions, and a pipeline call at
 * connect, helo, mail, each rcpt and end of message. Knows nothing of sockets: packets come in through `handle`,
 * replies go out through `io.write`.
 */
import { randomBytes } from 'node:crypto';
import { errorMessage, withTimeout, type Stage, type Verdict } from '@hookgate/contracts';
import type { IncomingStage } from '@hookgate/pipeline';
import { Cmd, COMMAND_NAMES, Proto, Reply, WANTED_MACROS } from './constants.js';
import {
  encodeOptnegReply,
  encodeSimple,
  parseConnect,
  parseEnvelope,
  parseHeader,
  parseMacros,
  parseOptneg,
  type Frame,
} from './codec.js';
import {
  assembleMessage,
  subjectOf,
  toEnvelopeAddress,
  toIncoming,
  verdictReplies,
  type MilterEnvelope,
  type RawHeader,
} from './adapter.js';
import { MILTER_ERR, MilterProtocolError } from './errors.js';
import { Macros } from './macros.js';
import { agree, hex, noReplyFor, type Negotiated } from './negotiation.js';

import type { SessionIO, SessionOptions } from './session-options.js';

export type { Negotiated } from './negotiation.js';
export type { MilterLogger, SessionIO, SessionOptions, StageRunner } from './session-options.js';

/** The most frequent reply, written as is (a socket never changes what it writes). */
const CONTINUE = encodeSimple(Reply.CONTINUE);

/** OPTNEG replies by agreement: every connection from one MTA agrees the same, so each is encoded once. */
const OPTNEG_REPLIES = new Map<string, Buffer>();

function optnegReply(agreed: Negotiated, symlist: boolean): Buffer {
  const key = `${agreed.version}/${agreed.actions}/${agreed.protocol}/${symlist}`;
  let reply = OPTNEG_REPLIES.get(key);
  if (!reply) {
    reply = encodeOptnegReply(agreed, symlist ? WANTED_MACROS : undefined);
    // Bounded: a version, two masks and a flag; a hostile peer offering every combination stops being cached.
    if (OPTNEG_REPLIES.size < 64) OPTNEG_REPLIES.set(key, reply);
  }
  return reply;
}

function randomSessionId(): string {
  return randomBytes(16).toString('base64url').slice(0, 22);
}

export class MilterSession {
  readonly #o: SessionOptions;
  readonly #io: SessionIO;
  readonly #newId: () => string;
  #negotiated: Negotiated | undefined;
  #closed = false;
  readonly #macros = new Macros();
  #sessionId: string;
  #client: MilterEnvelope['client'] = { ip: '0.0.0.0' };
  #connected = false;
  // transaction
  #from: MilterEnvelope['from'];
  #rcpts: NonNullable<MilterEnvelope['rcpts']> = [];
  #headers: RawHeader[] = [];
  #body: Buffer[] = [];
  #messageBytes = 0;
  #oversize = false;
  #pendingQuarantine: string | undefined;
  #messages = 0;

  constructor(options: SessionOptions, io: SessionIO) {
    this.#o = options;
    this.#io = io;
    this.#newId = options.newSessionId ?? randomSessionId;
    this.#sessionId = this.#newId();
  }

  get sessionId(): string {
    return this.#sessionId;
  }

  get negotiated(): Negotiated | undefined {
    return this.#negotiated;
  }

  /** Messages that reached end of message on this connection. */
  get messages(): number {
    return this.#messages;
  }

  /** The connection is gone: late pipeline answers are dropped, never written. */
  close(): void {
    this.#closed = true;
  }

  /**
   * Handles one packet. Returns a promise while a pipeline call is running (the caller stops reading until it
   * settles, so packets are handled strictly in order). Throws MilterProtocolError for a packet that must end the
   * connection.
   */
  handle(frame: Frame): Promise<void> | undefined {
    if (frame.cmd !== Cmd.OPTNEG && !this.#negotiated) {
      throw new MilterProtocolError(
        MILTER_ERR.PROTOCOL,
        `${COMMAND_NAMES[frame.cmd] ?? 'unknown command'} before option negotiation`,
      );
    }
    switch (frame.cmd) {
      case Cmd.OPTNEG:
        return this.#optneg(frame.data);
      case Cmd.MACRO: {
        const { forCmd, macros } = parseMacros(frame.data);
        this.#macros.set(forCmd, macros);
        return undefined;
      }
      case Cmd.CONNECT:
        return this.#connect(frame.data);
      case Cmd.HELO: {
        const helo = parseEnvelope(frame.data, 'HELO').address;
        this.#client = { ...this.#client, helo };
        return this.#stage('ehlo', Cmd.HELO);
      }
      case Cmd.MAIL: {
        const { address, args } = parseEnvelope(frame.data, 'MAIL');
        this.#resetTransaction(false);
        this.#from = toEnvelopeAddress(address, args);
        return this.#stage('mail', Cmd.MAIL);
      }
      case Cmd.RCPT: {
        const { address, args } = parseEnvelope(frame.data, 'RCPT');
        return this.#stage('rcpt', Cmd.RCPT, toEnvelopeAddress(address, args));
      }
      case Cmd.DATA:
      case Cmd.EOH:
      case Cmd.UNKNOWN:
        return this.#continue(frame.cmd);
      case Cmd.HEADER: {
        const h = parseHeader(frame.data);
        // Views into the packet's own copy (the decoder copies every packet out of the read buffer).
        if (this.#keep(h.name.length + h.value.length + 4)) this.#headers.push(h);
        return this.#continue(frame.cmd);
      }
      case Cmd.BODY:
        if (this.#keep(frame.data.length)) this.#body.push(frame.data);
        return this.#continue(frame.cmd);
      case Cmd.BODYEOB:
        // libmilter treats data on the end-of-body packet as a last body chunk.
        if (frame.data.length > 0 && this.#keep(frame.data.length)) this.#body.push(frame.data);
        return this.#endOfMessage();
      case Cmd.ABORT:
        // The transaction ends; no reply is allowed.
        this.#resetTransaction(true);
        return undefined;
      case Cmd.QUIT:
        this.#closed = true;
        this.#io.end();
        return undefined;
      case Cmd.QUIT_NC:
        // The connection stays for a new SMTP session: a new CONNECT follows, negotiation stays.
        this.#resetSession();
        return undefined;
      default:
        throw new MilterProtocolError(
          MILTER_ERR.UNKNOWN_COMMAND,
          `unknown command byte 0x${frame.cmd.charCodeAt(0).toString(16)}`,
        );
    }
  }

  #optneg(data: Buffer): undefined {
    const offer = parseOptneg(data);
    const { agreed, symlist } = agree(offer, this.#o);
    this.#negotiated = agreed;
    this.#o.log.debug(
      { sessionId: this.#sessionId, offered: hex(offer), agreed: hex(agreed) },
      'milter options negotiated',
    );
    this.#write(optnegReply(agreed, symlist));
    return undefined;
  }

  #connect(data: Buffer): Promise<void> | undefined {
    const c = parseConnect(data);
    // A second CONNECT without QUIT_NC is a new SMTP session all the same.
    if (this.#connected) this.#resetSession(Cmd.CONNECT);
    this.#connected = true;
    const ip =
      c.family === '4' || c.family === '6'
        ? (c.address ?? '').replace(/^IPv6:/i, '')
        : c.family === 'L'
          ? '127.0.0.1'
          : '0.0.0.0';
    const ptr =
      this.#macros.get('{client_ptr}') ??
      (c.hostname && c.hostname !== 'unknown' && !c.hostname.startsWith('[') ? c.hostname : undefined);
    this.#client = {
      ip,
      ...(c.port !== undefined && c.family !== 'L' ? { port: c.port } : {}),
      ...(ptr ? { ptr } : {}),
    };
    return this.#stage('connect', Cmd.CONNECT);
  }

  /** Counts message bytes; false once the message is over the limit (then nothing more is kept). */
  #keep(bytes: number): boolean {
    this.#messageBytes += bytes;
    if (this.#messageBytes <= this.#o.maxMessageBytes) return true;
    if (!this.#oversize) {
      this.#oversize = true;
      this.#headers = [];
      this.#body = [];
    }
    return false;
  }

  #continue(cmd: string): undefined {
    if (!this.#noReply(cmd)) this.#write(CONTINUE);
    return undefined;
  }

  #noReply(cmd: string): boolean {
    return noReplyFor(this.#negotiated, cmd);
  }

  #envelope(): MilterEnvelope {
    const { server, tls, auth, queueId } = this.#macros.envelopeFacts();
    return {
      sessionId: this.#sessionId,
      client: this.#client,
      ...(server ? { server } : {}),
      ...(tls ? { tls } : {}),
      ...(auth ? { auth } : {}),
      ...(this.#from ? { from: this.#from } : {}),
      rcpts: this.#rcpts,
      ...(queueId ? { queueId } : {}),
    };
  }

  /** Runs `stage` through the pipeline, or continues at once when the stage is not configured. */
  #stage(stage: Stage, cmd: string, rcpt?: MilterEnvelope['rcpts'][number]): Promise<void> | undefined {
    if (this.#o.stages.includes(stage)) return this.#runStage(stage, cmd, rcpt);
    if (rcpt) this.#rcpts.push(rcpt);
    return this.#continue(cmd);
  }

  async #runStage(stage: Stage, cmd: string, rcpt?: MilterEnvelope['rcpts'][number]): Promise<void> {
    const verdict = await this.#run(toIncoming(this.#envelope(), stage, rcpt ? { rcpt } : {}));
    this.#answer(verdict, stage, cmd);
    // A recipient refused here is not part of the transaction the MTA continues with.
    if (rcpt && verdict.action !== 'reject' && verdict.action !== 'tempfail') this.#rcpts.push(rcpt);
  }

  async #endOfMessage(): Promise<void> {
    this.#messages++;
    try {
      if (this.#oversize) return this.#answerOversize();
      if (!this.#o.stages.includes('data')) return this.#answer(acceptVerdict(), 'data', Cmd.BODYEOB);
      const message = assembleMessage(this.#headers, this.#body, this.#leadingSpace());
      const subject = subjectOf(this.#headers);
      const incoming = toIncoming(this.#envelope(), 'data', {
        // Milter reports no size of its own: the reassembled bytes are the message.
        message: {
          size: message.byteLength,
          storedBytes: message.byteLength,
          lossy: false,
          ...(subject !== undefined ? { subject } : {}),
        },
      });
      this.#answer(await this.#run(incoming, message), 'data', Cmd.BODYEOB);
    } finally {
      this.#resetTransaction(true);
    }
  }

  #answerOversize(): void {
    const { maxMessageBytes, oversize } = this.#o;
    this.#o.log.warn(
      { sessionId: this.#sessionId, bytes: this.#messageBytes, maxMessageBytes, action: oversize },
      'message above milter maxMessageBytes',
    );
    const verdict: Verdict =
      oversize === 'accept'
        ? acceptVerdict()
        : {
            ...acceptVerdict(),
            action: oversize,
            reply:
              oversize === 'reject'
                ? { code: 552, enhanced: '5.3.4', text: 'Message size exceeds fixed limit' }
                : { code: 452, enhanced: '4.3.4', text: 'Message too large to scan, try again later' },
          };
    this.#answer(verdict, 'data', Cmd.BODYEOB);
  }

  #leadingSpace(): boolean {
    return ((this.#negotiated?.protocol ?? 0) & Proto.HDR_LEADSPC) !== 0;
  }

  /** The pipeline's verdict, or the configured fallback if it fails or overruns its own deadline. */
  async #run(incoming: IncomingStage, message?: Buffer): Promise<Verdict> {
    const receivedAt = Date.now();
    const deadlineAt = this.#o.pipeline.deadlineFor(incoming.stage, receivedAt, incoming.mtaTimeoutMs);
    try {
      const outcome = await withTimeout(
        this.#o.pipeline.handle({ ...incoming, receivedAt }, message),
        Math.max(0, deadlineAt - Date.now()) + this.#o.graceMs,
        () => 'late' as const,
      );
      if (outcome !== 'late') return outcome.verdict;
      this.#o.log.warn(
        { sessionId: this.#sessionId, stage: incoming.stage, onError: this.#o.onError },
        'pipeline did not answer by its deadline',
      );
    } catch (err) {
      this.#o.log.error(
        { sessionId: this.#sessionId, stage: incoming.stage, err: { message: errorMessage(err) } },
        'pipeline failed',
      );
    }
    return this.#fallback();
  }

  #fallback(): Verdict {
    const tempfail = this.#o.onError === 'tempfail';
    return {
      v: 1,
      action: this.#o.onError,
      ...(tempfail ? { reply: this.#o.replies.tempfail } : {}),
      modifications: [],
      reasons: ['milter:pipeline-unavailable'],
      decidedBy: ['fallback'],
      partial: true,
    };
  }

  #answer(verdict: Verdict, stage: Stage, cmd: string): void {
    const n = this.#negotiated!;
    const answer = verdictReplies(verdict, stage, {
      actions: n.actions,
      leadingSpace: this.#leadingSpace(),
      replies: this.#o.replies,
      ...(this.#pendingQuarantine !== undefined ? { pendingQuarantine: this.#pendingQuarantine } : {}),
    });
    if (answer.deferQuarantine !== undefined) this.#pendingQuarantine = answer.deferQuarantine;
    if (answer.dropped.length > 0)
      this.#o.log.info(
        { sessionId: this.#sessionId, stage, dropped: answer.dropped },
        'verdict parts the milter session cannot express',
      );
    // NR_* for this step: the MTA reads nothing; only a refusal is worth breaking that promise for, and the
    // protocol does not allow it, so the verdict is dropped (hookgate never negotiates NR for decision steps).
    if (this.#noReply(cmd)) return;
    // One write for the whole answer (modifications + final reply): one segment, one system call.
    const { frames } = answer;
    if (frames.length > 0) this.#write(frames.length === 1 ? frames[0]! : Buffer.concat(frames));
  }

  #write(packet: Buffer): void {
    if (!this.#closed) this.#io.write(packet);
  }

  #resetTransaction(clearMacros: boolean): void {
    this.#from = undefined;
    this.#rcpts = [];
    this.#headers = [];
    this.#body = [];
    this.#messageBytes = 0;
    this.#oversize = false;
    this.#pendingQuarantine = undefined;
    this.#macros.endTransaction(clearMacros);
  }

  #resetSession(keepMacrosFor?: string): void {
    this.#resetTransaction(true);
    this.#macros.newSession(keepMacrosFor);
    this.#sessionId = this.#newId();
    this.#client = { ip: '0.0.0.0' };
    this.#connected = false;
  }
}

function acceptVerdict(): Verdict {
  return { v: 1, action: 'accept', modifications: [], reasons: [], decidedBy: ['milter'], partial: false };
}
