/**
 * Milter packet framing and the data layout of each command and reply. Pure: no sockets, no state beyond the
 * decoder's partial packet. Strings on the wire are NUL-terminated bytes; header bytes are kept as received.
 */
import { BODY_CHUNK_BYTES, LENGTH_BYTES, Reply } from './constants.js';
import { MILTER_ERR, MilterProtocolError } from './errors.js';

/** One packet: its command byte as a character, and its data. */
export interface Frame {
  cmd: string;
  data: Buffer;
}

/**
 * Reassembles packets from a byte stream: a TCP read may hold part of a packet or several packets. A length above
 * `maxFrameBytes` fails as soon as the 4-byte prefix is seen, before any of the data is buffered.
 */
export class FrameDecoder {
  readonly #maxFrameBytes: number;
  #chunks: Buffer[] = [];
  #buffered = 0;

  constructor(maxFrameBytes: number) {
    this.#maxFrameBytes = maxFrameBytes;
  }

  /** Bytes received but not yet returned as a packet. */
  get buffered(): number {
    return this.#buffered;
  }

  /** Feeds bytes; returns every complete packet they finish, in order. Throws MilterProtocolError. */
  push(chunk: Buffer): Frame[] {
    if (chunk.length > 0) {
      this.#chunks.push(chunk);
      this.#buffered += chunk.length;
    }
    const frames: Frame[] = [];
    for (;;) {
      if (this.#buffered < LENGTH_BYTES) return frames;
      const head = this.#peek(LENGTH_BYTES);
      const len = head.readUInt32BE(0);
      if (len === 0)
        throw new MilterProtocolError(MILTER_ERR.MALFORMED, 'empty packet (length 0, no command byte)');
      if (len > this.#maxFrameBytes) {
        throw new MilterProtocolError(
          MILTER_ERR.FRAME_TOO_LARGE,
          `packet of ${len} bytes exceeds the limit of ${this.#maxFrameBytes}`,
        );
      }
      if (this.#buffered < LENGTH_BYTES + len) return frames;
      const packet = this.#take(LENGTH_BYTES + len);
      frames.push({
        cmd: String.fromCharCode(packet[LENGTH_BYTES]!),
        data: packet.subarray(LENGTH_BYTES + 1),
      });
    }
  }

  /** The first `n` bytes, joining chunks only as far as needed. */
  #peek(n: number): Buffer {
    const first = this.#chunks[0]!;
    if (first.length >= n) return first;
    const joined = Buffer.concat(this.#chunks);
    this.#chunks = [joined];
    return joined;
  }

  #take(n: number): Buffer {
    const joined = this.#peek(n);
    const out = joined.subarray(0, n);
    const rest = joined.subarray(n);
    this.#chunks = rest.length > 0 ? [rest, ...this.#chunks.slice(1)] : this.#chunks.slice(1);
    this.#buffered -= n;
    // Copy out of the shared read buffer: a buffered body chunk must not pin a whole socket read.
    return Buffer.from(out);
  }
}

/** `uint32 length | cmd | data`. */
export function encodeFrame(cmd: string, data: Buffer = Buffer.alloc(0)): Buffer {
  const out = Buffer.allocUnsafe(LENGTH_BYTES + 1 + data.length);
  out.writeUInt32BE(1 + data.length, 0);
  out.write(cmd, LENGTH_BYTES, 'latin1');
  data.copy(out, LENGTH_BYTES + 1);
  return out;
}

function malformed(what: string): never {
  throw new MilterProtocolError(MILTER_ERR.MALFORMED, what);
}

/** Splits NUL-terminated strings; a missing final NUL is tolerated (some MTAs omit it on the last one). */
export function splitStrings(data: Buffer): Buffer[] {
  const out: Buffer[] = [];
  let start = 0;
  while (start < data.length) {
    const nul = data.indexOf(0, start);
    if (nul < 0) {
      out.push(data.subarray(start));
      break;
    }
    out.push(data.subarray(start, nul));
    start = nul + 1;
  }
  return out;
}

export interface Optneg {
  version: number;
  actions: number;
  protocol: number;
}

export function parseOptneg(data: Buffer): Optneg {
  if (data.length < 12) malformed(`OPTNEG carries ${data.length} bytes, expected at least 12`);
  return { version: data.readUInt32BE(0), actions: data.readUInt32BE(4), protocol: data.readUInt32BE(8) };
}

/** SMFIC_MACRO: the command the macros belong to, then name/value pairs. */
export function parseMacros(data: Buffer): { forCmd: string; macros: Map<string, string> } {
  if (data.length < 1) malformed('MACRO without a command code');
  const parts = splitStrings(data.subarray(1));
  const macros = new Map<string, string>();
  for (let i = 0; i + 1 < parts.length; i += 2)
    macros.set(parts[i]!.toString('utf8'), parts[i + 1]!.toString('utf8'));
  return { forCmd: String.fromCharCode(data[0]!), macros };
}

export interface ConnectInfo {
  /** The client's host name as the MTA knows it (`unknown` or `[1.2.3.4]` when it has none). */
  hostname: string;
  /** `4`, `6`, `L` (local socket) or `U` (unknown). */
  family: string;
  port?: number;
  address?: string;
}

export function parseConnect(data: Buffer): ConnectInfo {
  const nul = data.indexOf(0);
  if (nul < 0 || nul + 1 >= data.length) malformed('CONNECT without host name and family');
  const hostname = data.toString('utf8', 0, nul);
  const family = String.fromCharCode(data[nul + 1]!);
  if (family === 'U') return { hostname, family };
  if (!'46L'.includes(family)) malformed(`CONNECT with unknown address family ${JSON.stringify(family)}`);
  if (data.length < nul + 4) malformed('CONNECT without port');
  const port = data.readUInt16BE(nul + 2);
  const address = splitStrings(data.subarray(nul + 4))[0]?.toString('utf8') ?? '';
  return { hostname, family, port, address };
}

/** SMFIC_MAIL / SMFIC_RCPT: the address as given (usually in angle brackets), then ESMTP arguments. */
export function parseEnvelope(data: Buffer, what: string): { address: string; args: string[] } {
  const parts = splitStrings(data).map((b) => b.toString('utf8'));
  const first = parts[0];
  if (first === undefined) malformed(`${what} without an address`);
  return { address: first, args: parts.slice(1).filter((a) => a !== '') };
}

/** SMFIC_HEADER: name and value bytes, kept as received. */
export function parseHeader(data: Buffer): { name: Buffer; value: Buffer } {
  const nul = data.indexOf(0);
  if (nul <= 0) malformed('HEADER without a name');
  const rest = data.subarray(nul + 1);
  const end = rest.indexOf(0);
  return { name: data.subarray(0, nul), value: end < 0 ? rest : rest.subarray(0, end) };
}

function cstrings(...parts: string[]): Buffer {
  return Buffer.concat(parts.flatMap((p) => [Buffer.from(p, 'utf8'), Buffer.alloc(1)]));
}

function u32(n: number): Buffer {
  const b = Buffer.alloc(4);
  b.writeUInt32BE(n >>> 0, 0);
  return b;
}

/**
 * The OPTNEG reply. In v6 it may carry the symbol list (SMFIR_SETSYMLIST's data): per macro stage, `uint32 stage`
 * and the space-separated macro names.
 */
export function encodeOptnegReply(o: Optneg, macros?: Readonly<Record<number, string>>): Buffer {
  const parts = [u32(o.version), u32(o.actions), u32(o.protocol)];
  for (const [stage, list] of Object.entries(macros ?? {})) parts.push(u32(Number(stage)), cstrings(list));
  return encodeFrame(Reply.OPTNEG, Buffer.concat(parts));
}

/** A bare reply: continue, accept, reject, tempfail, discard, progress. */
export function encodeSimple(code: string): Buffer {
  return encodeFrame(code);
}

/** SMFIR_REPLYCODE: `550 5.7.1 text`. The caller sanitises the text. */
export function encodeReplyCode(line: string): Buffer {
  return encodeFrame(Reply.REPLYCODE, cstrings(line));
}

export function encodeAddHeader(name: string, value: string): Buffer {
  return encodeFrame(Reply.ADDHEADER, cstrings(name, value));
}

/** SMFIR_INSHEADER: `index` is the position among all headers, 0 = first. */
export function encodeInsertHeader(index: number, name: string, value: string): Buffer {
  return encodeFrame(Reply.INSHEADER, Buffer.concat([u32(index), cstrings(name, value)]));
}

/** SMFIR_CHGHEADER: `index` is the 1-based occurrence of `name`; an empty value deletes that header. */
export function encodeChangeHeader(index: number, name: string, value: string): Buffer {
  return encodeFrame(Reply.CHGHEADER, Buffer.concat([u32(index), cstrings(name, value)]));
}

export function encodeChangeFrom(address: string, args?: string): Buffer {
  return encodeFrame(Reply.CHGFROM, args ? cstrings(address, args) : cstrings(address));
}

export function encodeAddRecipient(address: string, args?: string): Buffer {
  return args !== undefined
    ? encodeFrame(Reply.ADDRCPT_PAR, cstrings(address, args))
    : encodeFrame(Reply.ADDRCPT, cstrings(address));
}

export function encodeDeleteRecipient(address: string): Buffer {
  return encodeFrame(Reply.DELRCPT, cstrings(address));
}

export function encodeQuarantine(reason: string): Buffer {
  return encodeFrame(Reply.QUARANTINE, cstrings(reason));
}

/** SMFIR_REPLBODY packets of at most `chunkBytes` each; an empty body still sends one (empty) packet. */
export function encodeReplaceBody(body: Buffer, chunkBytes = BODY_CHUNK_BYTES): Buffer[] {
  if (body.length === 0) return [encodeFrame(Reply.REPLBODY)];
  const out: Buffer[] = [];
  for (let i = 0; i < body.length; i += chunkBytes)
    out.push(encodeFrame(Reply.REPLBODY, body.subarray(i, i + chunkBytes)));
  return out;
}
