import { describe, expect, it } from 'vitest';
import { Value } from '@sinclair/typebox/value';
import { MilterConfigSchema, formatListen, parseListen } from '../src/index.js';

describe('milter.listen', () => {
  it.each([
    ['127.0.0.1:11332', { kind: 'tcp', host: '127.0.0.1', port: 11332 }],
    ['[::1]:11332', { kind: 'tcp', host: '::1', port: 11332 }],
    ['0.0.0.0:0', { kind: 'tcp', host: '0.0.0.0', port: 0 }],
    ['inet:11332@127.0.0.1', { kind: 'tcp', host: '127.0.0.1', port: 11332 }],
    ['inet:11332', { kind: 'tcp', host: '0.0.0.0', port: 11332 }],
    ['unix:/run/hookgate/milter.sock', { kind: 'unix', path: '/run/hookgate/milter.sock' }],
    ['local:/tmp/m.sock', { kind: 'unix', path: '/tmp/m.sock' }],
    ['/var/spool/postfix/hookgate/milter', { kind: 'unix', path: '/var/spool/postfix/hookgate/milter' }],
  ])('%s', (text, want) => {
    expect(parseListen(text)).toEqual(want);
    expect(Value.Check(MilterConfigSchema, Value.Default(MilterConfigSchema, { listen: text }))).toBe(true);
  });

  it('refuses what it cannot parse, in the schema and in the parser', () => {
    for (const bad of ['11332', 'unix:relative.sock', 'host', 'a:b:c']) {
      expect(Value.Check(MilterConfigSchema, Value.Default(MilterConfigSchema, { listen: bad }))).toBe(false);
      expect(() => parseListen(bad)).toThrow();
    }
    expect(() => parseListen('127.0.0.1:70000')).toThrow(/out of range/);
  });

  it('formats for logs and Postfix', () => {
    expect(formatListen({ kind: 'tcp', host: '::1', port: 1 })).toBe('[::1]:1');
    expect(formatListen({ kind: 'unix', path: '/x' })).toBe('unix:/x');
  });
});

describe('defaults', () => {
  it('an empty section validates with the documented defaults', () => {
    const c = Value.Default(MilterConfigSchema, {}) as Record<string, unknown>;
    expect(c).toMatchObject({
      listen: '127.0.0.1:11332',
      maxFrameBytes: 1_048_576,
      oversize: 'reject',
      onError: 'tempfail',
      stages: ['connect', 'ehlo', 'mail', 'rcpt', 'data'],
    });
    expect(Value.Check(MilterConfigSchema, c)).toBe(true);
  });
});
