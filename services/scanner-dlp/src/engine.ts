/**
 * The DLP engine: runs every detector family over each piece of text a message yields and tallies distinct
 * matches per rule. Matched values stay inside a scan; reports carry rule ids and counts only.
 */
import { setImmediate as yieldToLoop } from 'node:timers/promises';
import { ERR, HookgateError, errorCode, errorMessage, errorSpec } from '@hookgate/contracts';
import type { DlpScannerConfig, Severity } from './config.js';
import { dlpConfigError, validateDlpRules } from './validate.js';
import { builtinDetectors } from './detectors/index.js';
import { BUILTIN_RULES, type DetectorFamily, type Emit } from './detectors/types.js';
import { htmlToPlainText } from './html.js';
import type { NotInspected } from './mime/classify.js';
import { walkMessage } from './mime/walk.js';
import { operatorRuleFamilies } from './rules.js';
import { KeywordMatcher } from './text/keywords.js';

/** One rule that was hit: its id, how many distinct values (or occurrences) and its severity. Never the values. */
export interface DlpFinding {
  rule: string;
  count: number;
  severity: Severity;
}

/** What one inspection found. */
export interface DlpReport {
  /** Rules hit at least `minCount` times, built-in rules first, then operator rules in config order. */
  findings: DlpFinding[];
  /** Parts or text that were not read, by type; empty when everything was inspected. */
  notInspected: NotInspected[];
  /** Characters of decoded text scanned. */
  textChars: number;
  /** MIME leaf parts visited (0 for plain text). */
  parts: number;
}

/** Options for one inspection. */
export interface InspectOptions {
  /** Checked between parts and between detector passes; an abort rejects with the signal's reason. */
  signal?: AbortSignal;
}

interface RuleState {
  id: string;
  severity: Severity;
  minCount: number;
  unique: boolean;
  context?: { matcher: KeywordMatcher; within: number };
}

/** Text longer than this is scanned in slices, so a scan can yield to the event loop and notice an abort. */
const CHUNK_CHARS = 1 << 20;
/** Overlap read on each side of a slice; matches are counted only in the slice where they start. */
const CHUNK_MARGIN = 16_384;
/** Distinct values remembered per rule; counts stop growing past it. */
const MAX_DISTINCT = 10_000;
/** Run this long without yielding, then give timers (the deadline) a chance. */
const SLICE_MS = 10;
/** Texts up to this length are scanned in one go, without looking at the clock in between (well under a millisecond). */
const SHORT_TEXT = 16_384;
const PGP_MESSAGE = '-----BEGIN PGP MESSAGE-----';

/**
 * The built-in DLP engine, independent of the scanner plugin (the benchmark drives it directly). Construct once
 * per config: it compiles operator rules and throws a `HOOKGATE_ERR_CONFIG_INVALID` HookgateError for bad ones.
 */
export class DlpEngine {
  readonly #families: DetectorFamily[];
  readonly #rules = new Map<string, RuleState>();
  readonly #limits: DlpScannerConfig['limits'];
  readonly #margin: number;

  constructor(config: DlpScannerConfig) {
    const problems = validateDlpRules(config);
    if (problems.length > 0) throw dlpConfigError(problems);
    this.#limits = config.limits;
    let widest = 0;
    for (const id of BUILTIN_RULES) {
      const d = config.detectors[id];
      if (d.enabled)
        this.#addRule({ id, severity: d.severity, minCount: d.minCount, unique: true, context: d.context });
      widest = Math.max(widest, d.context?.within ?? 0);
    }
    this.#families = builtinDetectors(config.detectors);
    const operatorRules = config.rules.filter((r) => r.enabled);
    for (const rule of operatorRules) {
      this.#addRule(rule);
      widest = Math.max(widest, rule.context?.within ?? 0);
    }
    this.#families.push(...operatorRuleFamilies(operatorRules));
    this.#margin = CHUNK_MARGIN + widest;
  }

  /** Ids of the enabled rules, in report order. */
  get ruleIds(): string[] {
    return [...this.#rules.keys()];
  }

  #addRule(r: {
    id: string;
    severity: Severity;
    minCount: number;
    unique: boolean;
    context?: { words: string[]; within: number } | undefined;
  }): void {
    this.#rules.set(r.id, {
      id: r.id,
      severity: r.severity,
      minCount: r.minCount,
      unique: r.unique,
      ...(r.context
        ? { context: { matcher: new KeywordMatcher(r.context.words), within: r.context.within } }
        : {}),
    });
  }

  /** Scans plain text (no MIME), synchronously, within `limits.maxTextBytes`. */
  scanText(text: string): DlpReport {
    const tally = new Tally(this.#rules, this.#limits.maxTextBytes);
    const steps = this.#scan(tally, text);
    while (steps && !steps.next().done) {
      // Nothing to interleave when synchronous.
    }
    return tally.report(0, []);
  }

  /**
   * Parses a raw RFC 5322 message and scans every readable part. Rejects with the signal's reason on abort, and
   * with a HookgateError (`HOOKGATE_ERR_SCAN_ENGINE_ERROR`) when the message cannot be processed: never a clean
   * report for a message that was not read.
   */
  async inspectMessage(raw: Uint8Array, options: InspectOptions = {}): Promise<DlpReport> {
    const { signal } = options;
    signal?.throwIfAborted();
    const tally = new Tally(this.#rules, this.#limits.maxTextBytes);
    const state = { parts: 0, notInspected: [] as NotInspected[] };
    // Parsing and scanning are synchronous; the loop yields only once per SLICE_MS (or on abort), so a small
    // message costs no event-loop round trip at all. The clock is read once per segment and, for long texts,
    // once per detector pass.
    let since = performance.now();
    const due = (): boolean => signal?.aborted === true || performance.now() - since > SLICE_MS;
    const pause = async (): Promise<void> => {
      await yieldToLoop();
      since = performance.now();
      signal?.throwIfAborted();
    };
    try {
      const walk = walkMessage(
        raw,
        { maxParts: this.#limits.maxParts, maxDepth: this.#limits.maxDepth, budget: () => tally.remaining() },
        state,
      );
      for (const segment of walk) {
        if (due()) await pause();
        const text = segment.kind === 'html' ? this.#htmlText(segment.html, tally) : segment.text;
        const steps = this.#scan(tally, text);
        while (steps && !steps.next().done) if (due()) await pause();
      }
    } catch (err) {
      if (signal?.aborted) throw signal.reason;
      if (errorSpec(errorCode(err))) throw err;
      // Walker errors describe structure, not content; keep them for the operator.
      throw new HookgateError(ERR.SCAN_ENGINE_ERROR, `DLP inspection failed: ${errorMessage(err)}`, {
        cause: err,
      });
    }
    return tally.report(state.parts, state.notInspected);
  }

  /** HTML converted to text; its input is bounded at 8× the remaining budget (text is rarely under 1/8 of it). */
  #htmlText(html: string, tally: Tally): string {
    const maxHtml = Math.max(0, tally.remaining()) * 8;
    if (html.length > maxHtml) tally.note({ type: 'text-limit', reason: 'too-large' });
    return htmlToPlainText(html.length > maxHtml ? html.slice(0, maxHtml) : html);
  }

  /**
   * Scans one piece of text within the budget. Short text is scanned at once (well under a millisecond); long
   * text is returned as steps, one per (slice, family) pass, so the caller can pause or abort between them.
   */
  #scan(tally: Tally, input: string): Generator<void> | undefined {
    const text = tally.take(input);
    if (text.length === 0) return undefined;
    if (text.includes(PGP_MESSAGE)) tally.note({ type: 'application/pgp-encrypted', reason: 'encrypted' });
    if (text.length > SHORT_TEXT) return this.#steps(tally, text);
    const emit = tally.emitter(text, 0, text.length);
    for (const family of this.#families) family.scan(text, emit);
    return undefined;
  }

  *#steps(tally: Tally, text: string): Generator<void> {
    for (let lo = 0; lo < text.length;) {
      const hi = sliceEnd(text, lo);
      const offset = Math.max(0, lo - this.#margin);
      const slice =
        hi - lo === text.length ? text : text.slice(offset, Math.min(text.length, hi + this.#margin));
      const emit = tally.emitter(slice, lo - offset, hi - offset);
      for (const family of this.#families) {
        family.scan(slice, emit);
        yield;
      }
      lo = hi;
    }
  }
}

/** Where the slice starting at `lo` ends: at a line break near CHUNK_CHARS when there is one. */
function sliceEnd(text: string, lo: number): number {
  if (text.length - lo <= CHUNK_CHARS) return text.length;
  const nl = text.lastIndexOf('\n', lo + CHUNK_CHARS);
  return nl > lo + CHUNK_CHARS / 2 ? nl + 1 : lo + CHUNK_CHARS;
}

/** No-break spaces become spaces, typographic dashes dashes, invisible characters nothing. */
const ODD = /[\u00a0\u00ad\u2007\u2010-\u2013\u200b-\u200d\u202f\u2060\ufeff]/;
const ODD_ALL = new RegExp(ODD.source, 'g');
function plain(c: string): string {
  const code = c.charCodeAt(0);
  if (code === 0xa0 || code === 0x2007 || code === 0x202f) return ' ';
  return code >= 0x2010 && code <= 0x2013 ? '-' : '';
}

/**
 * No-break spaces (HTML `&nbsp;`) and typographic dashes become plain ones, and invisible characters go, so
 * "4111&nbsp;1111…" or a zero-width space inside a token reads as it displays. One pass, called per match.
 */
function normalise(text: string): string {
  return ODD.test(text) ? text.replace(ODD_ALL, plain) : text;
}

/** Per-inspection counters: distinct values per rule, the text budget and what was not inspected. */
class Tally {
  readonly #rules: ReadonlyMap<string, RuleState>;
  readonly #distinct = new Map<string, Set<string>>();
  readonly #counts = new Map<string, number>();
  readonly #notInspected: NotInspected[] = [];
  #remaining: number;
  #chars = 0;

  constructor(rules: ReadonlyMap<string, RuleState>, maxChars: number) {
    this.#rules = rules;
    this.#remaining = maxChars;
  }

  remaining(): number {
    return this.#remaining;
  }

  /** The part of `text` the budget allows, normalised; notes the limit when it cuts. */
  take(text: string): string {
    text = normalise(text);
    if (text.length > this.#remaining) {
      this.note({ type: 'text-limit', reason: 'too-large' });
      text = text.slice(0, Math.max(0, this.#remaining));
    }
    this.#remaining -= text.length;
    this.#chars += text.length;
    return text;
  }

  note(item: NotInspected): void {
    if (!this.#notInspected.some((n) => n.type === item.type && n.reason === item.reason))
      this.#notInspected.push(item);
  }

  /** An Emit for `slice` that counts matches starting in `[lo, hi)` and passing the rule's context check. */
  emitter(slice: string, lo: number, hi: number): Emit {
    return (rule, key, start, end) => {
      const r = this.#rules.get(rule);
      if (!r || start < lo || start >= hi) return;
      if (
        r.context &&
        !r.context.matcher.any(
          slice,
          Math.max(0, start - r.context.within),
          Math.min(slice.length, end + r.context.within),
        )
      )
        return;
      if (!r.unique) {
        this.#counts.set(rule, (this.#counts.get(rule) ?? 0) + 1);
        return;
      }
      let set = this.#distinct.get(rule);
      if (!set) this.#distinct.set(rule, (set = new Set()));
      if (set.size < MAX_DISTINCT) set.add(key);
    };
  }

  report(parts: number, walkNotInspected: readonly NotInspected[]): DlpReport {
    const findings: DlpFinding[] = [];
    for (const r of this.#rules.values()) {
      const count = r.unique ? (this.#distinct.get(r.id)?.size ?? 0) : (this.#counts.get(r.id) ?? 0);
      if (count > 0 && count >= r.minCount) findings.push({ rule: r.id, count, severity: r.severity });
    }
    for (const n of walkNotInspected) this.note(n);
    return { findings, notInspected: [...this.#notInspected], textChars: this.#chars, parts };
  }
}
