/**
 * Case-insensitive whole-word dictionary matching in one pass: the text is split into words once and each word is
 * looked up in a set, so the cost does not grow with the size of the dictionary. Multi-word entries are confirmed
 * with a small sticky pattern at the position of their first word.
 */
import { escapeRegExp, isWordChar } from './chars.js';

const TOKEN_SOURCE = '[\\p{L}\\p{N}_]+';
const FIRST_TOKEN = new RegExp(`^${TOKEN_SOURCE}`, 'u');
const ONE_TOKEN = new RegExp(`^${TOKEN_SOURCE}$`, 'u');

interface Phrase {
  key: string;
  re: RegExp;
  /** The entry ends with a word character, so the text must not continue the word. */
  wordEnd: boolean;
}

/** Called for each whole-word occurrence; `key` is the lower-cased entry. Returning true stops the scan. */
export type KeywordHit = (key: string, start: number, end: number) => boolean | void;

/** A compiled keyword dictionary. */
export class KeywordMatcher {
  readonly #words = new Set<string>();
  readonly #phrases = new Map<string, Phrase[]>();
  // Per instance: a context check may run while another matcher is mid-scan.
  readonly #token = new RegExp(TOKEN_SOURCE, 'gu');

  /** `entries` must each start with a letter, digit or underscore (see `keywordProblem`). */
  constructor(entries: readonly string[]) {
    for (const raw of entries) {
      const entry = raw.trim();
      const lower = entry.toLowerCase();
      if (ONE_TOKEN.test(entry)) {
        this.#words.add(lower);
        continue;
      }
      const first = FIRST_TOKEN.exec(lower)?.[0];
      if (!first) continue;
      const source = entry
        .split(/\s+/)
        .map((part) => escapeRegExp(part))
        .join('\\s+');
      const list = this.#phrases.get(first) ?? [];
      list.push({
        key: lower.replace(/\s+/g, ' '),
        re: new RegExp(source, 'iuy'),
        wordEnd: isWordChar(entry.at(-1)),
      });
      this.#phrases.set(first, list);
    }
  }

  /** Calls `onHit` for every occurrence starting in `[from, to)`. */
  forEach(text: string, onHit: KeywordHit, from = 0, to = text.length): void {
    const token = this.#token;
    // Lower-casing a whole text once is much cheaper than once per word; only when no character changes length,
    // since offsets must stay valid. Small windows (context checks) lower-case word by word.
    let folded: string | undefined;
    if (from === 0 && to === text.length && text.length > 256) {
      const lower = text.toLowerCase();
      if (lower.length === text.length) folded = lower;
    }
    const source = folded ?? text;
    token.lastIndex = from;
    // Starting inside a word would match its tail.
    if (from > 0 && isWordChar(text[from - 1]) && isWordChar(text[from])) {
      token.exec(source);
    }
    let m: RegExpExecArray | null;
    while ((m = token.exec(source)) !== null && m.index < to) {
      const lower = folded ? m[0] : m[0].toLowerCase();
      if (this.#words.has(lower) && onHit(lower, m.index, m.index + m[0].length) === true) return;
      const phrases = this.#phrases.get(lower);
      if (phrases && this.#phrasesAt(text, m.index, phrases, onHit)) return;
    }
  }

  /** True when an entry occurs starting in `[from, to)`. */
  any(text: string, from: number, to: number): boolean {
    let found = false;
    this.forEach(text, () => (found = true), from, to);
    return found;
  }

  /** Confirms multi-word entries at one position; true when `onHit` asked to stop. */
  #phrasesAt(text: string, at: number, phrases: readonly Phrase[], onHit: KeywordHit): boolean {
    for (const p of phrases) {
      p.re.lastIndex = at;
      const m = p.re.exec(text);
      if (!m) continue;
      const end = at + m[0].length;
      if (p.wordEnd && isWordChar(text[end])) continue;
      if (onHit(p.key, at, end) === true) return true;
    }
    return false;
  }
}

/** Why an entry cannot be a keyword, or undefined when it can. */
export function keywordProblem(entry: string): string | undefined {
  const e = entry.trim();
  if (e.length === 0) return 'is empty';
  if (!isWordChar(e[0])) return 'must start with a letter, digit or underscore';
  return undefined;
}
