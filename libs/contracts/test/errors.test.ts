import { readdirSync, readFileSync, statSync } from 'node:fs';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { describe, expect, it } from 'vitest';
import { DRAFT01_ERRORS, ERR, ERRORS, errorSpec } from '@hookgate/contracts';

const root = fileURLToPath(new URL('../../../', import.meta.url));
const readme = readFileSync(join(root, 'libs/contracts/README.md'), 'utf8');

function sources(dir: string): string[] {
  return readdirSync(dir).flatMap((name) => {
    const path = join(dir, name);
    if (statSync(path).isDirectory()) return sources(path);
    return path.endsWith('.ts') ? [path] : [];
  });
}

describe('the error catalogue', () => {
  it('gives every hookgate entry its own HOOKGATE_ERR_ code, a message, and a 4xx/5xx status where it has one', () => {
    const codes = Object.values(ERRORS).map((e) => e.code);
    expect(new Set(codes).size).toBe(codes.length);
    for (const [name, spec] of Object.entries(ERRORS)) {
      expect(spec.code, name).toBe(`HOOKGATE_ERR_${name}`);
      expect(spec.message.length, name).toBeGreaterThan(0);
      if ('status' in spec) expect(spec.status, name).toBeGreaterThanOrEqual(400);
    }
    expect(ERR.NOT_FOUND).toBe(ERRORS.NOT_FOUND.code);
    expect(errorSpec('HOOKGATE_ERR_QUARANTINE_GONE')).toBe(ERRORS.QUARANTINE_GONE);
    expect(errorSpec('FST_ERR_CTP_BODY_TOO_LARGE')).toBeUndefined();
  });

  it('names each draft-01 entry after its code, except the 415 answer the draft has no code for', () => {
    for (const [name, spec] of Object.entries(DRAFT01_ERRORS)) {
      if (name === 'UNSUPPORTED_MEDIA_TYPE')
        expect([spec.code, spec.status]).toEqual(['INVALID_REQUEST', 415]);
      else expect(spec.code, name).toBe(name);
    }
    expect([
      DRAFT01_ERRORS.RATE_LIMITED.retryAfterSec,
      DRAFT01_ERRORS.SCANNER_UNAVAILABLE.retryAfterSec,
      DRAFT01_ERRORS.REGISTRATION_DISABLED.retryAfterSec,
    ]).toEqual([1, 1, 60]);
  });

  it('is listed in the README, code by code', () => {
    for (const { code } of [...Object.values(ERRORS), ...Object.values(DRAFT01_ERRORS)])
      expect(readme, code).toContain(`\`${code}\``);
  });

  it('is the only place that writes an error code: no source file outside it spells one out', () => {
    const draftCodes = [...new Set(Object.values(DRAFT01_ERRORS).map((e) => e.code))];
    // String literals only: doc comments may name a code in backticks.
    const literal = new RegExp(`['"](HOOKGATE_ERR_[A-Z_]+|${draftCodes.join('|')})['"]`);
    const offenders = ['libs', 'services']
      .flatMap((top) => readdirSync(join(root, top)).map((pkg) => join(root, top, pkg, 'src')))
      .filter((dir) => statSync(dir, { throwIfNoEntry: false })?.isDirectory())
      .flatMap(sources)
      .filter((file) => !file.endsWith(join('libs', 'contracts', 'src', 'errors.ts')))
      .filter((file) => literal.test(readFileSync(file, 'utf8')));
    expect(offenders).toEqual([]);
  });
});
