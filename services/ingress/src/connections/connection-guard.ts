/**
 * What Node's HTTP server does not bound by itself (issue 11: a body slowloris of 1,100 sockets held every file
 * descriptor of an ingress limited to 1,024 open files):
 *
 * - a connection that never sends a byte: Node's headersTimeout only starts at the first byte of a request;
 * - a body trickled in: Node's requestTimeout is one total for any size, so a minimum rate (Apache mod_reqtimeout's
 *   `MinRate`) closes a request whose body arrives slower than `minBodyBytesPerSec` after `bodyTimeoutMs`;
 * - room for newcomers: near `maxConnections`, each new connection closes one that does no work, in this order:
 *   answered connections still draining their request (lingering), connections that have not completed a request
 *   yet, idle keep-alive connections that never carried an authenticated request, then idle keep-alive connections
 *   of authenticated MTAs (longest idle first in each group). Requests in progress are never closed to make room.
 *   Authenticated keep-alive connections go last because a client that reuses one just as it closes sees a reset;
 *   unauthenticated sockets are cheaper to lose;
 * - a graceful close: a response sent before its request's body was read (401, 413) ends with Connection: close,
 *   then a FIN, and the rest of the body is read and dropped for up to `lingerMs` (nginx's lingering close). Closing
 *   at once would make the kernel answer the client's next segment with a reset, and a client still writing would
 *   see ECONNRESET instead of the answer.
 *
 * The rest is Node's own server options, set by buildApp: headersTimeout, requestTimeout, keepAliveTimeout,
 * maxConnections, and connectionsCheckingInterval (Node checks its timeouts only that often; 30 s by default).
 */
import type { IncomingMessage, Server, ServerResponse } from 'node:http';
import type { Socket } from 'node:net';
import { Server as TlsServer } from 'node:tls';
import { Type, type Static } from '@sinclair/typebox';
import { Value } from '@sinclair/typebox/value';
import { CountsSinceReport } from '@hookgate/contracts';
import { connectionBudget, ASSUMED_FILE_LIMIT } from './file-limit.js';

/** How often timeouts are checked, by Node (connectionsCheckingInterval) and by the guard, ms. */
export const CHECK_INTERVAL_MS = 1000;

/** Eviction starts when open connections exceed this share of maxConnections, leaving room for bursts. */
const PRESSURE_SHARE = 0.9;

/** At most one summary line per this interval about connections closed for room or limits, ms. */
const REPORT_INTERVAL_MS = 10_000;

/**
 * The connection limits as configuration keys (`limits.*` in hookgate's config, next to maxBodyBytes), with their
 * defaults. docs/configuration.md documents them; docs/operations.md says how to size them.
 */
export const ConnectionLimitsSchema = Type.Object({
  /** Open connections at most; `auto` = 80% of the process's soft open-file limit, with at least 64 kept back. */
  maxConnections: Type.Union([Type.Literal('auto'), Type.Integer({ minimum: 16 })], { default: 'auto' }),
  /** Time from accept (or from the first byte of a later request on a kept-alive connection) to complete headers. */
  headersTimeoutMs: Type.Integer({ minimum: 1000, maximum: 600_000, default: 10_000 }),
  /** Time to receive a whole request, headers and body; a backstop above the rate rule. */
  requestTimeoutMs: Type.Integer({ minimum: 1000, maximum: 3_600_000, default: 120_000 }),
  /** Time a request body may take before `minBodyBytesPerSec` applies; every such amount received adds a second. */
  bodyTimeoutMs: Type.Integer({ minimum: 1000, maximum: 600_000, default: 10_000 }),
  /** Slowest average body rate accepted after `bodyTimeoutMs`, bytes/s; 0 leaves only `requestTimeoutMs`. */
  minBodyBytesPerSec: Type.Integer({ minimum: 0, default: 16_384 }),
  /** An idle keep-alive connection is closed after this long. */
  keepAliveTimeoutMs: Type.Integer({ minimum: 1000, maximum: 600_000, default: 30_000 }),
  /** After an answer sent before its request body was read (401, 413): how long the rest is read and dropped. */
  lingerMs: Type.Integer({ minimum: 0, maximum: 60_000, default: 2_000 }),
});

export type ConnectionLimitsConfig = Static<typeof ConnectionLimitsSchema>;

/** The limits with `maxConnections` resolved to a number. */
export type ConnectionLimits = Omit<ConnectionLimitsConfig, 'maxConnections'> & { maxConnections: number };

/**
 * The limits to apply: `config` with defaults filled in and `maxConnections: auto` resolved against the soft
 * open-file limit (`openFileLimit()`; 1024 assumed where unknown).
 */
export function resolveConnectionLimits(
  config: Partial<ConnectionLimitsConfig>,
  fileLimit: number | undefined,
): ConnectionLimits & { fileLimit: number | undefined } {
  const full = Value.Create(ConnectionLimitsSchema);
  // Only the schema's keys: callers pass their whole `limits` section.
  for (const key of Object.keys(full) as (keyof ConnectionLimitsConfig)[])
    if (config[key] !== undefined) Object.assign(full, { [key]: config[key] });
  const maxConnections =
    full.maxConnections === 'auto' ? connectionBudget(fileLimit ?? ASSUMED_FILE_LIMIT) : full.maxConnections;
  return { ...full, maxConnections, fileLimit };
}

/** pino-compatible. */
interface GuardLogger {
  warn(obj: object, msg?: string): void;
  error(obj: object, msg?: string): void;
}

type Phase = 'fresh' | 'idle' | 'active' | 'lingering';

interface Entry {
  socket: Socket;
  phase: Phase;
  /** When the entry entered its phase (ms). */
  since: number;
  /** Has carried a request that passed authentication. */
  trusted: boolean;
  /** Requests in progress on the connection (pipelining can make it more than one). */
  requests: number;
}

interface BodyWatch {
  socket: Socket;
  res: ServerResponse;
  start: number;
  bytesAtStart: number;
}

/** What the guard has done since start (tests and the summary line read it). */
export interface GuardCounters {
  /** Connections closed to admit a new one. */
  evicted: number;
  /** Connections refused at accept because maxConnections was reached (Node's `drop`). */
  refused: number;
  /** Connections closed because headers did not arrive within headersTimeoutMs of accept. */
  headerTimeouts: number;
  /** Requests closed because their body was slower than minBodyBytesPerSec. */
  slowBodies: number;
  /** Answered connections closed while their request body was still being drained. */
  lingerTimeouts: number;
}

const REQUEST_TIMEOUT_RESPONSE =
  'HTTP/1.1 408 Request Timeout\r\nConnection: close\r\nContent-Length: 0\r\n\r\n';

export class ConnectionGuard {
  readonly #server: Server;
  readonly #limits: ConnectionLimits;
  readonly #log: GuardLogger;
  readonly #now: () => number;
  readonly #entries = new Map<Socket, Entry>();
  // One ordered map per eviction group: Map iteration order is insertion order, so the first is the oldest.
  readonly #lingering = new Map<Socket, Entry>();
  readonly #fresh = new Map<Socket, Entry>();
  readonly #idlePublic = new Map<Socket, Entry>();
  readonly #idleTrusted = new Map<Socket, Entry>();
  readonly #bodies = new Map<IncomingMessage, BodyWatch>();
  readonly #counters: GuardCounters = {
    evicted: 0,
    refused: 0,
    headerTimeouts: 0,
    slowBodies: 0,
    lingerTimeouts: 0,
  };
  readonly #sinceReport = new CountsSinceReport<keyof GuardCounters>(this.#counters, REPORT_INTERVAL_MS);
  #open = 0;
  #timer: NodeJS.Timeout | undefined;

  constructor(server: Server, limits: ConnectionLimits, log: GuardLogger, now: () => number = Date.now) {
    this.#server = server;
    this.#limits = limits;
    this.#log = log;
    this.#now = now;
    server.maxConnections = limits.maxConnections;
    server.on('connection', (socket: Socket) => this.#onConnection(socket));
    // Behind TLS the HTTP layer sees the TLS socket, after the handshake (bounded by handshakeTimeout).
    if (server instanceof TlsServer) server.on('secureConnection', (socket: Socket) => this.#track(socket));
    // First, so the entry is active before any fastify hook runs for the request.
    server.prependListener('request', (req: IncomingMessage, res: ServerResponse) =>
      this.#onRequest(req, res),
    );
    server.on('drop', () => this.#counters.refused++);
    server.on('listening', () => {
      // Accept errors (EMFILE when descriptors run out anyway) are reported, never fatal.
      server.on('error', (err: NodeJS.ErrnoException) =>
        this.#log.error({ err: { code: err.code, message: err.message } }, 'http listener error'),
      );
      this.#timer ??= setInterval(() => this.sweep(), CHECK_INTERVAL_MS).unref();
    });
    server.on('close', () => {
      clearInterval(this.#timer);
      this.#timer = undefined;
    });
  }

  /** Open connections, by phase. */
  get stats(): {
    open: number;
    fresh: number;
    idle: number;
    lingering: number;
    active: number;
  } & GuardCounters {
    return {
      open: this.#open,
      fresh: this.#fresh.size,
      idle: this.#idlePublic.size + this.#idleTrusted.size,
      lingering: this.#lingering.size,
      active:
        this.#entries.size -
        this.#fresh.size -
        this.#idlePublic.size -
        this.#idleTrusted.size -
        this.#lingering.size,
      ...this.#counters,
    };
  }

  /** The connection carried an authenticated request: it is closed last when room is needed. */
  trust(socket: Socket): void {
    const e = this.#entries.get(socket);
    if (e) e.trusted = true;
  }

  /**
   * The response being sent goes out before its request body was read: once it is written (Node then calls
   * `destroySoon`, as for every Connection: close answer), close gracefully instead of at once.
   */
  lingerAfterResponse(socket: Socket): void {
    const e = this.#entries.get(socket);
    if (!e || e.phase === 'lingering') return;
    socket.destroySoon = () => this.#linger(e);
  }

  /** Closes what has overrun its time; runs every CHECK_INTERVAL_MS while listening. */
  sweep(): void {
    const now = this.#now();
    for (const e of this.#fresh.values()) {
      if (now - e.since <= this.#limits.headersTimeoutMs) break;
      this.#counters.headerTimeouts++;
      this.#close(e);
    }
    for (const e of this.#lingering.values()) {
      if (now - e.since <= this.#limits.lingerMs) break;
      this.#counters.lingerTimeouts++;
      this.#close(e);
    }
    const rate = this.#limits.minBodyBytesPerSec;
    for (const [req, w] of this.#bodies) {
      if (req.complete || w.res.headersSent || w.socket.destroyed) {
        this.#bodies.delete(req);
        continue;
      }
      if (rate <= 0) continue;
      const allowedMs = this.#limits.bodyTimeoutMs + ((w.socket.bytesRead - w.bytesAtStart) * 1000) / rate;
      if (now - w.start > allowedMs) {
        this.#bodies.delete(req);
        this.#counters.slowBodies++;
        // As Node answers its own request timeout: a 408 if nothing was answered yet, then close.
        if (w.socket.writable) w.socket.write(REQUEST_TIMEOUT_RESPONSE);
        w.socket.destroy();
      }
    }
    this.#report(now);
  }

  #onConnection(socket: Socket): void {
    this.#open++;
    socket.once('close', () => this.#open--);
    if (!(this.#server instanceof TlsServer)) this.#track(socket);
    if (this.#open > Math.floor(this.#limits.maxConnections * PRESSURE_SHARE)) this.#makeRoom(socket);
  }

  #track(socket: Socket): void {
    const e: Entry = { socket, phase: 'fresh', since: this.#now(), trusted: false, requests: 0 };
    this.#entries.set(socket, e);
    this.#fresh.set(socket, e);
    socket.once('close', () => {
      this.#forget(e);
      this.#entries.delete(socket);
    });
  }

  #onRequest(req: IncomingMessage, res: ServerResponse): void {
    const e = this.#entries.get(req.socket);
    if (!e) return;
    if (e.phase === 'lingering') {
      // Another request after an answer that said Connection: close: not served.
      req.socket.destroy();
      return;
    }
    e.requests++;
    this.#setPhase(e, 'active');
    if (!req.complete)
      this.#bodies.set(req, {
        socket: req.socket,
        res,
        start: this.#now(),
        bytesAtStart: req.socket.bytesRead,
      });
    res.once('close', () => {
      this.#bodies.delete(req);
      e.requests--;
      if (e.requests === 0 && e.phase === 'active' && !req.socket.destroyed) this.#setPhase(e, 'idle');
    });
  }

  #linger(e: Entry): void {
    this.#setPhase(e, 'lingering');
    // FIN after the answer; Node's parser goes on reading (and dropping) what the client still sends, so the
    // kernel has nothing unread to answer with a reset. The client's own close, or the sweep, ends it.
    e.socket.end();
  }

  /** Closes the connection that does the least work, in eviction order, to admit `newcomer`. */
  #makeRoom(newcomer: Socket): void {
    for (const group of [this.#lingering, this.#fresh, this.#idlePublic, this.#idleTrusted]) {
      for (const e of group.values()) {
        if (e.socket === newcomer) continue;
        this.#counters.evicted++;
        this.#close(e);
        return;
      }
    }
  }

  #close(e: Entry): void {
    this.#forget(e);
    e.socket.destroy();
  }

  /** Out of every eviction group. */
  #forget(e: Entry): void {
    this.#fresh.delete(e.socket);
    this.#idlePublic.delete(e.socket);
    this.#idleTrusted.delete(e.socket);
    this.#lingering.delete(e.socket);
  }

  #setPhase(e: Entry, phase: Phase): void {
    this.#forget(e);
    e.phase = phase;
    e.since = this.#now();
    if (phase === 'fresh') this.#fresh.set(e.socket, e);
    else if (phase === 'lingering') this.#lingering.set(e.socket, e);
    else if (phase === 'idle') (e.trusted ? this.#idleTrusted : this.#idlePublic).set(e.socket, e);
  }

  /** One line per REPORT_INTERVAL_MS at most, with what changed: closing sockets is never silent nor a log flood. */
  #report(now: number): void {
    if (this.#sinceReport.waitMs(now) > 0) return;
    const d = this.#sinceReport.take(now);
    if (!d) return;
    this.#log.warn(
      { ...d, open: this.#open, maxConnections: this.#limits.maxConnections },
      'http connections closed by limits (counts since the last report)',
    );
  }
}
