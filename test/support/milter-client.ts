/**
 * A small milter client (the MTA side of the protocol), written independently of services/milter so protocol
 * tests do not check the codec against itself. Speaks v2 and v6, sends what a test asks for (including broken
 * packets and arbitrary fragmentation), and reads replies packet by packet.
 */
import { connect, type Socket } from 'node:net';

export interface MilterPacket {
  cmd: string;
  data: Buffer;
}

export interface Negotiation {
  version: number;
  actions: number;
  protocol: number;
  /** The v6 symbol list, by macro stage. */
  macros: Record<number, string>;
}

/** Replies that end the answer to a command; the others (modifications, progress) come before one of these. */
const FINAL = new Set(['a', 'c', 'd', 'r', 't', 'y', 'f', 's']);
/** Command → the SMFIP_NR_* bit that spares its reply. */
const NO_REPLY: Record<string, number> = {
  C: 0x1000,
  H: 0x2000,
  M: 0x4000,
  R: 0x8000,
  T: 0x10000,
  U: 0x20000,
  N: 0x40000,
  B: 0x80000,
  L: 0x80,
};

export function packet(cmd: string, data: Buffer | string = Buffer.alloc(0)): Buffer {
  const body = Buffer.isBuffer(data) ? data : Buffer.from(data, 'utf8');
  const head = Buffer.alloc(5);
  head.writeUInt32BE(body.length + 1, 0);
  head.write(cmd, 4, 'latin1');
  return Buffer.concat([head, body]);
}

const z = (...parts: string[]) => Buffer.from(parts.map((p) => `${p}\0`).join(''), 'utf8');

export class MilterClient {
  readonly socket: Socket;
  /** Resolves when the server closes the connection (or it errors). */
  readonly closed: Promise<void>;
  #buf = Buffer.alloc(0);
  #packets: MilterPacket[] = [];
  #waiters: ((p: MilterPacket | undefined) => void)[] = [];
  #ended = false;
  negotiated: Negotiation | undefined;

  private constructor(socket: Socket) {
    this.socket = socket;
    this.closed = new Promise((resolve) => socket.once('close', () => resolve()));
    socket.on('data', (chunk: Buffer) => {
      this.#buf = Buffer.concat([this.#buf, chunk]);
      while (this.#buf.length >= 4 && this.#buf.length >= 4 + this.#buf.readUInt32BE(0)) {
        const len = this.#buf.readUInt32BE(0);
        const p = {
          cmd: String.fromCharCode(this.#buf[4]!),
          data: Buffer.from(this.#buf.subarray(5, 4 + len)),
        };
        this.#buf = this.#buf.subarray(4 + len);
        const w = this.#waiters.shift();
        if (w) w(p);
        else this.#packets.push(p);
      }
    });
    socket.on('error', () => undefined);
    socket.on('close', () => {
      this.#ended = true;
      for (const w of this.#waiters.splice(0)) w(undefined);
    });
  }

  static open(target: { port: number; host?: string } | { path: string }): Promise<MilterClient> {
    return new Promise((resolve, reject) => {
      const s =
        'path' in target
          ? connect({ path: target.path })
          : connect({ host: target.host ?? '127.0.0.1', port: target.port });
      s.setNoDelay(true);
      s.once('connect', () => resolve(new MilterClient(s)));
      s.once('error', reject);
    });
  }

  /** Writes raw bytes: broken packets, fragments, several packets at once. */
  write(bytes: Buffer): void {
    this.socket.write(bytes);
  }

  send(cmd: string, data?: Buffer | string): void {
    this.write(packet(cmd, data));
  }

  /** The next reply packet, or undefined if the server closed the connection; fails after `timeoutMs`. */
  next(timeoutMs = 15_000): Promise<MilterPacket | undefined> {
    const ready = this.#packets.shift();
    if (ready) return Promise.resolve(ready);
    if (this.#ended) return Promise.resolve(undefined);
    return new Promise((resolve, reject) => {
      const timer = setTimeout(() => reject(new Error(`no milter reply within ${timeoutMs} ms`)), timeoutMs);
      this.#waiters.push((p) => {
        clearTimeout(timer);
        resolve(p);
      });
    });
  }

  /** Packets up to and including the final reply to one command. */
  async answer(timeoutMs?: number): Promise<MilterPacket[]> {
    const out: MilterPacket[] = [];
    for (;;) {
      const p = await this.next(timeoutMs);
      if (!p) throw new Error(`connection closed after ${out.map((x) => x.cmd).join('') || 'no reply'}`);
      out.push(p);
      if (FINAL.has(p.cmd)) return out;
    }
  }

  async negotiate(version = 6, actions = 0x1ff, protocol = 0x1fffff): Promise<Negotiation> {
    const d = Buffer.alloc(12);
    d.writeUInt32BE(version, 0);
    d.writeUInt32BE(actions, 4);
    d.writeUInt32BE(protocol, 8);
    this.send('O', d);
    const r = await this.next();
    if (!r || r.cmd !== 'O') throw new Error(`expected an OPTNEG reply, got ${r?.cmd ?? 'close'}`);
    const macros: Record<number, string> = {};
    let at = 12;
    while (at + 4 <= r.data.length) {
      const stage = r.data.readUInt32BE(at);
      const end = r.data.indexOf(0, at + 4);
      macros[stage] = r.data.toString('utf8', at + 4, end < 0 ? undefined : end);
      at = end < 0 ? r.data.length : end + 1;
    }
    this.negotiated = {
      version: r.data.readUInt32BE(0),
      actions: r.data.readUInt32BE(4),
      protocol: r.data.readUInt32BE(8),
      macros,
    };
    return this.negotiated;
  }

  /** True when the agreed protocol spares the reply to `cmd`. */
  noReply(cmd: string): boolean {
    return ((this.negotiated?.protocol ?? 0) & (NO_REPLY[cmd] ?? 0)) !== 0;
  }

  /** Sends a command and returns its answer ([] when the agreed protocol has no reply for it). */
  async command(cmd: string, data?: Buffer | string): Promise<MilterPacket[]> {
    this.send(cmd, data);
    return this.noReply(cmd) ? [] : this.answer();
  }

  macros(forCmd: string, pairs: Record<string, string>): void {
    this.send('D', Buffer.concat([Buffer.from(forCmd, 'latin1'), z(...Object.entries(pairs).flat())]));
  }

  connectPacket(hostname: string, ip: string, port: number): Buffer {
    const p = Buffer.alloc(2);
    p.writeUInt16BE(port);
    return Buffer.concat([z(hostname), Buffer.from(ip.includes(':') ? '6' : '4'), p, z(ip)]);
  }

  connect(hostname: string, ip: string, port: number): Promise<MilterPacket[]> {
    return this.command('C', this.connectPacket(hostname, ip, port));
  }

  helo(name: string): Promise<MilterPacket[]> {
    return this.command('H', z(name));
  }

  mail(address: string, ...args: string[]): Promise<MilterPacket[]> {
    return this.command('M', z(`<${address}>`, ...args));
  }

  rcpt(address: string, ...args: string[]): Promise<MilterPacket[]> {
    return this.command('R', z(`<${address}>`, ...args));
  }

  /**
   * DATA, one HEADER per header, EOH, the body in `chunkBytes` pieces, then EOM; returns the answer at EOM.
   * `message` is a whole RFC 5322 message (CRLF); headers are split as an MTA does (value without the colon,
   * with its leading space, folded lines joined by LF as Postfix passes them).
   */
  async message(message: string, chunkBytes = 65_535): Promise<MilterPacket[]> {
    const split = message.indexOf('\r\n\r\n');
    const head = split < 0 ? message : message.slice(0, split + 2);
    const body = Buffer.from(split < 0 ? '' : message.slice(split + 4), 'utf8');
    // Without SMFIP_HDR_LEADSPC an MTA strips the space after the colon.
    const leadingSpace = ((this.negotiated?.protocol ?? 0) & 0x100000) !== 0;
    await this.command('T');
    for (const line of head.split(/\r\n(?![ \t])/).filter((l) => l !== '')) {
      const colon = line.indexOf(':');
      const value = line.slice(colon + 1).replace(/\r\n/g, '\n');
      await this.command('L', z(line.slice(0, colon), leadingSpace ? value : value.replace(/^[ \t]+/, '')));
    }
    await this.command('N');
    for (let i = 0; i < body.length; i += chunkBytes)
      await this.command('B', body.subarray(i, i + chunkBytes));
    this.send('E');
    return this.answer();
  }

  abort(): void {
    this.send('A');
  }

  quit(): void {
    this.send('Q');
  }

  quitNc(): void {
    this.send('K');
  }

  close(): void {
    this.socket.destroy();
  }
}

/** Reply packets as `cmd:text` strings (NULs shown as `|`), for readable assertions. */
export function show(packets: MilterPacket[]): string[] {
  return packets.map((p) => {
    const text =
      p.cmd === 'i' || p.cmd === 'm'
        ? `${p.data.readUInt32BE(0)}|${p.data.subarray(4).toString('utf8')}`
        : p.data.toString('utf8');
    return `${p.cmd}:${text.replace(/\0$/, '').replace(/\0/g, '|')}`;
  });
}
