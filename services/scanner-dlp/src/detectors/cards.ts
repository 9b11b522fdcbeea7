/**
 * Payment card numbers (PAN): digit runs of 13–19 digits, optionally grouped by one kind of separator (space or
 * dash) in the layouts cards are printed in, that pass Luhn and fall in an issuer's range with a length that
 * issuer uses.
 */
import type { DetectorFamily, Emit } from './types.js';
import { isDigitCode } from '../text/chars.js';

interface Issuer {
  name: string;
  /** Inclusive prefix ranges; both ends have the same number of digits. */
  ranges: ReadonlyArray<readonly [string, string]>;
  lengths: readonly number[];
}

const L16_19 = [16, 17, 18, 19];

/**
 * Issuer identification ranges. Maestro and UnionPay's shorter lengths (12–15) are left out on purpose: too many
 * ordinary numbers would fit them.
 */
export const ISSUERS: readonly Issuer[] = [
  { name: 'visa', ranges: [['4', '4']], lengths: [13, 16, 19] },
  {
    name: 'mastercard',
    ranges: [
      ['51', '55'],
      ['2221', '2720'],
    ],
    lengths: [16],
  },
  {
    name: 'amex',
    ranges: [
      ['34', '34'],
      ['37', '37'],
    ],
    lengths: [15],
  },
  {
    name: 'discover',
    ranges: [
      ['6011', '6011'],
      ['644', '649'],
      ['65', '65'],
      ['622126', '622925'],
    ],
    lengths: L16_19,
  },
  { name: 'jcb', ranges: [['3528', '3589']], lengths: L16_19 },
  {
    name: 'diners',
    ranges: [
      ['300', '305'],
      ['3095', '3095'],
      ['36', '36'],
      ['38', '39'],
    ],
    lengths: [14, 15, 16, 17, 18, 19],
  },
  {
    name: 'unionpay',
    ranges: [
      ['62', '62'],
      ['8100', '8171'],
    ],
    lengths: L16_19,
  },
  {
    name: 'maestro',
    ranges: [
      ['5018', '5018'],
      ['5020', '5020'],
      ['5038', '5038'],
      ['5893', '5893'],
      ['6304', '6304'],
      ['6759', '6759'],
      ['6761', '6763'],
    ],
    lengths: L16_19,
  },
  { name: 'mir', ranges: [['2200', '2204']], lengths: L16_19 },
];

/** The issuer whose range and lengths fit `digits`, if any. */
export function cardIssuer(digits: string): string | undefined {
  for (const issuer of ISSUERS) {
    if (!issuer.lengths.includes(digits.length)) continue;
    for (const [lo, hi] of issuer.ranges) {
      const p = digits.slice(0, lo.length);
      if (p >= lo && p <= hi) return issuer.name;
    }
  }
  return undefined;
}

/** The Luhn (mod 10) check. */
export function luhnValid(digits: string): boolean {
  let sum = 0;
  let double = false;
  for (let i = digits.length - 1; i >= 0; i--) {
    let d = digits.charCodeAt(i) - 48;
    if (d < 0 || d > 9) return false;
    if (double) {
      d *= 2;
      if (d > 9) d -= 9;
    }
    sum += d;
    double = !double;
  }
  return sum % 10 === 0;
}

/** A full check of an unformatted candidate: Luhn, issuer range and length. */
export function isCardNumber(digits: string): boolean {
  return digits.length >= 13 && digits.length <= 19 && luhnValid(digits) && cardIssuer(digits) !== undefined;
}

/**
 * Printed layouts: 4-4-4-4, 4-4-4-4-3 (19 digits), Amex 4-6-5, Diners 4-6-4. Other groupings (4-4-4-2, 4-4-4-4-2…)
 * are what tracking and reference numbers look like, so they are not read as cards.
 */
function groupingValid(lengths: readonly number[]): boolean {
  const [a, b, c, d, e] = lengths;
  if (lengths.length === 3) return a === 4 && b === 6 && (c === 5 || c === 4);
  if (lengths.length === 4) return a === 4 && b === 4 && c === 4 && d === 4;
  return lengths.length === 5 && a === 4 && b === 4 && c === 4 && d === 4 && e === 3;
}

// A run of digit groups joined by single spaces or dashes; windows inside it are checked in code, which keeps
// the regex free of backtracking.
const RUN = /\d+(?:[ -]\d+)*/y;
/**
 * Thirteen digits with at most single separators between them: only runs holding such a stretch can hold a card,
 * so runs are looked for only around these (most digit runs in mail are short and are skipped without a match).
 */
const LONG = /\d(?:[ -]?\d){12}/g;
const LETTER_BEFORE = /[\p{L}_]/u;

interface Group {
  start: number;
  end: number;
  /** Separator before this group ('' for the first). */
  sep: string;
}

function windowDigits(text: string, groups: readonly Group[], from: number, to: number): string | undefined {
  const sep = groups[from + 1]?.sep;
  const lengths: number[] = [];
  let digits = '';
  for (let i = from; i <= to; i++) {
    const g = groups[i]!;
    if (i > from && g.sep !== sep) return undefined;
    lengths.push(g.end - g.start);
    digits += text.slice(g.start, g.end);
  }
  if (to > from && !groupingValid(lengths)) return undefined;
  return isCardNumber(digits) ? digits : undefined;
}

/** A letter or underscore, or a dash/underscore joining the run to a letter or digit ("xoxb-6297…-4077…-8zk"). */
function gluedAt(text: string, i: number, outward: number): boolean {
  const ch = text[i];
  if (ch === undefined) return false;
  if (LETTER_BEFORE.test(ch)) return true;
  const next = text.charCodeAt(i + outward);
  return (ch === '-' || ch === '_') && (isDigitCode(next) || LETTER_BEFORE.test(text[i + outward] ?? ''));
}

/**
 * Groups of one run, trimmed of decimal fractions at either end. `tail` is true when the run is part of a
 * longer identifier ("SA79 4130 3527 …" in a spaced IBAN, the digits inside a token): no card is read there.
 */
function runGroups(text: string, start: number, end: number): { groups: Group[]; tail: boolean } {
  const groups: Group[] = [];
  let i = start;
  let sep = '';
  while (i < end) {
    const gs = i;
    while (i < end && isDigitCode(text.charCodeAt(i))) i++;
    groups.push({ start: gs, end: i, sep });
    if (i < end) sep = text[i++]!;
  }
  const before = text[start - 1];
  const gluedBefore = gluedAt(text, start - 1, -1);
  const gluedAfter = gluedAt(text, end, 1);
  // A decimal point makes the neighbouring group a fraction; a comma is a field separator ("1,4111…" in CSV).
  if (gluedBefore || before === '+' || (before === '.' && isDigitCode(text.charCodeAt(start - 2)))) {
    groups.shift();
  }
  const after = text[end];
  if (gluedAfter || (after === '.' && isDigitCode(text.charCodeAt(end + 1)))) {
    groups.pop();
  }
  return { groups, tail: gluedBefore || gluedAfter };
}

function scanRun(text: string, start: number, end: number, emit: Emit): void {
  const { groups, tail } = runGroups(text, start, end);
  const n = groups.length;
  if (n === 0 || tail) return;
  let coveredTo = -1;
  // Longest window anchored at the start ("4111 1111 1111 1111 12/27"), then at the end ("Ref 12 4111 …").
  for (let to = Math.min(n - 1, 4); to >= 0; to--) {
    const digits = windowDigits(text, groups, 0, to);
    if (digits) {
      emit('pci.card', digits, groups[0]!.start, groups[to]!.end);
      coveredTo = to;
      break;
    }
  }
  for (let from = Math.max(coveredTo + 1, n - 5, 1); from < n; from++) {
    const digits = windowDigits(text, groups, from, n - 1);
    if (digits) {
      emit('pci.card', digits, groups[from]!.start, groups[n - 1]!.end);
      return;
    }
  }
  // An unformatted number standing alone inside a longer run ("Order 17 4111111111111111 paid").
  for (let i = Math.max(coveredTo + 1, 1); i < n - 1; i++) {
    const g = groups[i]!;
    if (g.end - g.start < 13) continue;
    const digits = text.slice(g.start, g.end);
    if (isCardNumber(digits)) emit('pci.card', digits, g.start, g.end);
  }
}

/** The `pci.card` detector. */
export function cardDetector(): DetectorFamily {
  return {
    rules: ['pci.card'],
    scan(text, emit) {
      LONG.lastIndex = 0;
      let m: RegExpExecArray | null;
      while ((m = LONG.exec(text)) !== null) {
        // Back to where the run holding it starts (a digit, or a separator between digits, continues it).
        let start = m.index;
        for (;;) {
          const before = text.charCodeAt(start - 1);
          if (isDigitCode(before)) start--;
          else if ((before === 0x20 || before === 0x2d) && isDigitCode(text.charCodeAt(start - 2)))
            start -= 2;
          else break;
        }
        RUN.lastIndex = start;
        const run = RUN.exec(text)!;
        const end = start + run[0].length;
        scanRun(text, start, end, emit);
        LONG.lastIndex = end;
      }
    },
  };
}
