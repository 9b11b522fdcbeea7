/**
 * Abusive clients for the abuse tests (issue 11): sockets that hold a server's connections open without doing work
 * (idle, trickled headers, trickled bodies), oversize uploads from clients that keep writing, and a look at a
 * process's open file descriptors.
 */
import { connect, type Socket } from 'node:net';
import { readdirSync } from 'node:fs';

export type SlowKind = 'idle' | 'headers' | 'body';

export interface SlowAttackOptions {
  port: number;
  /** Sockets kept open (or reopened as the server closes them) at once. */
  sockets: number;
  /** idle: connect and send nothing; headers: one header byte per tick; body: whole headers, then one body byte per tick. */
  kind: SlowKind;
  /** Time between two trickled bytes, ms. */
  tickMs?: number;
  /** Request head for `headers` and `body` (default: an unauthenticated POST /hooks/stalwart of 1 MB). */
  head?: string;
  /** Reopen each socket the server closes (default true: a flood); false: a fixed set that only shrinks. */
  reconnect?: boolean;
}

export interface SlowAttack {
  /** Connections opened so far. */
  readonly opened: number;
  /** Sockets open right now. */
  readonly open: number;
  /** Most sockets open at once. */
  readonly maxOpen: number;
  /** Connections the server closed (or reset) while the attack ran. */
  readonly closedByServer: number;
  /** Status codes of the answers read, with counts. */
  readonly statuses: Readonly<Record<string, number>>;
  /** Resolves once `n` connections have been opened in all. */
  opening(n: number): Promise<void>;
  stop(): void;
}

/** Connects in flight at once, well below Node's listen backlog (511). */
const MAX_CONNECTING = 64;

const DEFAULT_HEAD =
  'POST /hooks/stalwart HTTP/1.1\r\nHost: hookgate\r\nContent-Type: application/json\r\nContent-Length: 1000000\r\n\r\n';

/**
 * Keeps `sockets` slow connections to 127.0.0.1:`port`, reopening each one the server closes (unless `reconnect`
 * is false), until stop(): the slowloris of issue 11. One timer drives every socket.
 */
export function slowAttack(o: SlowAttackOptions): SlowAttack {
  const head = o.head ?? DEFAULT_HEAD;
  const live = new Map<Socket, { sent: number }>();
  const statuses: Record<string, number> = {};
  const waiters: { n: number; resolve: () => void }[] = [];
  let opened = 0;
  let maxOpen = 0;
  let closedByServer = 0;
  let stopped = false;

  // Connects in flight are bounded: a burst of thousands overflows the listen backlog, and the kernel (with SYN
  // cookies) then forgets connections the client believes open, which would test nothing.
  let connecting = 0;
  const pending: (() => void)[] = [];
  const open = () => {
    if (stopped) return;
    if (connecting >= MAX_CONNECTING) return void pending.push(open);
    connecting++;
    const s = connect({ host: '127.0.0.1', port: o.port });
    const state = { sent: 0 };
    let seen = '';
    let settled = false;
    const settle = () => {
      if (settled) return;
      settled = true;
      connecting--;
      pending.shift()?.();
    };
    s.on('connect', () => {
      settle();
      opened++;
      live.set(s, state);
      maxOpen = Math.max(maxOpen, live.size);
      for (const w of waiters.filter((x) => opened >= x.n)) {
        waiters.splice(waiters.indexOf(w), 1);
        w.resolve();
      }
      if (o.kind === 'body') {
        s.write(head);
        state.sent = head.length;
      }
    });
    s.on('data', (b: Buffer) => {
      if (seen.length >= 12) return;
      seen += b.toString('latin1');
      const m = /^HTTP\/1\.1 (\d{3})/.exec(seen);
      if (m) statuses[m[1]!] = (statuses[m[1]!] ?? 0) + 1;
    });
    s.on('error', () => undefined);
    // Up to several thousand sockets at once: no Nagle delay on the trickled bytes.
    s.setNoDelay(true);
    s.on('close', () => {
      settle();
      const was = live.delete(s);
      if (stopped) return;
      if (was) closedByServer++;
      // Reopen at once: the attacker keeps its number of sockets whatever the server closes.
      if (o.reconnect ?? true) setImmediate(open);
    });
  };

  const tick = setInterval(() => {
    for (const [s, state] of live) {
      if (o.kind === 'idle' || s.destroyed || !s.writable) continue;
      if (o.kind === 'headers') {
        // Never the blank line that ends the headers.
        s.write(state.sent < head.length - 4 ? head[state.sent]! : 'x');
        state.sent++;
      } else s.write('x');
    }
  }, o.tickMs ?? 500);

  for (let i = 0; i < o.sockets; i++) open();

  return {
    get opened() {
      return opened;
    },
    get open() {
      return live.size;
    },
    get maxOpen() {
      return maxOpen;
    },
    get closedByServer() {
      return closedByServer;
    },
    statuses,
    opening(n) {
      return opened >= n ? Promise.resolve() : new Promise((resolve) => waiters.push({ n, resolve }));
    },
    stop() {
      stopped = true;
      pending.length = 0;
      clearInterval(tick);
      for (const s of live.keys()) s.destroy();
      live.clear();
    },
  };
}

export interface UploadOptions {
  port: number;
  path?: string;
  /** Extra request headers, e.g. `Authorization: Bearer …` (CRLF-terminated lines). */
  headers?: string;
  framing: 'content-length' | 'chunked';
  /** Bytes of body the client sends (or announces and sends, with content-length). */
  bodyBytes: number;
  /**
   * `while-writing`: reads answers as they come while it writes (curl, undici); `after-writing`: writes the whole
   * body before reading anything (many simple clients), so a reset during the upload loses the answer.
   */
  reading: 'while-writing' | 'after-writing';
}

/**
 * Uploads a body that keeps coming after the server has answered; resolves with the status line's code, or the
 * socket error code (e.g. ECONNRESET, EPIPE) when the answer was lost, or `closed` when the server closed without
 * one.
 */
export function upload(o: UploadOptions): Promise<string> {
  return new Promise((resolve) => {
    const s = connect({ host: '127.0.0.1', port: o.port });
    let got = '';
    let done = false;
    const finish = (r: string) => {
      if (done) return;
      done = true;
      s.destroy();
      resolve(r);
    };
    const chunk = Buffer.alloc(16_384, 'a');
    const frame = (b: Buffer) =>
      o.framing === 'chunked'
        ? Buffer.concat([Buffer.from(`${b.length.toString(16)}\r\n`), b, Buffer.from('\r\n')])
        : b;
    s.on('connect', () => {
      if (o.reading === 'after-writing') s.pause();
      const length =
        o.framing === 'chunked' ? 'Transfer-Encoding: chunked' : `Content-Length: ${o.bodyBytes}`;
      s.write(
        `POST ${o.path ?? '/hooks/stalwart'} HTTP/1.1\r\nHost: hookgate\r\nContent-Type: application/json\r\n${o.headers ?? ''}${length}\r\n\r\n`,
      );
      let sent = 0;
      const pump = () => {
        while (!done && sent < o.bodyBytes) {
          sent += chunk.length;
          if (!s.write(frame(chunk))) {
            s.once('drain', pump);
            return;
          }
        }
        if (done) return;
        if (o.framing === 'chunked') s.write('0\r\n\r\n');
        // Everything is written: now read.
        s.write('', () => s.resume());
      };
      pump();
    });
    s.on('data', (b: Buffer) => {
      got += b.toString('latin1');
      const m = /^HTTP\/1\.1 (\d{3})/.exec(got);
      if (m && m[1] !== '100') finish(m[1]!);
      if (m?.[1] === '100') got = got.replace(/^HTTP\/1\.1 100[^\r]*\r\n\r\n/, '');
    });
    s.on('error', (e: NodeJS.ErrnoException) => finish(e.code ?? e.message));
    s.on('close', () => finish('closed'));
  });
}

/** Open file descriptors of a process (Linux /proc). */
export function openFiles(pid: number): number {
  return readdirSync(`/proc/${pid}/fd`).length;
}
