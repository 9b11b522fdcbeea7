/**
 * A loopback DNS stub for scanner daemons under test (rspamd, spamd): answers every UDP query NXDOMAIN, except
 * `localhost` (A 127.0.0.1), so SPF/DKIM/DMARC/RBL lookups fail fast and deterministically and never leave the
 * machine. It records the names asked, so a test can see which lookups an engine made.
 */
import { createSocket } from 'node:dgram';

export interface DnsQuery {
  name: string;
  /** Numeric QTYPE: 1 A, 16 TXT, 15 MX, 28 AAAA, ... */
  type: number;
}

export interface DnsStub {
  host: string;
  port: number;
  /** `host:port`, as rspamd's `nameserver` and SpamAssassin's `dns_server` want it. */
  address: string;
  /** Queries received so far, oldest first. */
  queries(): DnsQuery[];
  stop(): Promise<void>;
}

const STATIC_A = new Map([['localhost', [127, 0, 0, 1]]]);

/** Parses the first question: the name (lower-cased, no trailing dot), QTYPE and where the question ends. */
function question(msg: Buffer): { name: string; type: number; end: number } | null {
  const labels: string[] = [];
  let off = 12;
  while (off < msg.length && msg[off] !== 0) {
    const len = msg[off]!;
    if (len > 63 || off + 1 + len > msg.length) return null; // compression pointers never appear in a question
    labels.push(msg.toString('latin1', off + 1, off + 1 + len));
    off += len + 1;
  }
  const end = off + 5; // terminating zero + QTYPE + QCLASS
  if (end > msg.length) return null;
  return { name: labels.join('.').toLowerCase(), type: msg.readUInt16BE(off + 1), end };
}

function answer(msg: Buffer, q: { name: string; type: number; end: number }): Buffer {
  const ip = STATIC_A.get(q.name);
  const hit = ip !== undefined && q.type === 1;
  const header = Buffer.alloc(12);
  msg.copy(header, 0, 0, 2); // ID
  header[2] = 0x84 | (msg[2]! & 0x01); // QR, AA, RD echoed
  header[3] = 0x80 | (ip !== undefined ? 0 : 3); // RA; NOERROR for known names, else NXDOMAIN
  header.writeUInt16BE(1, 4); // QDCOUNT
  header.writeUInt16BE(hit ? 1 : 0, 6); // ANCOUNT
  const parts = [header, msg.subarray(12, q.end)];
  if (hit) {
    const rr = Buffer.alloc(16);
    rr.writeUInt16BE(0xc00c, 0); // name: pointer to the question
    rr.writeUInt16BE(1, 2); // A
    rr.writeUInt16BE(1, 4); // IN
    rr.writeUInt32BE(60, 6); // TTL
    rr.writeUInt16BE(4, 10);
    Buffer.from(ip).copy(rr, 12);
    parts.push(rr);
  }
  return Buffer.concat(parts);
}

/** Starts the stub on a free UDP port of 127.0.0.1 (the OS picks it: no TCP probe needed). */
export async function startDnsStub(): Promise<DnsStub> {
  const sock = createSocket('udp4');
  const seen: DnsQuery[] = [];
  sock.on('message', (msg, rinfo) => {
    if (msg.length < 12) return;
    const q = question(msg);
    if (!q) return;
    seen.push({ name: q.name, type: q.type });
    sock.send(answer(msg, q), rinfo.port, rinfo.address);
  });
  sock.on('error', () => undefined);
  await new Promise<void>((resolve) => sock.bind(0, '127.0.0.1', resolve));
  const port = sock.address().port;
  return {
    host: '127.0.0.1',
    port,
    address: `127.0.0.1:${port}`,
    queries: () => [...seen],
    stop: () => new Promise<void>((resolve) => sock.close(() => resolve())),
  };
}
