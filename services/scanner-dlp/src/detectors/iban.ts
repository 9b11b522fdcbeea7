/**
 * IBAN: country code, two check digits and the BBAN, written compact or in groups of four; the length must be
 * the one the country registered and the whole must pass ISO 7064 mod 97-10.
 */
import type { DetectorFamily } from './types.js';

/** IBAN lengths per country (SWIFT IBAN registry). */
export const IBAN_LENGTHS: Readonly<Record<string, number>> = {
  AD: 24,
  AE: 23,
  AL: 28,
  AT: 20,
  AZ: 28,
  BA: 20,
  BE: 16,
  BG: 22,
  BH: 22,
  BI: 27,
  BR: 29,
  BY: 28,
  CH: 21,
  CR: 22,
  CY: 28,
  CZ: 24,
  DE: 22,
  DJ: 27,
  DK: 18,
  DO: 28,
  EE: 20,
  EG: 29,
  ES: 24,
  FI: 18,
  FK: 18,
  FO: 18,
  FR: 27,
  GB: 22,
  GE: 22,
  GI: 23,
  GL: 18,
  GR: 27,
  GT: 28,
  HR: 21,
  HU: 28,
  IE: 22,
  IL: 23,
  IQ: 23,
  IS: 26,
  IT: 27,
  JO: 30,
  KW: 30,
  KZ: 20,
  LB: 28,
  LC: 32,
  LI: 21,
  LT: 20,
  LU: 20,
  LV: 21,
  LY: 25,
  MC: 27,
  MD: 24,
  ME: 22,
  MK: 19,
  MN: 20,
  MR: 27,
  MT: 31,
  MU: 30,
  NI: 28,
  NL: 18,
  NO: 15,
  OM: 23,
  PK: 24,
  PL: 28,
  PS: 29,
  PT: 25,
  QA: 29,
  RO: 24,
  RS: 22,
  RU: 33,
  SA: 24,
  SC: 31,
  SD: 18,
  SE: 24,
  SI: 19,
  SK: 24,
  SM: 27,
  SO: 23,
  ST: 25,
  SV: 28,
  TL: 23,
  TN: 24,
  TR: 26,
  UA: 29,
  VA: 22,
  VG: 24,
  XK: 20,
  YE: 30,
};

/** ISO 7064 mod 97-10 over an IBAN in compact upper-case form. */
export function ibanMod97(compact: string): number {
  const rearranged = compact.slice(4) + compact.slice(0, 4);
  let rem = 0;
  for (let i = 0; i < rearranged.length; i++) {
    const c = rearranged.charCodeAt(i);
    if (c >= 48 && c <= 57) rem = (rem * 10 + (c - 48)) % 97;
    else if (c >= 65 && c <= 90) rem = (rem * 100 + (c - 55)) % 97;
    else return -1;
  }
  return rem;
}

/** A full check of a compact IBAN: known country, its length, mod 97 = 1. */
export function isIban(compact: string): boolean {
  const len = IBAN_LENGTHS[compact.slice(0, 2)];
  return (
    len !== undefined &&
    compact.length === len &&
    /^[A-Z]{2}\d{2}[A-Z0-9]+$/.test(compact) &&
    ibanMod97(compact) === 1
  );
}

// Greedy on purpose: the country's length decides where the IBAN ends, then the next character must not
// continue the token.
const CANDIDATE = /(?<![A-Za-z0-9])([A-Z]{2})\d{2}(?: ?[A-Z0-9]){10,32}/g;

function isAlnum(code: number): boolean {
  return (code >= 48 && code <= 57) || (code >= 65 && code <= 90) || (code >= 97 && code <= 122);
}

/** The `iban` detector. */
export function ibanDetector(): DetectorFamily {
  return {
    rules: ['iban'],
    scan(text, emit) {
      CANDIDATE.lastIndex = 0;
      let m: RegExpExecArray | null;
      while ((m = CANDIDATE.exec(text)) !== null) {
        const start = m.index;
        const len = IBAN_LENGTHS[m[1]!];
        const matchEnd = start + m[0].length;
        let compact = m[0].slice(0, 4);
        let i = start + 4;
        let ok = len !== undefined;
        while (ok && compact.length < len! && i < matchEnd) {
          if (text[i] === ' ') {
            // Spaces only between groups of four, as IBANs are printed.
            if (compact.length % 4 !== 0) ok = false;
          } else {
            compact += text[i];
          }
          i++;
        }
        ok = ok && compact.length === len && !isAlnum(text.charCodeAt(i)) && ibanMod97(compact) === 1;
        if (ok) {
          emit('iban', compact, start, i);
          CANDIDATE.lastIndex = i;
        } else {
          CANDIDATE.lastIndex = start + 1;
        }
      }
    },
  };
}
