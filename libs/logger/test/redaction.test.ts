import { describe, expect, it } from 'vitest';
import { Writable } from 'node:stream';
import { createLogger } from '@hookgate/logger';

function capture() {
  const lines: Record<string, unknown>[] = [];
  const dest = new Writable({
    write(chunk, _enc, cb) {
      for (const l of String(chunk).split('\n').filter(Boolean))
        lines.push(JSON.parse(l) as Record<string, unknown>);
      cb();
    },
  });
  return { lines, log: createLogger({ level: 'debug', base: { role: 'test' } }, dest) };
}

describe('logger redaction', () => {
  it('censors content, credentials and DLP matches wherever a mistake puts them', () => {
    const { lines, log } = capture();
    log.info(
      {
        req: { headers: { authorization: 'Bearer s3cret-token', 'content-type': 'application/json' } },
        auth: { tokens: [{ token: 'tok-123' }], basic: [{ secret: 'pw' }] },
        password: 'hunter2',
        contents: 'Dear Bob, card 4111 1111 1111 1111',
        message: { contents: 'body text', rawMessage: 'UmF3' },
        matches: ['4111111111111111'],
        finding: { matches: ['AKIAABCDEFGHIJKLMNOP'] },
        body: '{"context":{}}',
        stage: 'data',
      },
      'event',
    );
    const line = JSON.stringify(lines[0]);
    for (const secret of [
      's3cret-token',
      'tok-123',
      'hunter2',
      '4111',
      'body text',
      'UmF3',
      'AKIA',
      'context',
    ])
      expect(line).not.toContain(secret);
    expect(lines[0]).toMatchObject({
      level: 'info',
      stage: 'data',
      role: 'test',
      service: 'hookgate',
      msg: 'event',
      password: '[redacted]',
    });
    expect((lines[0]!.req as { headers: Record<string, string> }).headers['content-type']).toBe(
      'application/json',
    );
  });

  it('writes one JSON object per line with ISO time and level labels', () => {
    const { lines, log } = capture();
    log.warn({ txnId: 'abc.1' }, 'degraded');
    expect(lines).toHaveLength(1);
    expect(lines[0]).toMatchObject({ level: 'warn', txnId: 'abc.1', msg: 'degraded' });
    expect(String(lines[0]!.time)).toMatch(/^\d{4}-\d\d-\d\dT/);
  });
});
