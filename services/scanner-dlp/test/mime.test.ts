import { describe, expect, it } from 'vitest';
import { DlpEngine, classifyPart, decodeText, resolveDlpConfig, type DlpReport } from '@hookgate/scanner-dlp';
import { eml, leaf, multipart, textMessage } from './support.js';

const engine = new DlpEngine(resolveDlpConfig({}));
const counts = (r: DlpReport) => Object.fromEntries(r.findings.map((f) => [f.rule, f.count]));
const types = (r: DlpReport) => r.notInspected.map((n) => `${n.type}:${n.reason}`);
const CARD = '4111 1111 1111 1111';
const IBAN = 'GB82 WEST 1234 5698 7654 32';

describe('MIME decoding', () => {
  it('reads base64 and quoted-printable bodies, also when a soft break splits a value', async () => {
    const b64 = eml(leaf('text/plain; charset=utf-8', `Card ${CARD}`, { encoding: 'base64' }));
    expect(counts(await engine.inspectMessage(b64))).toEqual({ 'pci.card': 1 });
    const body = `${'x'.repeat(50)} card ${CARD} and iban ${IBAN}`;
    const qpMsg = eml(leaf('text/plain; charset=utf-8', body, { encoding: 'quoted-printable' }));
    expect(Buffer.from(qpMsg).toString('latin1')).toContain('=\r\n');
    expect(counts(await engine.inspectMessage(qpMsg))).toEqual({ 'pci.card': 1, iban: 1 });
  });

  it('decodes charsets: ISO-8859-1 in 8bit and quoted-printable, UTF-8', async () => {
    const latin1 = Buffer.from(`Grüße, Kartennummer ${CARD}, gültig`, 'latin1');
    for (const encoding of ['8bit', 'quoted-printable'] as const) {
      const msg = eml(leaf('text/plain; charset=iso-8859-1', latin1, { encoding }));
      expect(counts(await engine.inspectMessage(msg))).toEqual({ 'pci.card': 1 });
    }
    expect(counts(await engine.inspectMessage(textMessage(`Überweisung an ${IBAN} – danke`)))).toEqual({
      iban: 1,
    });
  });

  it('converts HTML: entities, no-break spaces, spans, tables and link targets', async () => {
    const html = [
      '<html><body><h1>Sk_live keys</h1>',
      '<p>Card:&nbsp;<span>4111</span>&nbsp;<span>1111</span> <b>1111</b> 1111</p>',
      '<table><tr><th>IBAN</th><td>GB82&#32;WEST 1234 5698 7654 32</td></tr></table>',
      '<a href="https://hooks.slack.com/services/T01ABCDEF/B02GHIJKLMN/aB3dE5fG7hJ9kL1mN3pQ5rS7">alerts</a>',
      '<h2>sk_live_4eC39HqLyjWDarjtT1zdp7dc</h2>',
      '</body></html>',
    ].join('\n');
    const msg = eml(leaf('text/html; charset=utf-8', html, { encoding: 'quoted-printable' }));
    expect(counts(await engine.inspectMessage(msg))).toEqual({
      'pci.card': 1,
      iban: 1,
      'secret.slack': 1,
      'secret.stripe': 1,
    });
  });

  it('walks nested multiparts and counts a value in both alternatives once', async () => {
    const msg = eml(
      multipart('mixed', [
        multipart('alternative', [
          leaf('text/plain', `Card ${CARD}`),
          leaf('text/html', `<p>Card ${CARD}</p>`),
        ]),
        multipart('mixed', [
          multipart('related', [
            leaf('text/plain', 'Second card 5555-5555-5555-4444', { encoding: 'base64' }),
          ]),
        ]),
      ]),
    );
    expect(counts(await engine.inspectMessage(msg))).toEqual({ 'pci.card': 2 });
  });

  it('reads the subject', async () => {
    const msg = textMessage(
      'nothing here',
      `=?UTF-8?B?${Buffer.from(`Karte ${CARD} – bitte`).toString('base64')}?=`,
    );
    expect(counts(await engine.inspectMessage(msg))).toEqual({ 'pci.card': 1 });
  });

  it('reads text attachments: text/*, json, xml, and generic types named .csv or .txt', async () => {
    const attachments = [
      leaf('text/csv', `id,card\n1,${CARD}`, { encoding: 'base64', filename: 'a.csv' }),
      leaf('application/json', JSON.stringify({ iban: IBAN }), { encoding: 'base64', filename: 'a.json' }),
      leaf('application/xml', '<k>AKIA2E4G6J7K3M5P7R2T</k>', { filename: 'a.xml' }),
      leaf('application/octet-stream', 'SSN 536-22-1234', { encoding: 'base64', filename: 'notes.txt' }),
      leaf('text/plain', 'sk_live_4eC39HqLyjWDarjtT1zdp7dc', { encoding: 'base64', filename: 'key.txt' }),
    ];
    const report = await engine.inspectMessage(
      eml(multipart('mixed', [leaf('text/plain', 'see attached'), ...attachments])),
    );
    expect(counts(report)).toEqual({
      'pci.card': 1,
      iban: 1,
      'us.ssn': 1,
      'secret.aws': 1,
      'secret.stripe': 1,
    });
    expect(report.notInspected).toEqual([]);
    expect(report.parts).toBe(6);
  });

  it('reads attached messages (.eml, message/rfc822), inline or as attachments', async () => {
    const inner = Buffer.from(textMessage(`Card ${CARD}`)).toString('latin1');
    const asAttachment = {
      headers: ['Content-Type: message/rfc822', 'Content-Disposition: attachment; filename="fwd.eml"'],
      body: inner,
    };
    const inline = {
      headers: ['Content-Type: message/rfc822'],
      body: Buffer.from(textMessage(`IBAN ${IBAN}`)).toString('latin1'),
    };
    const eml2 = leaf('application/octet-stream', Buffer.from(textMessage('SSN 536-22-1234')), {
      encoding: 'base64',
      filename: 'x.eml',
    });
    const report = await engine.inspectMessage(
      eml(multipart('mixed', [leaf('text/plain', 'fwd'), asAttachment, inline, eml2])),
    );
    expect(counts(report)).toEqual({ 'pci.card': 1, iban: 1, 'us.ssn': 1 });
  });

  it('decodes attachment text without a charset: UTF-8, windows-1252, UTF-16 with and without BOM', () => {
    expect(decodeText(Buffer.from('größe 4111'))).toBe('größe 4111');
    expect(decodeText(Buffer.from('größe 4111', 'latin1'))).toBe('größe 4111');
    expect(decodeText(Buffer.concat([Buffer.from([0xff, 0xfe]), Buffer.from('card 4111', 'utf16le')]))).toBe(
      'card 4111',
    );
    expect(decodeText(Buffer.from('card 4111 1111 1111 1111', 'utf16le'))).toBe('card 4111 1111 1111 1111');
    expect(decodeText(Buffer.from('abcdef'), 1).length).toBeLessThanOrEqual(7);
  });
});

describe('not inspected', () => {
  it('classifies parts by type and, for generic types, by file name', () => {
    expect(classifyPart('text/csv', null)).toBe('text');
    expect(classifyPart('application/vnd.api+json', null)).toBe('text');
    expect(classifyPart('message/rfc822', null)).toBe('message');
    expect(classifyPart('application/octet-stream', 'a.eml')).toBe('message');
    expect(classifyPart('application/octet-stream', 'page.HTML')).toBe('html');
    expect(classifyPart('application/pkcs7-signature', 'smime.p7s')).toBe('ignore');
    expect(classifyPart('application/pdf', 'a.pdf')).toEqual({
      reason: 'unsupported',
      type: 'application/pdf',
    });
    expect(classifyPart('application/octet-stream', 'a.docx')).toEqual({
      reason: 'unsupported',
      type: 'application/vnd.openxmlformats-officedocument.wordprocessingml.document',
    });
    expect(classifyPart('application/pkcs7-mime', 'smime.p7m')).toEqual({
      reason: 'encrypted',
      type: 'application/pkcs7-mime',
    });
    expect(classifyPart('application/octet-stream', 'secret.gpg')).toEqual({
      reason: 'encrypted',
      type: 'application/pgp-encrypted',
    });
    expect(classifyPart('weird type "\r\n', null)).toEqual({
      reason: 'unsupported',
      type: 'application/octet-stream',
    });
  });

  it('names formats it cannot read, whatever they contain, and reads the rest', async () => {
    const pdf = leaf('application/pdf', `%PDF-1.4 (Card ${CARD}) Tj`, {
      encoding: 'base64',
      filename: 'statement.pdf',
    });
    const zip = leaf('application/zip', Buffer.from('PK\x03\x04 not really'), {
      encoding: 'base64',
      filename: 'a.zip',
    });
    const png = leaf('image/png', Buffer.from('\x89PNG'), { encoding: 'base64', filename: 'scan.png' });
    const p7m = leaf('application/pkcs7-mime', Buffer.from([1, 2, 3]), {
      encoding: 'base64',
      filename: 'smime.p7m',
    });
    const report = await engine.inspectMessage(
      eml(multipart('mixed', [leaf('text/plain', `IBAN ${IBAN}`), pdf, zip, png, p7m])),
    );
    expect(counts(report)).toEqual({ iban: 1 });
    expect(types(report)).toEqual([
      'application/pdf:unsupported',
      'application/zip:unsupported',
      'image/png:unsupported',
      'application/pkcs7-mime:encrypted',
    ]);
  });

  it('names inline PGP messages as encrypted', async () => {
    const report = await engine.inspectMessage(
      textMessage('-----BEGIN PGP MESSAGE-----\n\nhQEMA0123\n-----END PGP MESSAGE-----'),
    );
    expect(types(report)).toEqual(['application/pgp-encrypted:encrypted']);
  });
});

describe('limits', () => {
  it('scans at most maxTextBytes of text and says so', async () => {
    const small = new DlpEngine(resolveDlpConfig({ limits: { maxTextBytes: 2048 } }));
    const report = await small.inspectMessage(textMessage(`${'filler text '.repeat(400)}\nCard ${CARD}`));
    expect(report.findings).toEqual([]);
    expect(report.textChars).toBeLessThanOrEqual(2048);
    expect(types(report)).toEqual(['text-limit:too-large']);
  });

  it('inspects at most maxParts parts', async () => {
    const few = new DlpEngine(resolveDlpConfig({ limits: { maxParts: 2 } }));
    const parts = [
      leaf('text/plain', 'body'),
      ...[1, 2, 3].map((i) => leaf('text/plain', `n ${i}`, { filename: `${i}.txt` })),
    ];
    const report = await few.inspectMessage(eml(multipart('mixed', parts)));
    expect(report.parts).toBe(2);
    expect(types(report)).toEqual(['parts-limit:too-large']);
  });

  it('opens attached messages only to maxDepth', async () => {
    const shallow = new DlpEngine(resolveDlpConfig({ limits: { maxDepth: 1 } }));
    let msg = Buffer.from(textMessage(`Card ${CARD}`)).toString('latin1');
    for (let i = 0; i < 3; i++) {
      const attached = {
        headers: ['Content-Type: message/rfc822', 'Content-Disposition: attachment; filename="m.eml"'],
        body: msg,
      };
      msg = Buffer.from(eml(multipart('mixed', [leaf('text/plain', `level ${i}`), attached]))).toString(
        'latin1',
      );
    }
    const report = await shallow.inspectMessage(Buffer.from(msg, 'latin1'));
    expect(report.findings).toEqual([]);
    expect(types(report)).toEqual(['message/rfc822:too-deep']);
    expect(counts(await engine.inspectMessage(Buffer.from(msg, 'latin1')))).toEqual({ 'pci.card': 1 });
  });

  it('finds values across the slices of a long text', () => {
    const line = 'lorem ipsum dolor sit amet consectetur\n';
    const filler = line.repeat(Math.ceil((1 << 20) / line.length));
    const text = `${filler}Card ${CARD}\n${filler}IBAN ${IBAN}\n${filler}`;
    expect(text.length).toBeGreaterThan(3 * (1 << 20));
    expect(Object.fromEntries(engine.scanText(text).findings.map((f) => [f.rule, f.count]))).toEqual({
      'pci.card': 1,
      iban: 1,
    });
  });
});
