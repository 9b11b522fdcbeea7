/**
 * clamd's INSTREAM protocol: `zINSTREAM\0`, then chunks of <uint32 big-endian length><bytes>, then a zero-length
 * chunk; the reply is NUL-terminated. Over StreamMaxLength clamd answers `INSTREAM size limit exceeded. ERROR` and
 * closes the socket, so a client still writing gets EPIPE and must still read the reply.
 */
import { connect, type Socket } from 'node:net';
import {
  EngineProtocolError,
  EngineUnavailableError,
  formatEndpoint,
  type Endpoint,
} from '@hookgate/scanner-sdk';
import { ClamdSession, SessionPool } from './sessions.js';

export type ClamdReply =
  | { kind: 'clean' }
  | { kind: 'found'; name: string }
  | { kind: 'too-large' }
  | { kind: 'error'; message: string };

/** Parses one clamd reply line (without the NUL). */
export function parseClamdReply(line: string): ClamdReply {
  const text = line.replace(/\0+$/, '').trim();
  if (/size limit exceeded/i.test(text)) return { kind: 'too-large' };
  const m = /^(?:stream|fd\[\d+\]|[^:]*): (.+) FOUND$/.exec(text);
  if (m) return { kind: 'found', name: m[1]! };
  if (/: OK$/.test(text)) return { kind: 'clean' };
  if (/ERROR$/.test(text)) return { kind: 'error', message: text.slice(0, 200) };
  throw new EngineProtocolError(`unexpected clamd reply: ${text.slice(0, 120)}`);
}

function connectTo(endpoint: Endpoint): Socket {
  const socket =
    endpoint.kind === 'tcp'
      ? connect({ host: endpoint.host, port: endpoint.port })
      : connect({ path: endpoint.path });
  socket.setNoDelay(true);
  return socket;
}

/** Destroys `socket` when `signal` aborts; returns the function that stops watching. */
function destroyOnAbort(socket: Socket, signal: AbortSignal): () => void {
  const onAbort = () => socket.destroy(new Error('aborted'));
  signal.addEventListener('abort', onAbort, { once: true });
  return () => signal.removeEventListener('abort', onAbort);
}

/** A connection for one exchange, destroyed when `signal` aborts. */
function open(endpoint: Endpoint, signal: AbortSignal): Socket {
  const socket = connectTo(endpoint);
  socket.once('close', destroyOnAbort(socket, signal));
  return socket;
}

const isPipeError = (err: Error | undefined) =>
  ['EPIPE', 'ECONNRESET'].includes((err as NodeJS.ErrnoException | undefined)?.code ?? '');

/** clamd closed the connection while we were still streaming, and its reply was lost with the socket. */
class StreamCutError extends EngineUnavailableError {}

/** Why a connection ended without a reply: never connected, cut while streaming data, or closed. */
function connectionError(
  endpoint: Endpoint,
  err: Error | undefined,
  o: { connected: boolean; streaming: boolean },
): EngineUnavailableError {
  const where = `clamd at ${formatEndpoint(endpoint)}`;
  if (!o.connected)
    return new EngineUnavailableError(`${where} unreachable: ${err?.message ?? 'closed'}`, err);
  if (o.streaming && isPipeError(err))
    return new StreamCutError(`${where} closed the stream: ${err?.message}`, err);
  return new EngineUnavailableError(`${where} closed the connection: ${err?.message ?? 'no reply'}`, err);
}

/** Sends `command` (and, for INSTREAM, the data in chunks) and returns the NUL-terminated reply. */
function exchange(
  endpoint: Endpoint,
  command: string,
  data: Uint8Array | undefined,
  chunkBytes: number,
  signal: AbortSignal,
): Promise<string> {
  return new Promise((resolve, reject) => {
    if (signal.aborted) {
      reject(new Error('aborted'));
      return;
    }
    const socket = open(endpoint, signal);
    const received: Buffer[] = [];
    let connected = false;
    let settled = false;
    const done = (err?: Error) => {
      if (settled) return;
      settled = true;
      const reply = Buffer.concat(received).toString('latin1');
      socket.destroy();
      if (reply.includes('\0') || (reply.length > 0 && !err)) resolve(reply.split('\0')[0]!);
      else reject(connectionError(endpoint, err, { connected, streaming: data !== undefined }));
    };
    socket.on('data', (b: Buffer) => {
      received.push(b);
      if (b.includes(0)) done();
    });
    socket.on('end', () => done());
    // EPIPE/ECONNRESET after clamd refused an oversized stream: the reply may already be here.
    socket.on('error', (err) => done(err));
    socket.on('connect', () => {
      connected = true;
      void writeAll(socket, command, data, chunkBytes, () => received.length > 0).catch(() => undefined);
    });
  });
}

async function writeAll(
  socket: Socket,
  command: string,
  data: Uint8Array | undefined,
  chunkBytes: number,
  answered: () => boolean,
): Promise<void> {
  // Frames written together leave in one writev: a message of one chunk is one system call, not four (issue 12).
  const send = async (frames: Uint8Array[]) => {
    if (socket.destroyed) throw new Error('socket closed');
    socket.cork();
    for (const f of frames) socket.write(f);
    socket.uncork();
    if (socket.writableNeedDrain) await new Promise((resolve) => socket.once('drain', resolve));
  };
  const frames: Uint8Array[] = [Buffer.from(`z${command}\0`, 'latin1')];
  if (!data) return send(frames);
  for (let off = 0; off < data.byteLength; off += chunkBytes) {
    if (off > 0) {
      // Yield so an early reply (size limit) is read before the next write fails with EPIPE; stop once it is here.
      await new Promise((r) => setImmediate(r));
      if (answered()) return;
    }
    const chunk = data.subarray(off, Math.min(off + chunkBytes, data.byteLength));
    const len = Buffer.alloc(4);
    len.writeUInt32BE(chunk.byteLength);
    frames.push(len, chunk);
    if (off + chunk.byteLength < data.byteLength) await send(frames.splice(0));
  }
  frames.push(Buffer.alloc(4));
  await send(frames);
}

export class ClamdClient {
  readonly #sessions: SessionPool | undefined;

  /** `reuseConnections`: scans go over sessions kept open between them (sessions.ts); otherwise one connection each. */
  constructor(
    readonly endpoint: Endpoint,
    readonly chunkBytes = 64 * 1024,
    reuseConnections = true,
  ) {
    this.#sessions = reuseConnections ? new SessionPool() : undefined;
  }

  async instream(data: Uint8Array, signal: AbortSignal): Promise<ClamdReply> {
    try {
      if (!this.#sessions)
        return parseClamdReply(await exchange(this.endpoint, 'INSTREAM', data, this.chunkBytes, signal));
      const reused = this.#sessions.take(Date.now());
      if (reused) {
        const reply = await this.#onSession(reused, data, signal);
        if (reply) return reply;
      }
      return (await this.#onSession(new ClamdSession(connectTo(this.endpoint)), data, signal))!;
    } catch (err) {
      // clamd closes a stream mid-way only when it exceeds StreamMaxLength; its reply usually arrives first, but
      // when our write fails before we read it, the socket takes it along. A clamd that still answers PING did
      // not crash: report too large (unscanned, never clean), otherwise the engine error stands.
      if (!(err instanceof StreamCutError)) throw err;
      const alive = await this.ping(signal).catch(() => false);
      if (alive) return { kind: 'too-large' };
      throw err;
    }
  }

  /**
   * One INSTREAM on a session. Undefined when a reused session ended before any reply byte (clamd closed it while
   * idle, or before reading the command): nothing was scanned, the caller sends it on a new one. A session that
   * answered anything but clean or found is not reused (clamd closes it after an error).
   */
  async #onSession(
    session: ClamdSession,
    data: Uint8Array,
    signal: AbortSignal,
  ): Promise<ClamdReply | undefined> {
    const reused = session.sent > 0;
    if (signal.aborted) throw new Error('aborted');
    const unwatch = destroyOnAbort(session.socket, signal);
    let r;
    try {
      r = await session.exchange((answered) =>
        writeAll(session.socket, 'INSTREAM', data, this.chunkBytes, answered),
      );
    } finally {
      unwatch();
    }
    if (r.kind === 'reply') {
      let reply: ClamdReply;
      try {
        reply = parseClamdReply(r.line);
      } catch (err) {
        session.close();
        throw err;
      }
      if (reply.kind === 'clean' || reply.kind === 'found') this.#sessions!.give(session, Date.now());
      else session.close();
      return reply;
    }
    session.close();
    if (signal.aborted) throw new Error('aborted');
    if (reused && !r.replied) return undefined;
    throw connectionError(this.endpoint, r.err, { connected: r.connected, streaming: true });
  }

  /** Ends the kept sessions (scanner shutdown). */
  close(): void {
    this.#sessions?.close();
  }

  async ping(signal: AbortSignal): Promise<boolean> {
    return (await exchange(this.endpoint, 'PING', undefined, this.chunkBytes, signal)).trim() === 'PONG';
  }

  async version(signal: AbortSignal): Promise<string> {
    return (await exchange(this.endpoint, 'VERSION', undefined, this.chunkBytes, signal)).trim();
  }
}
