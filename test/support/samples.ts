/**
 * Test messages, generated so the repository holds no live test signatures (a host antivirus would flag them).
 * EICAR and GTUBE are the industry's harmless test strings for antivirus and anti-spam engines.
 */
import { crc32 } from 'node:zlib';

export const EICAR = Buffer.from(
  'WDVPIVAlQEFQWzRcUFpYNTQoUF4pN0NDKTd9JEVJQ0FSLVNUQU5EQVJELUFOVElWSVJVUy1URVNULUZJTEUhJEgrSCo=',
  'base64',
).toString('latin1');
export const GTUBE = Buffer.from(
  'WEpTKkM0SkRCUUFETjEuTlNCTjMqMklETkVOKkdUVUJFLVNUQU5EQVJELUFOVEktVUJFLVRFU1QtRU1BSUwqQy4zNFg=',
  'base64',
).toString('latin1');

export interface Headers {
  from?: string;
  to?: string;
  subject?: string;
  messageId?: string;
  /** The Date header; now by default, so date-sensitive engines (rspamd's DATE_IN_PAST) never see a stale one. */
  date?: Date;
  extra?: [string, string][];
}

const DAYS = ['Sun', 'Mon', 'Tue', 'Wed', 'Thu', 'Fri', 'Sat'];
const MONTHS = ['Jan', 'Feb', 'Mar', 'Apr', 'May', 'Jun', 'Jul', 'Aug', 'Sep', 'Oct', 'Nov', 'Dec'];

/** RFC 5322 date-time in UTC, e.g. `Mon, 07 Dec 2026 11:02:03 +0000`. */
export function rfc5322Date(d: Date): string {
  const two = (n: number) => String(n).padStart(2, '0');
  return (
    `${DAYS[d.getUTCDay()]}, ${two(d.getUTCDate())} ${MONTHS[d.getUTCMonth()]} ${d.getUTCFullYear()} ` +
    `${two(d.getUTCHours())}:${two(d.getUTCMinutes())}:${two(d.getUTCSeconds())} +0000`
  );
}

/** Header lines as [name, raw value] pairs, raw values as Stalwart sends them (leading space, trailing CRLF). */
export function headerPairs(h: Headers = {}): [string, string][] {
  const from = h.from ?? 'alice@example.org';
  const to = h.to ?? 'bob@example.net';
  return [
    ['From', ` Alice Sender <${from}>\r\n`],
    ['To', ` Bob Receiver <${to}>\r\n`],
    ['Subject', ` ${h.subject ?? 'Quarterly meeting notes'}\r\n`],
    ['Date', ` ${rfc5322Date(h.date ?? new Date())}\r\n`],
    ['Message-ID', ` <${h.messageId ?? 'clean1'}@lab.invalid>\r\n`],
    ['MIME-Version', ' 1.0\r\n'],
    ...(h.extra ?? []),
  ];
}

export interface Sample {
  headers: [string, string][];
  body: string;
}

export function toEml(s: Sample): string {
  return s.headers.map(([n, v]) => `${n}:${v}`).join('') + '\r\n' + s.body;
}

export function clean(h: Headers = {}): Sample {
  return {
    headers: [...headerPairs(h), ['Content-Type', ' text/plain; charset=utf-8\r\n']],
    body: 'Hi Bob,\r\n\r\nplease find the notes of our meeting below. Nothing special.\r\n\r\nRegards,\r\nAlice\r\n',
  };
}

/** A ~20 KB deterministic plain-text message, like the lab's clean-20k.eml. */
export function clean20k(h: Headers = {}): Sample {
  const words = (
    'the a team report build release customer invoice meeting project schedule review server network update budget ' +
    'quarter plan design test result issue ticket deadline we will should please note that this next week monday friday'
  ).split(' ');
  let x = 12345;
  const lines: string[] = [];
  let line = '';
  let bytes = 0;
  while (bytes < 19_400) {
    x = (x * 1103515245 + 12345) % 2147483648;
    const word = words[Math.floor(x / 65536) % words.length]!;
    if (line.length + word.length + 1 > 72) {
      lines.push(`${line}.`);
      bytes += line.length + 3;
      line = '';
    }
    line = line === '' ? word[0]!.toUpperCase() + word.slice(1) : `${line} ${word}`;
  }
  lines.push(`${line}.`);
  return {
    headers: [
      ...headerPairs({ subject: 'Project status report, week 47', messageId: 'bench20k', ...h }),
      ['Content-Type', ' text/plain; charset=utf-8\r\n'],
      ['Content-Transfer-Encoding', ' 8bit\r\n'],
    ],
    body: `${lines.join('\r\n')}\r\n\r\nRegards,\r\nAlice\r\n`,
  };
}

export function eicarInline(h: Headers = {}): Sample {
  return {
    headers: [
      ...headerPairs({ subject: 'test virus inline', messageId: 'eicar1', ...h }),
      ['Content-Type', ' text/plain; charset=us-ascii\r\n'],
    ],
    body: `${EICAR}\r\n`,
  };
}

function base64Lines(data: Buffer): string {
  return (data.toString('base64').match(/.{1,76}/g) ?? []).join('\r\n') + '\r\n';
}

function attachment(name: string, type: string, data: Buffer, h: Headers, messageId: string): Sample {
  return {
    headers: [
      ...headerPairs({ subject: `test ${name}`, messageId, ...h }),
      ['Content-Type', ' multipart/mixed; boundary="b1"\r\n'],
    ],
    body:
      '--b1\r\nContent-Type: text/plain\r\n\r\nsee attachment\r\n' +
      `--b1\r\nContent-Type: ${type}; name="${name}"\r\nContent-Disposition: attachment; filename="${name}"\r\nContent-Transfer-Encoding: base64\r\n\r\n` +
      base64Lines(data) +
      '--b1--\r\n',
  };
}

export function eicarAttachment(h: Headers = {}): Sample {
  return attachment('eicar.com', 'application/octet-stream', Buffer.from(EICAR, 'latin1'), h, 'eicar2');
}

/** A zip archive (stored, no compression) holding one file. */
export function zip(name: string, data: Buffer): Buffer {
  const fname = Buffer.from(name);
  const crc = crc32(data);
  const local = Buffer.alloc(30);
  local.writeUInt32LE(0x04034b50, 0);
  local.writeUInt16LE(10, 4);
  local.writeUInt32LE(crc, 14);
  local.writeUInt32LE(data.length, 18);
  local.writeUInt32LE(data.length, 22);
  local.writeUInt16LE(fname.length, 26);
  const central = Buffer.alloc(46);
  central.writeUInt32LE(0x02014b50, 0);
  central.writeUInt16LE(20, 4);
  central.writeUInt16LE(10, 6);
  central.writeUInt32LE(crc, 16);
  central.writeUInt32LE(data.length, 20);
  central.writeUInt32LE(data.length, 24);
  central.writeUInt16LE(fname.length, 28);
  const cdOffset = local.length + fname.length + data.length;
  const end = Buffer.alloc(22);
  end.writeUInt32LE(0x06054b50, 0);
  end.writeUInt16LE(1, 8);
  end.writeUInt16LE(1, 10);
  end.writeUInt32LE(central.length + fname.length, 12);
  end.writeUInt32LE(cdOffset, 16);
  return Buffer.concat([local, fname, data, central, fname, end]);
}

export function eicarZip(h: Headers = {}): Sample {
  return attachment(
    'invoice.zip',
    'application/zip',
    zip('eicar.com', Buffer.from(EICAR, 'latin1')),
    h,
    'eicar3',
  );
}

export function gtube(h: Headers = {}): Sample {
  return {
    headers: [
      ...headerPairs({ from: 'spammer@example.com', subject: 'GTUBE test', messageId: 'gtube1', ...h }),
      ['Content-Type', ' text/plain; charset=us-ascii\r\n'],
    ],
    body: `This is the GTUBE, the\r\n\tGeneric\r\n\tTest for\r\n\tUnsolicited\r\n\tBulk\r\n\tEmail\r\n\r\n${GTUBE}\r\n`,
  };
}
