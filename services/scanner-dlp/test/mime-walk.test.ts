import { readFileSync, readdirSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { describe, expect, it } from 'vitest';
import { DlpEngine, resolveDlpConfig, type DlpReport } from '@hookgate/scanner-dlp';
import {
  MAX_MULTIPART_DEPTH,
  unflow,
  walkMessage,
  type MimeSegment,
  type WalkState,
} from '../src/mime/walk.js';
import { decodeBase64, decodeQuotedPrintable } from '../src/mime/decode.js';
import { decodeWords, parseStructured, readHeaders } from '../src/mime/headers.js';
import { eml, leaf, multipart } from './support.js';

// The MIME walker on malformed and hostile input: it reads what it can, names what it cannot, and never throws
// (except multipart nesting beyond its bound, which the engine reports as an error) or hangs.

const engine = new DlpEngine(resolveDlpConfig({}));
const counts = (r: DlpReport) => Object.fromEntries(r.findings.map((f) => [f.rule, f.count]));
const types = (r: DlpReport) => r.notInspected.map((n) => `${n.type}:${n.reason}`);
const CARD = '4111 1111 1111 1111';
const CARD2 = '5555-5555-5555-4444';
const bytes = (s: string) => Buffer.from(s, 'latin1');
const head = 'From: a@example.com\r\nTo: b@example.org\r\nSubject: t\r\nMIME-Version: 1.0\r\n';

function walk(
  raw: Uint8Array,
  opts: Partial<{ maxParts: number; maxDepth: number }> = {},
): { segments: MimeSegment[]; state: WalkState } {
  const state: WalkState = { parts: 0, notInspected: [] };
  const segments = [
    ...walkMessage(raw, { maxParts: 500, maxDepth: 5, budget: () => 1_000_000, ...opts }, state),
  ];
  return { segments, state };
}
const texts = (raw: Uint8Array) => walk(raw).segments.map((s) => (s.kind === 'text' ? s.text : s.html));

/** A deterministic PRNG (xorshift32), so failures reproduce. */
function prng(seed: number): () => number {
  let x = seed >>> 0 || 1;
  return () => {
    x ^= x << 13;
    x >>>= 0;
    x ^= x >>> 17;
    x ^= x << 5;
    x >>>= 0;
    return x / 4294967296;
  };
}

describe('boundaries', () => {
  it('reads a multipart without a boundary parameter as text and says it is malformed', async () => {
    const msg = bytes(
      `${head}Content-Type: multipart/mixed\r\n\r\n--x\r\nContent-Type: text/plain\r\n\r\nCard ${CARD}\r\n--x--\r\n`,
    );
    const report = await engine.inspectMessage(msg);
    expect(counts(report)).toEqual({ 'pci.card': 1 });
    expect(types(report)).toEqual(['multipart/mixed:malformed']);
  });

  it('reads a multipart whose boundary never appears as text, and says so', async () => {
    const msg = bytes(
      `${head}Content-Type: multipart/mixed; boundary="nowhere"\r\n\r\n--other\r\n\r\nCard ${CARD}\r\n`,
    );
    const report = await engine.inspectMessage(msg);
    expect(counts(report)).toEqual({ 'pci.card': 1 });
    expect(types(report)).toEqual(['multipart/mixed:malformed']);
  });

  it('reads every part of a message cut before its closing delimiter', async () => {
    const msg = bytes(
      `${head}Content-Type: multipart/mixed; boundary=b\r\n\r\n--b\r\n\r\nCard ${CARD}\r\n--b\r\nContent-Type: text/plain\r\n\r\nAnd ${CARD2}`,
    );
    expect(counts(await engine.inspectMessage(msg))).toEqual({ 'pci.card': 2 });
  });

  it('accepts LF-only lines, blanks after a delimiter, and a boundary that prefixes another', () => {
    const inner = 'b-1';
    const msg = bytes(
      [
        'Subject: lf',
        'Content-Type: multipart/mixed; boundary=b',
        '',
        'preamble',
        '--b \t',
        `Content-Type: multipart/alternative; boundary="${inner}"`,
        '',
        `--${inner}`,
        '',
        'one',
        `--${inner}`,
        'Content-Type: text/html',
        '',
        '<p>two</p>',
        `--${inner}--`,
        '--b',
        '',
        'three',
        '--b--',
        'epilogue',
      ].join('\n'),
    );
    expect(texts(msg)).toEqual(['lf', 'one', '<p>two</p>', 'three']);
  });

  it('ends a part whose headers run into the next delimiter, without a body', () => {
    const msg = bytes(
      `${head}Content-Type: multipart/mixed; boundary=b\r\n\r\n--b\r\nContent-Type: text/plain\r\n--b\r\n\r\nbody\r\n--b--\r\n`,
    );
    expect(texts(msg)).toEqual(['t', '', 'body']);
  });

  it('does not mistake boundary-like lines with a shared prefix for delimiters, and stays linear on them', () => {
    const prefix = 'A'.repeat(150);
    let body = '';
    let open = '';
    for (let i = 0; i < 30; i++) {
      body += `--${prefix}${i}\r\nContent-Type: multipart/mixed; boundary="${prefix}${i + 1}"\r\n\r\n`;
      open = `${prefix}${i + 1}`;
    }
    // 20,000 lines that match every open boundary but its last character.
    body += `--${open}\r\n\r\nCard ${CARD}\r\n${`--${prefix}X\r\n`.repeat(20_000)}`;
    const msg = bytes(`${head}Content-Type: multipart/mixed; boundary="${prefix}0"\r\n\r\n${body}`);
    const { segments, state } = walk(msg);
    const last = segments.at(-1);
    expect(last?.kind === 'text' ? last.text : '').toContain(CARD);
    expect(state.notInspected).toEqual([]);
  });
});

describe('nesting', () => {
  const nested = (levels: number) => {
    let root = leaf('text/plain', `Card ${CARD}`);
    for (let i = 0; i < levels; i++) root = multipart('mixed', [root]);
    return eml(root);
  };

  it(`reads multiparts nested ${MAX_MULTIPART_DEPTH} deep and refuses deeper ones with an engine error`, async () => {
    expect(counts(await engine.inspectMessage(nested(MAX_MULTIPART_DEPTH)))).toEqual({ 'pci.card': 1 });
    await expect(engine.inspectMessage(nested(MAX_MULTIPART_DEPTH + 1))).rejects.toMatchObject({
      code: 'HOOKGATE_ERR_SCAN_ENGINE_ERROR',
    });
  });

  it('records an attached message nested too deep as malformed and reads the rest', async () => {
    const deep = Buffer.from(nested(MAX_MULTIPART_DEPTH + 1)).toString('latin1');
    const attached = { headers: ['Content-Type: message/rfc822'], body: deep };
    const report = await engine.inspectMessage(
      eml(multipart('mixed', [leaf('text/plain', `IBAN GB82 WEST 1234 5698 7654 32`), attached])),
    );
    expect(counts(report)).toEqual({ iban: 1 });
    expect(types(report)).toEqual(['message/rfc822:malformed']);
  });

  it('walks attached messages only to maxDepth, however they are nested', () => {
    let msg = Buffer.from(eml(leaf('text/plain', 'innermost')));
    for (let i = 0; i < 30; i++)
      msg = Buffer.from(eml({ headers: ['Content-Type: message/rfc822'], body: msg.toString('latin1') }));
    const { segments, state } = walk(msg, { maxDepth: 3 });
    expect(segments.filter((s) => s.kind === 'text' && s.text === 'innermost')).toEqual([]);
    expect(state.notInspected).toEqual([{ type: 'message/rfc822', reason: 'too-deep' }]);
  });
});

describe('transfer encodings', () => {
  it('decodes truncated base64 up to the cut', async () => {
    const encoded = Buffer.from(`Card ${CARD} and more text after it`).toString('base64');
    // The card ends at byte 24, i.e. within the first 32 base64 characters.
    for (const cut of [encoded.length - 1, encoded.length - 2, encoded.length - 3, 33, 34, 35]) {
      const msg = bytes(
        `${head}Content-Type: text/plain\r\nContent-Transfer-Encoding: base64\r\n\r\n${encoded.slice(0, cut)}`,
      );
      expect(counts(await engine.inspectMessage(msg)), `cut at ${cut}`).toEqual({ 'pci.card': 1 });
    }
  });

  it('decodes base64 with stray characters, line breaks and per-line padding', () => {
    const a = Buffer.from('Card 4111 ').toString('base64');
    const b = Buffer.from('1111 1111 1111').toString('base64');
    expect(a.endsWith('=')).toBe(true);
    const raw = bytes(`${a}\r\n ${b.slice(0, 5)}*\t${b.slice(5)}\r\n`);
    expect(decodeBase64(raw, 0, raw.length).toString('latin1')).toBe(`Card ${CARD}`);
    expect(decodeBase64(bytes('!!!'), 0, 3).length).toBe(0);
  });

  it('decodes quoted-printable leniently: lowercase hex, soft breaks with trailing blanks, invalid escapes kept', () => {
    const raw = bytes('Gr=c3=bc=C3=9Fe 4111 11=  \r\n11 1111 1111 =ZZ =4 a=3D=\r\nb=');
    expect(decodeQuotedPrintable(raw, 0, raw.length).toString('utf8')).toBe(`Grüße ${CARD} =ZZ =4 a=b`);
  });

  it('finds a value split by a quoted-printable soft break in a malformed body', async () => {
    const msg = bytes(
      `${head}Content-Type: text/plain; charset=utf-8\r\nContent-Transfer-Encoding: quoted-printable\r\n\r\nCard 4111 1111=\r\n 1111 1111 =Q=\r\n`,
    );
    expect(counts(await engine.inspectMessage(msg))).toEqual({ 'pci.card': 1 });
  });

  it('treats an unknown transfer encoding as identity and an invalid content type as text/plain', async () => {
    const msg = bytes(
      `${head}Content-Type: not a type\r\nContent-Transfer-Encoding: x-uuencode\r\n\r\nCard ${CARD}\r\n`,
    );
    const report = await engine.inspectMessage(msg);
    expect(counts(report)).toEqual({ 'pci.card': 1 });
    expect(report.notInspected).toEqual([]);
  });
});

describe('headers', () => {
  it('reads the body of a message that lacks the blank line after its headers', async () => {
    const msg = bytes(`Subject: no blank line\r\nContent-Type: text/plain\r\nCard ${CARD}\r\n`);
    expect(counts(await engine.inspectMessage(msg))).toEqual({ 'pci.card': 1 });
  });

  it('skips an mbox From_ line and unfolds folded headers; the first Content-Type wins', () => {
    const raw = bytes(
      'From alex@example.com Tue Jul  2 10:00:00 2024\r\nSubject: folded\r\n  subject\r\nContent-Type: text/html;\r\n\tcharset=utf-8\r\nContent-Type: text/plain\r\n\r\nbody',
    );
    const h = readHeaders(raw, 0, raw.length);
    expect(h.subject).toBe('folded  subject');
    expect(parseStructured(h.contentType)).toEqual({
      value: 'text/html',
      params: new Map([['charset', 'utf-8']]),
    });
    expect(raw.toString('latin1', h.bodyStart)).toBe('body');
  });

  it('reads megabytes of header lines and a huge subject in linear time', async () => {
    const many = 'X-Filler: some value that repeats\r\n'.repeat(60_000);
    const subject = `${'word '.repeat(100_000)}card ${CARD}`;
    const msg = bytes(`${many}Subject: ${subject}\r\n${many}\r\nbody ${CARD2}\r\n`);
    expect(msg.length).toBeGreaterThan(4_000_000);
    // The subject is cut at 256 KiB; the body is still read.
    expect(counts(await engine.inspectMessage(msg))).toEqual({ 'pci.card': 1 });
  });

  it('parses parameters: quotes, escapes, comments, duplicates and RFC 2231 continuations', () => {
    const p = parseStructured(
      'Multipart/Mixed (comment); boundary="a;b\\"c" ; boundary=second; name*0*=utf-8\'\'n%C3%A4; name*1=".txt"',
    );
    expect(p.value).toBe('multipart/mixed');
    expect(p.params.get('boundary')).toBe('a;b"c');
    expect(p.params.get('name')).toBe('nä.txt');
    expect(parseStructured('text/plain; charset="utf-8"; format=flowed').params).toEqual(
      new Map([
        ['charset', 'utf-8'],
        ['format', 'flowed'],
      ]),
    );
    expect(parseStructured('text/plain; "unbalanced; x=1').value).toBe('text/plain');
    expect(parseStructured(undefined).value).toBe('');
  });

  it('decodes encoded words: B and Q, adjacent words joined, a character split across words, unknown charsets', () => {
    const euro = Buffer.from('€');
    const split = `=?utf-8?B?${euro.subarray(0, 1).toString('base64')}?= =?utf-8?B?${euro.subarray(1).toString('base64')}?=`;
    expect(decodeWords(split)).toBe('€');
    expect(decodeWords('=?iso-8859-1?Q?Gr=FC=DFe_aus?= =?UTF-8?q?K=C3=B6ln?= und so')).toBe(
      'Grüße ausKöln und so',
    );
    expect(decodeWords('=?x-unknown?B?aGVsbG8=?=')).toBe('hello');
    expect(decodeWords('=?utf-8?B?not closed')).toBe('=?utf-8?B?not closed');
  });
});

describe('parts and charsets', () => {
  it('reads an attachment named with RFC 2231 as text', async () => {
    const part = {
      headers: [
        'Content-Type: application/octet-stream',
        "Content-Disposition: attachment; filename*=utf-8''notes%20%E2%82%AC.txt",
        'Content-Transfer-Encoding: base64',
      ],
      body: Buffer.from(`Card ${CARD}`).toString('base64'),
    };
    const report = await engine.inspectMessage(
      eml(multipart('mixed', [leaf('text/plain', 'see attached'), part])),
    );
    expect(counts(report)).toEqual({ 'pci.card': 1 });
    expect(report.notInspected).toEqual([]);
  });

  it('decodes windows-1252, declared charsets Node knows, and sniffs unknown ones', () => {
    const cp1252 = Buffer.from([0x80, 0x20, 0x34, 0x31]);
    const one = (type: string, body: Buffer) =>
      texts(eml(leaf(type, body, { encoding: '8bit' })))[1]?.trimEnd();
    expect(one('text/plain; charset=windows-1252', cp1252)).toBe('€ 41');
    expect(one('text/plain; charset=iso-8859-1', Buffer.from([0x93, 0x96, 0x94]))).toBe('“–”');
    expect(one('text/plain; charset=iso-8859-1', Buffer.from('Grüße', 'latin1'))).toBe('Grüße');
    expect(one('text/plain; charset=koi8-r', Buffer.from([0xf0, 0xd2, 0xc9]))).toBe('При');
    expect(one('text/plain; charset=x-made-up', Buffer.from('Grüße', 'utf8'))).toBe('Grüße');
    expect(one('text/plain; charset=x-made-up', Buffer.from('Grüße', 'latin1'))).toBe('Grüße');
  });

  it('joins format=flowed lines, so a number wrapped by the sender reads whole', async () => {
    expect(unflow('Card 4111 1111 \r\n1111 1111\r\n-- \r\nsig', false)).toBe(`Card ${CARD}\n-- \nsig`);
    expect(unflow('abc \ndef', true)).toBe('abcdef');
    const msg = eml(leaf('text/plain; charset=utf-8; format=flowed', `Card 4111 1111 \r\n1111 1111`));
    expect(counts(await engine.inspectMessage(msg))).toEqual({ 'pci.card': 1 });
  });

  it('stops at maxParts however the parts are nested, and says so', () => {
    const parts = Array.from({ length: 50 }, (_, i) =>
      multipart('mixed', [leaf('text/plain', `part ${i}`), leaf('text/plain', 'x')]),
    );
    const { state } = walk(eml(multipart('mixed', parts)), { maxParts: 7 });
    expect(state.parts).toBe(7);
    expect(state.notInspected).toEqual([{ type: 'parts-limit', reason: 'too-large' }]);
  });

  it('reads a Uint8Array view into a larger buffer without looking outside it', () => {
    const msg = Buffer.from(
      eml(
        multipart('mixed', [
          {
            headers: ['Content-Type: message/rfc822'],
            body: Buffer.from(eml(leaf('text/plain', 'inner'))).toString('latin1'),
          },
        ]),
      ),
    );
    const around = Buffer.from(`--junk\r\nCard ${CARD}\r\n`);
    const backing = Buffer.concat([around, msg, around]);
    const view = new Uint8Array(backing.buffer, backing.byteOffset + around.length, msg.length);
    expect(texts(view).map((t) => t.trimEnd())).toEqual(['Test', 'Test', 'inner']);
  });
});

describe('garbage never throws', () => {
  it('survives random bytes', async () => {
    const rnd = prng(12);
    for (let i = 0; i < 200; i++) {
      const raw = Buffer.from(
        Array.from({ length: Math.floor(rnd() * 4000) }, () => Math.floor(rnd() * 256)),
      );
      const report = await engine.inspectMessage(raw);
      expect(report.textChars).toBeGreaterThanOrEqual(0);
    }
  });

  it('survives mangled corpus messages: truncated, bytes flipped, delimiters and 8-bit garbage inserted', async () => {
    const dir = fileURLToPath(new URL('../../../test/fixtures/dlp/', import.meta.url));
    const corpus = readdirSync(dir)
      .filter((f) => f.endsWith('.eml'))
      .map((f) => readFileSync(`${dir}${f}`));
    const rnd = prng(7);
    const junk = [
      '\r\n--',
      '=',
      '=?utf-8?B?',
      '"',
      '<',
      '\r\n\r\n',
      '\x00',
      '\xff\xfe',
      'Content-Type: multipart/mixed; boundary=',
      '--=_hg_',
    ];
    for (let i = 0; i < 600; i++) {
      const m = Buffer.from(corpus[Math.floor(rnd() * corpus.length)]!);
      const at = Math.floor(rnd() * m.length);
      let mangled: Buffer;
      switch (i % 4) {
        case 0:
          mangled = m.subarray(0, at);
          break;
        case 1:
          mangled = Buffer.from(m);
          for (let k = 0; k < 20; k++) mangled[Math.floor(rnd() * m.length)] = Math.floor(rnd() * 256);
          break;
        case 2:
          mangled = Buffer.concat([
            m.subarray(0, at),
            Buffer.from(junk[Math.floor(rnd() * junk.length)]!, 'latin1'),
            m.subarray(at),
          ]);
          break;
        default:
          mangled = Buffer.concat([
            m.subarray(0, at),
            Buffer.from(Array.from({ length: 64 }, () => 0x80 + Math.floor(rnd() * 128))),
            m.subarray(at),
          ]);
      }
      const report = await engine.inspectMessage(mangled);
      expect(Array.isArray(report.findings)).toBe(true);
    }
  });
});
