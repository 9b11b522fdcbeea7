/** Small character helpers shared by detectors. */

const WORD = /[\p{L}\p{N}_]/u;

/** True when `ch` is a letter, digit or underscore in any script. */
export function isWordChar(ch: string | undefined): boolean {
  return ch !== undefined && WORD.test(ch);
}

/** True for ASCII letters, digits and underscore. */
export function isAsciiWordCode(code: number): boolean {
  return (
    (code >= 48 && code <= 57) || (code >= 65 && code <= 90) || (code >= 97 && code <= 122) || code === 95
  );
}

/** True for ASCII digits. */
export function isDigitCode(code: number): boolean {
  return code >= 48 && code <= 57;
}

/** Per-character counts and first-occurrence order for ASCII input, reused across calls (always left zeroed). */
const COUNTS = new Int32Array(128);
const ORDER = new Uint8Array(128);

/**
 * Shannon entropy in bits per character. Placeholders (`XXXX…`, `aaaa…`) score near 0, random tokens near
 * log2(alphabet); detectors use it to drop the former. Candidates are short ASCII tokens, counted in a reused
 * array; terms are summed in first-occurrence order either way, so both paths give bit-identical results.
 */
export function shannonEntropy(s: string): number {
  const n = s.length;
  if (n === 0) return 0;
  let distinct = 0;
  for (let i = 0; i < n; i++) {
    const c = s.charCodeAt(i);
    if (c >= 128) {
      for (let k = 0; k < distinct; k++) COUNTS[ORDER[k]!] = 0;
      return entropyOfAny(s);
    }
    if (COUNTS[c]!++ === 0) ORDER[distinct++] = c;
  }
  let h = 0;
  for (let k = 0; k < distinct; k++) {
    const c = ORDER[k]!;
    const p = COUNTS[c]! / n;
    h -= p * Math.log2(p);
    COUNTS[c] = 0;
  }
  return h;
}

function entropyOfAny(s: string): number {
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
