/**
 * Operator rules: RE2 regexes (linear time, so an operator's pattern cannot stall a worker) and keyword
 * dictionaries. Validation lists every problem; compilation assumes a validated config.
 */
import { RE2JS, RE2Set } from 're2js';
import type { DlpConfigProblem, OperatorRule } from './config.js';
import type { DetectorFamily } from './detectors/types.js';
import { KeywordMatcher, keywordProblem } from './text/keywords.js';
import { errorMessage } from '@hookgate/contracts';

function compileRegex(rule: Pick<OperatorRule, 'pattern' | 'caseInsensitive'>): RE2JS {
  return RE2JS.compile(rule.pattern!, rule.caseInsensitive ? RE2JS.CASE_INSENSITIVE : 0);
}

/** Problems with operator rules, with paths like `rules.2.pattern`. `reserved` holds the built-in rule ids. */
export function validateOperatorRules(
  rules: readonly OperatorRule[],
  reserved: ReadonlySet<string>,
): DlpConfigProblem[] {
  const problems: DlpConfigProblem[] = [];
  const seen = new Set<string>();
  rules.forEach((rule, i) => {
    const at = `rules.${i}`;
    if (reserved.has(rule.id))
      problems.push({
        path: `${at}.id`,
        reason: `'${rule.id}' is a built-in rule id; configure it under detectors`,
      });
    else if (seen.has(rule.id)) problems.push({ path: `${at}.id`, reason: `duplicate rule id '${rule.id}'` });
    seen.add(rule.id);
    const hasPattern = rule.pattern !== undefined;
    const hasKeywords = rule.keywords !== undefined;
    if (hasPattern === hasKeywords) {
      problems.push({ path: at, reason: 'set exactly one of pattern or keywords' });
    }
    if (hasPattern) {
      try {
        const re = compileRegex(rule);
        if (re.matches('')) problems.push({ path: `${at}.pattern`, reason: 'matches the empty string' });
      } catch (err) {
        // RE2 rejects backreferences and lookarounds; the message names the construct.
        problems.push({ path: `${at}.pattern`, reason: `invalid RE2 regex: ${errorMessage(err)}` });
      }
    }
    rule.keywords?.forEach((k, j) => {
      const why = keywordProblem(k);
      if (why) problems.push({ path: `${at}.keywords.${j}`, reason: `keyword ${why}` });
    });
    rule.context?.words.forEach((k, j) => {
      const why = keywordProblem(k);
      if (why) problems.push({ path: `${at}.context.words.${j}`, reason: `context word ${why}` });
    });
  });
  return problems;
}

/**
 * Operator rules as detector families: one per dictionary, and one for all regexes together. An RE2Set pass
 * (one DFA over the text) first tells which regexes match at all; only those then run their matcher, which is
 * much slower for patterns without a literal prefix. Most mail matches no operator rule.
 */
export function operatorRuleFamilies(rules: readonly OperatorRule[]): DetectorFamily[] {
  const families: DetectorFamily[] = [];
  const regexRules = rules.filter((r) => r.pattern !== undefined);
  for (const rule of rules) {
    if (!rule.keywords) continue;
    const matcher = new KeywordMatcher(rule.keywords);
    const id = rule.id;
    families.push({
      rules: [id],
      scan: (text, emit) => matcher.forEach(text, (key, start, end) => emit(id, key, start, end)),
    });
  }
  if (regexRules.length > 0) families.push(regexFamily(regexRules));
  return families;
}

function regexFamily(rules: readonly OperatorRule[]): DetectorFamily {
  const compiled = rules.map((r) => ({ id: r.id, re: compileRegex(r), fold: r.caseInsensitive }));
  const set = new RE2Set(RE2Set.UNANCHORED);
  // A leading (?i) covers the whole pattern, alternatives included.
  for (const r of rules) set.add(r.caseInsensitive ? `(?i)${r.pattern!}` : r.pattern!);
  set.compile();
  return {
    rules: compiled.map((c) => c.id),
    scan(text, emit) {
      for (const i of set.match(text) as number[]) {
        const { id, re, fold } = compiled[i]!;
        const m = re.matcher(text);
        while (m.find()) {
          const start = m.start();
          const end = m.end();
          if (end > start)
            emit(id, fold ? text.slice(start, end).toLowerCase() : text.slice(start, end), start, end);
        }
      }
    },
  };
}
