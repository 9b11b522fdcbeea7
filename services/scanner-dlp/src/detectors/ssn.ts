/**
 * US Social Security numbers. `AAA-GG-SSSS` counts on its own; space-separated or unformatted nine-digit numbers
 * only near a word such as "SSN" or "social security", since phone and account numbers look the same.
 */
import type { DetectorFamily } from './types.js';

/** Published or advertised numbers that are not anyone's SSN. */
const TEST_NUMBERS = new Set(['078051120', '219099999', '123456789', '987654320']);

/** True when the SSA never issues the number: area 000, 666, 900–999; group 00; serial 0000. */
export function ssnStructurallyValid(area: string, group: string, serial: string): boolean {
  const a = Number(area);
  return a !== 0 && a !== 666 && a < 900 && group !== '00' && serial !== '0000';
}

/** Whether `digits` (nine) is a plausible SSN; `excludeTestNumbers` also drops well-known example numbers. */
export function isSsn(digits: string, excludeTestNumbers = true): boolean {
  if (!/^\d{9}$/.test(digits)) return false;
  if (!ssnStructurallyValid(digits.slice(0, 3), digits.slice(3, 5), digits.slice(5))) return false;
  // All one digit (111-11-1111) is a placeholder.
  if (excludeTestNumbers && (TEST_NUMBERS.has(digits) || /^(\d)\1{8}$/.test(digits))) return false;
  return true;
}

const DASHED = /(?<![\w-])(\d{3})-(\d{2})-(\d{4})(?![\w-]|[.,]\d)/g;
const LOOSE = /(?<![\w-])(\d{3})( ?)(\d{2})\2(\d{4})(?![\w-]|[.,]\d)/g;
const CONTEXT = /\b(?:ssn|ss#|ssan|social security|soc\.? ?sec\.?)/gi;
/** Characters either side of a loose candidate searched for a context word. */
const CONTEXT_WINDOW = 80;

/** The `us.ssn` detector. */
export function ssnDetector(options: { excludeTestNumbers: boolean }): DetectorFamily {
  return {
    rules: ['us.ssn'],
    scan(text, emit) {
      DASHED.lastIndex = 0;
      let m: RegExpExecArray | null;
      while ((m = DASHED.exec(text)) !== null) {
        const digits = m[1]! + m[2]! + m[3]!;
        if (isSsn(digits, options.excludeTestNumbers)) emit('us.ssn', digits, m.index, m.index + m[0].length);
      }
      const anchors: number[] = [];
      CONTEXT.lastIndex = 0;
      while ((m = CONTEXT.exec(text)) !== null) anchors.push(m.index);
      if (anchors.length === 0) return;
      let a = 0;
      LOOSE.lastIndex = 0;
      while ((m = LOOSE.exec(text)) !== null) {
        const start = m.index;
        const end = start + m[0].length;
        while (a < anchors.length && anchors[a]! < start - CONTEXT_WINDOW) a++;
        const anchor = anchors[a];
        if (anchor === undefined || anchor > end + CONTEXT_WINDOW) continue;
        const digits = m[1]! + m[3]! + m[4]!;
        if (isSsn(digits, options.excludeTestNumbers)) emit('us.ssn', digits, start, end);
      }
    },
  };
}
