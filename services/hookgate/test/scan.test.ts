/**
 * Issue 16, `hookgate scan` pieces: mbox splitting on real files (Python's mailbox module; mboxrd with CRLF), in
 * chunks of any size; the Stalwart request a file becomes (exact bytes again after the ingress rebuilds them); the
 * summary and exit codes.
 */
import { describe, expect, it } from 'vitest';
import { createReadStream, readFileSync } from 'node:fs';
import { reconstructMessage } from '@hookgate/ingress';
import { splitMbox, looksLikeMbox } from '../src/scan/mbox.js';
import { envelopeOf, splitMessage } from '../src/scan/envelope.js';
import { exitCode, line, summarize, type ScannedMessage } from '../src/scan/report.js';

const FIXTURES = new URL('../../../test/fixtures/mbox/', import.meta.url);

async function all(chunks: AsyncIterable<Buffer | string>): Promise<string[]> {
  const out: string[] = [];
  for await (const m of splitMbox(chunks)) out.push(m.toString('latin1'));
  return out;
}

async function* chunked(b: Buffer, size: number): AsyncGenerator<Buffer> {
  for (let i = 0; i < b.length; i += size) yield b.subarray(i, i + size);
}

describe('mbox', () => {
  it("splits a file written by Python's mailbox module and undoes its >From quoting", async () => {
    const msgs = await all(createReadStream(new URL('python-mailbox.mbox', FIXTURES), { highWaterMark: 64 }));
    expect(msgs).toHaveLength(3);
    expect(msgs.map((m) => /^Subject: (.*)$/m.exec(m)?.[1])).toEqual(['first', 'second', 'third']);
    expect(msgs[0]).toMatch(/^From: sender0@example\.org\n/);
    expect(msgs[0]).toContain('\nFrom the start of a line this needed quoting.\n');
    expect(msgs[0]!.endsWith('Regards\n')).toBe(true);
    expect(msgs[1]).toContain('\n\nFrom here too.\n');
    expect(msgs[2]!.endsWith('no trailing newline at all\n')).toBe(true);
  });

  it('mboxrd with CRLF: one > less per quoted line, and a From line inside a paragraph is body', async () => {
    const file = readFileSync(new URL('mboxrd-crlf.mbox', FIXTURES));
    for (const size of [1, 7, 4096]) {
      const msgs = await all(chunked(file, size));
      expect(msgs).toHaveLength(2);
      expect(msgs[0]).toBe(
        'From: alice@example.org\r\nTo: bob@example.net\r\nSubject: rd one\r\n\r\nFrom escaped once\r\n>From escaped twice\r\n> From not an escape\r\nend one\r\n',
      );
      expect(msgs[1]).toContain('line\r\nFrom inside a paragraph is not a separator\r\nend two\r\n');
    }
  });

  it('knows an mbox by its first line; text before the first separator is not a message', async () => {
    expect(looksLikeMbox(Buffer.from('From x'))).toBe(true);
    expect(looksLikeMbox(Buffer.from('From: x'))).toBe(false);
    expect(await all(chunked(Buffer.from('junk\n\nFrom a\nSubject: s\n\nb\n'), 3))).toEqual([
      'Subject: s\n\nb\n',
    ]);
  });
});

describe('a file as a Stalwart data request', () => {
  it('keeps raw header values so the ingress rebuilds the exact bytes', () => {
    const eml =
      'From: "A, B" <A@Example.org>\r\nTo: bob@example.net,\r\n carol@example.net\r\nCc: Dave <dave@example.net>\r\nSubject: Hello\r\n world\r\n\r\nBody\r\n\r\nmore\r\n';
    const { headers, body } = splitMessage(Buffer.from(eml));
    expect(reconstructMessage({ headers, contents: body, size: eml.length }).toString()).toBe(eml);
    expect(envelopeOf(headers, {})).toEqual({
      from: 'a@example.org',
      to: ['bob@example.net', 'carol@example.net', 'dave@example.net'],
      subject: 'Hello world',
    });
    expect(envelopeOf(headers, { from: '', to: ['x@y.z'] })).toMatchObject({ from: '', to: ['x@y.z'] });
    expect(envelopeOf(splitMessage(Buffer.from('Subject: x\n\nbody')).headers, {})).toMatchObject({
      from: '',
      to: ['postmaster@localhost'],
    });
  });
});

describe('report', () => {
  const msg = (
    action: ScannedMessage['action'],
    reasons: string[] = [],
    scanners: ScannedMessage['scanners'] = [],
  ): ScannedMessage => ({
    label: 'x.eml',
    ...(action ? { action } : { error: 'unreadable' }),
    reasons,
    scanners,
    durationMs: 5,
  });
  it('exit codes: 0 all accepted, 1 any refused, 2 any error', () => {
    expect(exitCode(summarize([msg('accept'), msg('accept')], 0, 1))).toBe(0);
    for (const a of ['reject', 'tempfail', 'discard', 'quarantine'] as const)
      expect(exitCode(summarize([msg('accept'), msg(a)], 0, 1))).toBe(1);
    expect(exitCode(summarize([msg('reject'), msg(undefined)], 0, 1))).toBe(2);
  });
  it('counts per action and reason, slowest scanners first', () => {
    const s = summarize(
      [
        msg(
          'reject',
          ['clamav:virus:Eicar'],
          [
            { id: 'clamav', status: 'fail', ms: 40 },
            { id: 'dlp', status: 'pass', ms: 2 },
          ],
        ),
        msg('reject', ['clamav:virus:Eicar'], [{ id: 'clamav', status: 'fail', ms: 20 }]),
        msg('accept', [], [{ id: 'dlp', status: 'pass', ms: 3 }]),
      ],
      1,
      9,
    );
    expect(s).toMatchObject({
      messages: 3,
      byAction: { reject: 2, accept: 1 },
      byReason: { 'clamav:virus:Eicar': 2 },
      errors: 0,
      skippedFiles: 1,
    });
    expect(s.scanners.map((x) => [x.id, x.p50Ms, x.maxMs])).toEqual([
      ['clamav', 20, 40],
      ['dlp', 2, 3],
    ]);
    expect(line({ ...msg('reject', ['clamav:virus:Eicar']), reply: '550 5.7.1 Virus found' })).toBe(
      'REJECT     x.eml  550 5.7.1 Virus found  [clamav:virus:Eicar]  5 ms',
    );
    expect(line(msg(undefined))).toBe('ERROR      x.eml  unreadable');
  });
});
