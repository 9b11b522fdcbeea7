import { describe, expect, it } from 'vitest';
import {
  FrameDecoder,
  encodeFrame,
  encodeOptnegReply,
  encodeReplaceBody,
  parseConnect,
  parseEnvelope,
  parseHeader,
  parseMacros,
  parseOptneg,
  splitStrings,
  MILTER_ERR,
} from '../src/index.js';

const frame = (cmd: string, data: string | Buffer = '') =>
  encodeFrame(cmd, Buffer.isBuffer(data) ? data : Buffer.from(data, 'latin1'));

describe('FrameDecoder', () => {
  it('reassembles a packet split at every byte', () => {
    const bytes = Buffer.concat([frame('H', 'mail.example.org\0'), frame('T')]);
    const d = new FrameDecoder(1024);
    const out = [];
    for (const b of bytes) out.push(...d.push(Buffer.from([b])));
    expect(out.map((f) => [f.cmd, f.data.toString('latin1')])).toEqual([
      ['H', 'mail.example.org\0'],
      ['T', ''],
    ]);
    expect(d.buffered).toBe(0);
  });

  it('splits coalesced packets and keeps a trailing partial one', () => {
    const all = Buffer.concat([frame('N'), frame('B', 'body'), frame('E'), frame('Q')]);
    const d = new FrameDecoder(1024);
    const first = d.push(all.subarray(0, all.length - 2));
    expect(first.map((f) => f.cmd)).toEqual(['N', 'B', 'E']);
    expect(d.buffered).toBe(3);
    expect(d.push(all.subarray(all.length - 2)).map((f) => f.cmd)).toEqual(['Q']);
  });

  it('rejects an oversized packet from its length prefix alone, before buffering the data', () => {
    const d = new FrameDecoder(100);
    const head = Buffer.alloc(4);
    head.writeUInt32BE(101);
    expect(() => d.push(head)).toThrow(expect.objectContaining({ code: MILTER_ERR.FRAME_TOO_LARGE }));
    expect(
      new FrameDecoder(101).push(Buffer.concat([head, Buffer.from('B'), Buffer.alloc(100)])),
    ).toHaveLength(1);
  });

  it('rejects a zero-length packet (no command byte)', () => {
    expect(() => new FrameDecoder(100).push(Buffer.alloc(4))).toThrow(
      expect.objectContaining({ code: MILTER_ERR.MALFORMED }),
    );
  });

  it('copies packet data out of the read buffer', () => {
    const chunk = frame('B', 'abc');
    const [f] = new FrameDecoder(100).push(chunk);
    chunk.fill(0);
    expect(f!.data.toString()).toBe('abc');
  });
});

describe('command data', () => {
  it('OPTNEG: version, actions, protocol; short data is malformed', () => {
    const d = Buffer.alloc(12);
    d.writeUInt32BE(6, 0);
    d.writeUInt32BE(0x1ff, 4);
    d.writeUInt32BE(0x1fffff, 8);
    expect(parseOptneg(d)).toEqual({ version: 6, actions: 0x1ff, protocol: 0x1fffff });
    expect(() => parseOptneg(Buffer.alloc(8))).toThrow(
      expect.objectContaining({ code: MILTER_ERR.MALFORMED }),
    );
  });

  it('MACRO: command code and name/value pairs', () => {
    const { forCmd, macros } = parseMacros(Buffer.from('Mi\0ABC123\0{auth_authen}\0alice\0', 'latin1'));
    expect(forCmd).toBe('M');
    expect(Object.fromEntries(macros)).toEqual({ i: 'ABC123', '{auth_authen}': 'alice' });
  });

  it('CONNECT: IPv4, IPv6, unix and unknown families', () => {
    const v4 = Buffer.concat([
      Buffer.from('mail.example.org\x004'),
      Buffer.from([0xc3, 0x50]),
      Buffer.from('192.0.2.1\0'),
    ]);
    expect(parseConnect(v4)).toEqual({
      hostname: 'mail.example.org',
      family: '4',
      port: 50000,
      address: '192.0.2.1',
    });
    const v6 = Buffer.concat([
      Buffer.from('unknown\x006'),
      Buffer.from([0, 25]),
      Buffer.from('2001:db8::1\0'),
    ]);
    expect(parseConnect(v6)).toMatchObject({ family: '6', port: 25, address: '2001:db8::1' });
    expect(parseConnect(Buffer.from('localhost\0U'))).toEqual({ hostname: 'localhost', family: 'U' });
    expect(() => parseConnect(Buffer.from('host\0X'))).toThrow(
      expect.objectContaining({ code: MILTER_ERR.MALFORMED }),
    );
    expect(() => parseConnect(Buffer.from('no-family'))).toThrow(
      expect.objectContaining({ code: MILTER_ERR.MALFORMED }),
    );
  });

  it('MAIL/RCPT: address then ESMTP arguments', () => {
    expect(parseEnvelope(Buffer.from('<a@example.org>\0SIZE=100\0BODY=8BITMIME\0'), 'MAIL')).toEqual({
      address: '<a@example.org>',
      args: ['SIZE=100', 'BODY=8BITMIME'],
    });
    expect(() => parseEnvelope(Buffer.alloc(0), 'RCPT')).toThrow(
      expect.objectContaining({ code: MILTER_ERR.MALFORMED }),
    );
  });

  it('HEADER: bytes kept as received, including 8-bit ones', () => {
    const h = parseHeader(
      Buffer.concat([Buffer.from('Subject\0 caf'), Buffer.from([0xe9]), Buffer.from('\0')]),
    );
    expect(h.name.toString()).toBe('Subject');
    expect([...h.value]).toEqual([...Buffer.from(' caf'), 0xe9]);
    expect(() => parseHeader(Buffer.from('\0value\0'))).toThrow(
      expect.objectContaining({ code: MILTER_ERR.MALFORMED }),
    );
  });

  it('splitStrings tolerates a missing final NUL', () => {
    expect(splitStrings(Buffer.from('a\0b')).map(String)).toEqual(['a', 'b']);
  });
});

describe('replies', () => {
  it('OPTNEG reply carries the v6 macro list after the three words', () => {
    const packet = encodeOptnegReply(
      { version: 6, actions: 0x101, protocol: 0x80 },
      { 2: 'i {auth_authen}' },
    );
    const [f] = new FrameDecoder(1024).push(packet);
    expect(f!.cmd).toBe('O');
    expect(f!.data.readUInt32BE(0)).toBe(6);
    expect(f!.data.readUInt32BE(4)).toBe(0x101);
    expect(f!.data.readUInt32BE(8)).toBe(0x80);
    expect(f!.data.readUInt32BE(12)).toBe(2);
    expect(f!.data.subarray(16).toString()).toBe('i {auth_authen}\0');
    expect(encodeOptnegReply({ version: 2, actions: 1, protocol: 0 })).toHaveLength(4 + 1 + 12);
  });

  it('body replacement goes out in chunks of at most 64 KiB', () => {
    const body = Buffer.alloc(150_000, 'x');
    const packets = encodeReplaceBody(body);
    expect(packets).toHaveLength(3);
    const frames = new FrameDecoder(1 << 20).push(Buffer.concat(packets));
    expect(frames.every((f) => f.cmd === 'b' && f.data.length <= 65_535)).toBe(true);
    expect(Buffer.concat(frames.map((f) => f.data)).equals(body)).toBe(true);
    expect(encodeReplaceBody(Buffer.alloc(0))).toHaveLength(1);
  });
});
