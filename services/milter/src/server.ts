/**
 * The milter listener: one MilterSession per connection, on TCP or a Unix socket. A protocol error closes only its
 * own connection; packets of a connection are handled strictly in order, and reading pauses while a stage is in
 * the pipeline, so a flooding peer cannot queue unbounded work.
 */
import { createServer, connect, type Server, type Socket } from 'node:net';
import { chmodSync, existsSync, lstatSync, unlinkSync } from 'node:fs';
import { FrameDecoder, type Frame } from './codec.js';
import { COMMAND_NAMES } from './constants.js';
import { errorCode } from '@hookgate/contracts';
import { formatListen, type ListenTarget } from './config.js';
import { MilterProtocolError } from './errors.js';
import { MilterSession, type MilterLogger, type SessionOptions } from './session.js';

export interface MilterServerOptions {
  listen: ListenTarget;
  /** Everything a session needs except its logger (each gets a child with its session id). */
  session: Omit<SessionOptions, 'log'>;
  maxFrameBytes: number;
  idleTimeoutMs: number;
  maxConnections: number;
  /** Unix socket permissions, e.g. 0o660. */
  socketMode?: number;
  log: MilterLogger;
}

interface Connection {
  socket: Socket;
  session: MilterSession;
  /** Settles when the packet being handled (a pipeline call) is answered. */
  busy: Promise<void> | undefined;
}

export class MilterServer {
  readonly #o: MilterServerOptions;
  readonly #server: Server;
  readonly #connections = new Set<Connection>();
  #closing: Promise<void> | undefined;
  #address = '';
  #accepted = 0;

  constructor(options: MilterServerOptions) {
    this.#o = options;
    this.#server = createServer((socket) => this.#accept(socket));
    this.#server.maxConnections = options.maxConnections;
  }

  /** Open connections. */
  get connections(): number {
    return this.#connections.size;
  }

  /** Connections accepted since start. */
  get accepted(): number {
    return this.#accepted;
  }

  /** The bound address: `host:port` (the real port when 0 was asked for) or `unix:/path`. */
  get address(): string {
    return this.#address;
  }

  async listen(): Promise<string> {
    const t = this.#o.listen;
    if (t.kind === 'unix') await removeStaleSocket(t.path);
    await new Promise<void>((resolve, reject) => {
      this.#server.once('error', reject);
      const done = () => {
        this.#server.off('error', reject);
        resolve();
      };
      if (t.kind === 'unix') this.#server.listen(t.path, done);
      else this.#server.listen(t.port, t.host, done);
    });
    this.#server.on('error', (err) => this.#o.log.error({ err: { message: err.message } }, 'milter listener error'));
    if (t.kind === 'unix') {
      if (this.#o.socketMode !== undefined) chmodSync(t.path, this.#o.socketMode);
      this.#address = formatListen(t);
    } else {
      const a = this.#server.address();
      this.#address = formatListen({ ...t, port: typeof a === 'object' && a ? a.port : t.port });
    }
    return this.#address;
  }

  #accept(socket: Socket): void {
    if (this.#closing) {
      socket.destroy();
      return;
    }
    this.#accepted++;
    socket.setNoDelay(true);
    const log = this.#o.log;
    let corked = false;
    const session = new MilterSession(
      { ...this.#o.session, log },
      {
        // Replies of one answer (modifications + final reply) leave in one segment.
        write: (packet) => {
          if (!corked) {
            corked = true;
            socket.cork();
            process.nextTick(() => {
              corked = false;
              socket.uncork();
            });
          }
          socket.write(packet);
        },
        end: () => socket.end(),
      },
    );
    const conn: Connection = { socket, session, busy: undefined };
    this.#connections.add(conn);
    const decoder = new FrameDecoder(this.#o.maxFrameBytes);
    const queue: Frame[] = [];
    const peer = socket.remoteAddress ? `${socket.remoteAddress}:${socket.remotePort}` : 'local';

    const fail = (err: unknown, cmd?: string) => {
      if (socket.destroyed) return;
      const protocol = err instanceof MilterProtocolError;
      const fields = { sessionId: session.sessionId, peer, code: errorCode(err), ...(cmd ? { command: COMMAND_NAMES[cmd] ?? `0x${cmd.charCodeAt(0).toString(16)}` } : {}), reason: err instanceof Error ? err.message : String(err) };
      if (protocol) log.warn(fields, 'milter connection closed: protocol error');
      else log.error(fields, 'milter connection closed: internal error');
      session.close();
      socket.destroy();
    };

    const pump = async () => {
      if (conn.busy) return;
      while (queue.length > 0 && !socket.destroyed) {
        const frame = queue.shift()!;
        let pending: Promise<void> | undefined;
        try {
          pending = session.handle(frame);
        } catch (err) {
          fail(err, frame.cmd);
          return;
        }
        if (!pending) continue;
        socket.pause();
        conn.busy = pending;
        try {
          await pending;
        } catch (err) {
          fail(err, frame.cmd);
          return;
        } finally {
          conn.busy = undefined;
        }
        if (!socket.destroyed) socket.resume();
      }
    };

    socket.setTimeout(this.#o.idleTimeoutMs, () => {
      log.info({ sessionId: session.sessionId, peer, idleTimeoutMs: this.#o.idleTimeoutMs }, 'milter connection idle: closed');
      session.close();
      socket.destroy();
    });
    socket.on('data', (chunk: Buffer) => {
      try {
        queue.push(...decoder.push(chunk));
      } catch (err) {
        fail(err);
        return;
      }
      void pump();
    });
    socket.on('error', (err) => log.debug({ sessionId: session.sessionId, peer, err: { message: err.message } }, 'milter socket error'));
    socket.on('close', () => {
      session.close();
      this.#connections.delete(conn);
      log.debug({ sessionId: session.sessionId, peer, messages: session.messages }, 'milter connection closed');
    });
  }

  /**
   * Stops accepting, lets stages in the pipeline be answered (at most `timeoutMs`), then closes every connection.
   * The MTA applies its milter_default_action to the rest of those SMTP sessions. Idempotent.
   */
  close(timeoutMs = 10_000): Promise<void> {
    this.#closing ??= (async () => {
      const closed = new Promise<void>((resolve) => this.#server.close(() => resolve()));
      let timer: NodeJS.Timeout | undefined;
      const limit = new Promise<void>((resolve) => (timer = setTimeout(resolve, timeoutMs)));
      await Promise.race([Promise.allSettled([...this.#connections].flatMap((c) => (c.busy ? [c.busy] : []))), limit]);
      clearTimeout(timer);
      for (const c of this.#connections) {
        c.session.close();
        c.socket.destroy();
      }
      await closed;
      const t = this.#o.listen;
      if (t.kind === 'unix' && existsSync(t.path)) {
        try {
          unlinkSync(t.path);
        } catch {
          // already gone
        }
      }
    })();
    return this.#closing;
  }
}

/** A socket file left by a process that died is removed; one that still answers is someone else's. */
async function removeStaleSocket(path: string): Promise<void> {
  let isSocket = false;
  try {
    isSocket = lstatSync(path).isSocket();
  } catch {
    return;
  }
  if (!isSocket) throw new Error(`milter.listen: ${path} exists and is not a socket`);
  const live = await new Promise<boolean>((resolve) => {
    const s = connect({ path });
    s.once('connect', () => {
      s.destroy();
      resolve(true);
    });
    s.once('error', () => resolve(false));
  });
  if (live) throw new Error(`milter.listen: ${path} is in use by another process`);
  unlinkSync(path);
}
