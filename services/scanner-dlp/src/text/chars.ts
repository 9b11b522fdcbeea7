/** Small character helpers shared by detectors. */

const WORD = /[\p{L}\p{N}_]/u;

/** True when `ch` is a letter, digit or underscore in any script. */
export function isWordChar(ch: string | undefined): boolean {
  return ch !== undefined && WORD.test(ch);
}

/** True for ASCII letters, digits and underscore. */
export function isAsciiWordCode(code: number): boolean {
  return (code >= 48 && code <= 57) || (code >= 65 && code <= 90) || (code >= 97 && code <= 122) || code === 95;
}

/** True for ASCII digits. */
export function isDigitCode(code: number): boolean {
  return code >= 48 && code <= 57;
}

/**
 * Shannon entropy in bits per character. Placeholders (`XXXX…`, `aaaa…`) score near 0, random tokens near
 * log2(alphabet); detectors use it to drop the former.
 */
export function shannonEntropy(s: string): number {
  if (s.length === 0) return 0;
  const counts = new Map<number, number>();
  for (let i = 0; i < s.length; i++) {
    const c = s.charCodeAt(i);
    counts.set(c, (counts.get(c) ?? 0) + 1);
  }
  let h = 0;
  for (const n of counts.values()) {
    const p = n / s.length;
    h -= p * Math.log2(p);
  }
  return h;
}

/** Escapes a literal for use inside a JavaScript `u`-flag regular expression. */
export function escapeRegExp(s: string): string {
  return s.replace(/[\\^$.*+?()[\]{}|/]/g, '\\$&');
}
