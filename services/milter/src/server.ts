/**
 * The milter listener: one MilterSession per connection, on TCP or a Unix socket. A protocol error closes only its
 * own connection; packets of a connection are handled strictly in order, and reading pauses while a stage is in
 * the pipeline, so a flooding peer cannot queue unbounded work.
 *
 * Idle connections cannot hold the listener (issue 11: 2,000 sockets that never sent OPTNEG filled maxConnections
 * for the 900 s idle timeout and every Postfix session was refused): OPTNEG must come within
 * `negotiationTimeoutMs` of accept, each next command within `idleTimeoutMs` (counted in whole packets, so a
 * trickled packet does not keep a connection alive), and at `maxConnections` a newcomer is admitted by closing the
 * connection that has waited longest without negotiating, else the negotiated one idle longest. Only when every
 * connection is waiting for a verdict is the newcomer refused.
 */
import { createServer, connect, type Server, type Socket } from 'node:net';
import { chmodSync, existsSync, lstatSync, unlinkSync } from 'node:fs';
import { FrameDecoder, type Frame } from './codec.js';
import { COMMAND_NAMES } from './constants.js';
import { CountsSinceReport, errorCode, errorMessage, withTimeout } from '@hookgate/contracts';
import { formatListen, type ListenTarget } from './config.js';
import { MilterProtocolError } from './errors.js';
import { MilterSession, type MilterLogger, type SessionOptions } from './session.js';

export interface MilterServerOptions {
  listen: ListenTarget;
  /** Everything a session needs except its logger (each gets a child with its session id). */
  session: Omit<SessionOptions, 'log'>;
  maxFrameBytes: number;
  /** Time from accept to OPTNEG, ms. */
  negotiationTimeoutMs: number;
  /** Time from one command to the next in a negotiated session (not counting pipeline calls), ms. */
  idleTimeoutMs: number;
  /** Open connections at most; at the limit the longest-idle one is closed to admit a newcomer. */
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
  /** Closes the connection when the next command is late; off while a pipeline call runs. */
  timer: NodeJS.Timeout | undefined;
  timerMs: number;
}

/** What the listener closed or refused to keep room (counts since start). */
export interface MilterCapacityCounters {
  /** Connections closed at maxConnections to admit a new one, before negotiation. */
  evictedUnnegotiated: number;
  /** Connections closed at maxConnections to admit a new one, negotiated and idle. */
  evictedIdle: number;
  /** New connections refused: maxConnections reached and every connection busy with a verdict. */
  refused: number;
  /** Connections closed because OPTNEG did not come within negotiationTimeoutMs. */
  negotiationTimeouts: number;
}

/** At most one summary line per this interval about connections closed or refused by limits, ms. */
const REPORT_INTERVAL_MS = 10_000;

export class MilterServer {
  readonly #o: MilterServerOptions;
  readonly #server: Server;
  readonly #connections = new Set<Connection>();
  // Eviction order: Map iteration is insertion order. Before OPTNEG, in accept order; negotiated connections not
  // waiting for a verdict, re-inserted at every command, so the first is the one idle longest.
  readonly #unnegotiated = new Map<Connection, true>();
  readonly #idle = new Map<Connection, true>();
  readonly #counters: MilterCapacityCounters = {
    evictedUnnegotiated: 0,
    evictedIdle: 0,
    refused: 0,
    negotiationTimeouts: 0,
  };
  readonly #sinceReport = new CountsSinceReport<keyof MilterCapacityCounters>(
    this.#counters,
    REPORT_INTERVAL_MS,
  );
  #reportTimer: NodeJS.Timeout | undefined;
  #closing: Promise<void> | undefined;
  #address = '';
  #accepted = 0;

  constructor(options: MilterServerOptions) {
    this.#o = options;
    // No server.maxConnections: Node would refuse the newcomer; the listener makes room instead (#admit).
    this.#server = createServer((socket) => this.#accept(socket));
  }

  /** Connections closed or refused to keep room, since start. */
  get counters(): MilterCapacityCounters {
    return { ...this.#counters };
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
    this.#server.on('error', (err) =>
      this.#o.log.error({ err: { message: err.message } }, 'milter listener error'),
    );
    if (t.kind === 'unix') {
      if (this.#o.socketMode !== undefined) chmodSync(t.path, this.#o.socketMode);
      this.#address = formatListen(t);
    } else {
      const a = this.#server.address();
      this.#address = formatListen({ ...t, port: typeof a === 'object' && a ? a.port : t.port });
    }
    return this.#address;
  }

  /** Room for one more connection: true when there is (made by closing an idle one if need be). */
  #admit(): boolean {
    if (this.#connections.size < this.#o.maxConnections) return true;
    const [victim, group] = first(this.#unnegotiated, 'unnegotiated') ?? first(this.#idle, 'idle') ?? [];
    if (!victim) {
      this.#counters.refused++;
      this.#report();
      return false;
    }
    if (group === 'unnegotiated') this.#counters.evictedUnnegotiated++;
    else this.#counters.evictedIdle++;
    this.#o.log.debug(
      { sessionId: victim.session.sessionId, negotiated: group === 'idle' },
      'milter connection closed to admit a new one (maxConnections)',
    );
    this.#drop(victim);
    this.#report();
    return true;
  }

  /** Forgets and closes a connection now (its 'close' event follows). */
  #drop(c: Connection): void {
    this.#connections.delete(c);
    this.#unnegotiated.delete(c);
    this.#idle.delete(c);
    clearTimeout(c.timer);
    c.session.close();
    c.socket.destroy();
  }

  /** One warn line per REPORT_INTERVAL_MS at most with what changed: sockets are never closed silently, nor with a flood of lines. */
  #report(): void {
    if (this.#reportTimer) return;
    const emit = () => {
      this.#reportTimer = undefined;
      const d = this.#sinceReport.take(Date.now());
      if (!d) return;
      this.#o.log.warn(
        { ...d, connections: this.#connections.size, maxConnections: this.#o.maxConnections },
        'milter connections closed or refused by limits (counts since the last report)',
      );
    };
    const wait = this.#sinceReport.waitMs(Date.now());
    if (wait <= 0) emit();
    else this.#reportTimer = setTimeout(emit, wait).unref();
  }

  #accept(socket: Socket): void {
    if (this.#closing || !this.#admit()) {
      socket.destroy();
      return;
    }
    this.#accepted++;
    socket.setNoDelay(true);
    const log = this.#o.log;
    const session = new MilterSession(
      { ...this.#o.session, log },
      { write: (packet) => socket.write(packet), end: () => socket.end() },
    );
    const conn: Connection = { socket, session, busy: undefined, timer: undefined, timerMs: 0 };
    this.#connections.add(conn);
    this.#unnegotiated.set(conn, true);
    const decoder = new FrameDecoder(this.#o.maxFrameBytes);
    const queue: Frame[] = [];
    const peer = socket.remoteAddress ? `${socket.remoteAddress}:${socket.remotePort}` : 'local';

    const late = () => {
      if (socket.destroyed) return;
      if (session.negotiated) {
        log.info(
          { sessionId: session.sessionId, peer, idleTimeoutMs: this.#o.idleTimeoutMs },
          'milter connection idle: closed',
        );
      } else {
        // Debug only, and counted in the summary: a flood of sockets that never negotiate must not become a flood
        // of log lines.
        this.#counters.negotiationTimeouts++;
        log.debug(
          { sessionId: session.sessionId, peer, negotiationTimeoutMs: this.#o.negotiationTimeoutMs },
          'milter connection closed: no option negotiation in time',
        );
        this.#report();
      }
      this.#drop(conn);
    };
    /** (Re)starts the wait for the next command: OPTNEG first, then each command of the session. */
    const arm = () => {
      const ms = session.negotiated ? this.#o.idleTimeoutMs : this.#o.negotiationTimeoutMs;
      if (conn.timer && conn.timerMs === ms) conn.timer.refresh();
      else {
        clearTimeout(conn.timer);
        conn.timer = setTimeout(late, ms);
        conn.timerMs = ms;
      }
    };
    /** A command arrived or was answered: the connection is the most recently active one. */
    const active = () => {
      if (socket.destroyed) return;
      if (session.negotiated) {
        this.#unnegotiated.delete(conn);
        this.#idle.delete(conn);
        if (!conn.busy) this.#idle.set(conn, true);
      }
      if (conn.busy) {
        clearTimeout(conn.timer);
        conn.timer = undefined;
      } else arm();
    };
    arm();

    const fail = (err: unknown, cmd?: string) => {
      if (socket.destroyed) return;
      const protocol = err instanceof MilterProtocolError;
      const fields = {
        sessionId: session.sessionId,
        peer,
        code: errorCode(err),
        ...(cmd ? { command: COMMAND_NAMES[cmd] ?? `0x${cmd.charCodeAt(0).toString(16)}` } : {}),
        reason: errorMessage(err),
      };
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
        if (!pending) {
          active();
          continue;
        }
        socket.pause();
        conn.busy = pending;
        // Waiting for a verdict: neither idle nor evictable.
        active();
        try {
          await pending;
        } catch (err) {
          fail(err, frame.cmd);
          return;
        } finally {
          conn.busy = undefined;
        }
        active();
        if (!socket.destroyed) socket.resume();
      }
    };

    socket.on('data', (chunk: Buffer) => {
      let frames: Frame[];
      try {
        frames = decoder.push(chunk);
      } catch (err) {
        fail(err);
        return;
      }
      if (frames.length === 0) return;
      queue.push(...frames);
      void pump();
    });
    socket.on('error', (err) =>
      log.debug({ sessionId: session.sessionId, peer, err: { message: err.message } }, 'milter socket error'),
    );
    socket.on('close', () => {
      session.close();
      clearTimeout(conn.timer);
      this.#connections.delete(conn);
      this.#unnegotiated.delete(conn);
      this.#idle.delete(conn);
      log.debug(
        { sessionId: session.sessionId, peer, messages: session.messages },
        'milter connection closed',
      );
    });
  }

  /**
   * Stops accepting, lets stages in the pipeline be answered (at most `timeoutMs`), then closes every connection.
   * The MTA applies its milter_default_action to the rest of those SMTP sessions. Idempotent.
   */
  close(timeoutMs = 10_000): Promise<void> {
    this.#closing ??= (async () => {
      const closed = new Promise<void>((resolve) => this.#server.close(() => resolve()));
      await withTimeout(
        Promise.allSettled([...this.#connections].flatMap((c) => (c.busy ? [c.busy] : []))),
        timeoutMs,
      );
      clearTimeout(this.#reportTimer);
      for (const c of [...this.#connections]) this.#drop(c);
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

/** The first (oldest) key of `map` with a label, or undefined when it is empty. */
function first<K, L extends string>(map: Map<K, true>, label: L): [K, L] | undefined {
  for (const k of map.keys()) return [k, label];
  return undefined;
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
