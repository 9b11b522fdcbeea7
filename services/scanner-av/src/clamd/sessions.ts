/**
 * clamd connections kept open between scans (`zIDSESSION`): one command at a time per connection, each reply
 * prefixed with its number (`3: stream: OK`). A scan then costs no TCP connect, no accept and no thread hand-off
 * in clamd: on 2 vCPU, 0.07–0.12 ms of our CPU per 20 KB scan instead of 0.26–0.35 ms (issue 12, docs/adr/0011).
 *
 * clamd ends a session on its own after `IdleTimeout` (30 s by default) and after an error reply (e.g. a stream
 * over StreamMaxLength), so a connection idle for IDLE_MS is closed by us first, one that answered an error is never
 * reused, and a reused connection that closes before any reply byte is retried once on a new one (nothing was
 * scanned: clamd closed it before reading the command, or while idle).
 */
import type { Socket } from 'node:net';

/** Idle connections are closed after this long, well within clamd's default IdleTimeout of 30 s. */
const IDLE_MS = 10_000;
/** Idle connections kept at most (a burst's extra connections are closed when it ends). */
const MAX_IDLE = 32;

/** The NUL-terminated reply read on a session, its `<n>: ` prefix removed. */
export type SessionReply = { kind: 'reply'; line: string };

/** The socket ended or failed first: whether it ever connected, and whether any reply byte came. */
export interface SessionFailure {
  kind: 'failed';
  err: Error | undefined;
  connected: boolean;
  replied: boolean;
}

interface Pending {
  resolve(r: SessionReply | SessionFailure): void;
  received: Buffer[];
}

/** One open session. */
export class ClamdSession {
  readonly socket: Socket;
  /** Commands sent on it; a reused session has sent at least one. */
  sent = 0;
  idleSince = 0;
  #pending: Pending | undefined;
  #closed = false;
  #connected = false;

  /** A new connection: the session is opened with the first bytes written. */
  constructor(socket: Socket) {
    this.socket = socket;
    socket.once('connect', () => (this.#connected = true));
    socket.write('zIDSESSION\0');
    socket.on('data', (b: Buffer) => this.#onData(b));
    socket.on('error', (err) => this.#end(err));
    socket.on('close', () => this.#end(undefined));
    socket.on('end', () => this.#end(undefined));
  }

  get closed(): boolean {
    return this.#closed;
  }

  /**
   * Sends one command (the caller writes its frames with `write`) and waits for its numbered reply, or for the
   * socket to end first (`failed`).
   */
  exchange(write: (answered: () => boolean) => Promise<void>): Promise<SessionReply | SessionFailure> {
    this.sent++;
    return new Promise((resolve) => {
      const pending: Pending = { resolve, received: [] };
      this.#pending = pending;
      if (this.#closed) {
        this.#end(undefined);
        return;
      }
      void write(() => pending.received.length > 0).catch(() => undefined);
    });
  }

  #onData(b: Buffer): void {
    const p = this.#pending;
    if (!p) return;
    p.received.push(b);
    if (!b.includes(0)) return;
    this.#pending = undefined;
    const text = Buffer.concat(p.received).toString('latin1').split('\0')[0]!;
    // `<n>: <reply>`: one command at a time, so the number is always the one just sent.
    p.resolve({ kind: 'reply', line: text.replace(/^\d+: /, '') });
  }

  #end(err: Error | undefined): void {
    this.#closed = true;
    const p = this.#pending;
    if (!p) return;
    this.#pending = undefined;
    p.resolve({ kind: 'failed', err, connected: this.#connected, replied: p.received.length > 0 });
  }

  /** Ends the session politely (clamd frees it at once) and closes the socket. */
  close(): void {
    if (!this.#closed && !this.socket.destroyed) this.socket.end('zEND\0');
    this.#closed = true;
  }
}

/** Idle sessions, most recently used last. */
export class SessionPool {
  readonly #idle: ClamdSession[] = [];

  /** An idle session still fresh enough to use, or undefined. */
  take(now: number): ClamdSession | undefined {
    for (;;) {
      const s = this.#idle.pop();
      if (!s) return undefined;
      if (!s.closed && now - s.idleSince < IDLE_MS) return s;
      s.close();
    }
  }

  /** Back to the pool after a good reply; closed when the pool is full. */
  give(s: ClamdSession, now: number): void {
    if (s.closed) return;
    s.idleSince = now;
    this.#idle.push(s);
    // The oldest idle ones are the stalest: close them first.
    while (this.#idle.length > MAX_IDLE) this.#idle.shift()!.close();
    // Stale sessions at the bottom of the pool are closed as the pool is used.
    while (this.#idle.length > 0 && now - this.#idle[0]!.idleSince >= IDLE_MS) this.#idle.shift()!.close();
  }

  close(): void {
    for (const s of this.#idle.splice(0)) s.close();
  }
}
