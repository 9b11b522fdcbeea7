import { describe, expect, it } from 'vitest';
import { Value } from '@sinclair/typebox/value';
import {
  DlpConfigSchema,
  DlpEngine,
  resolveDlpConfig,
  validateDlpRules,
  type DlpScannerConfig,
} from '@hookgate/scanner-dlp';

const withRules = (rules: unknown[], rest: object = {}) =>
  new DlpEngine(resolveDlpConfig({ ...rest, rules }));
const counts = (e: DlpEngine, text: string) =>
  Object.fromEntries(e.scanText(text).findings.map((f) => [f.rule, f.count]));

/** The config error's problem list, for assertions. */
function problemsOf(fn: () => unknown): Array<{ path: string; reason: string }> {
  try {
    fn();
  } catch (err) {
    expect((err as { code?: string }).code).toBe('HOOKGATE_ERR_CONFIG_INVALID');
    return (err as { problems: Array<{ path: string; reason: string }> }).problems;
  }
  throw new Error('expected a config error');
}

describe('operator rules: regex', () => {
  it('matches RE2 patterns and counts distinct matches', () => {
    const e = withRules([{ id: 'corp.employee-id', pattern: '\\bEMP-\\d{6}\\b' }]);
    expect(counts(e, 'EMP-123456, EMP-123456 and EMP-654321; not XEMP-111111 or EMP-1234567')).toEqual({
      'corp.employee-id': 2,
    });
  });

  it('supports case-insensitive matching and counting every occurrence', () => {
    const e = withRules([
      { id: 'corp.codename', pattern: 'project\\s+falcon', caseInsensitive: true, unique: false },
    ]);
    expect(counts(e, 'Project Falcon, PROJECT  FALCON and project falcon')).toEqual({ 'corp.codename': 3 });
  });

  it('applies minCount', () => {
    const e = withRules([{ id: 'corp.account', pattern: '\\bACC\\d{8}\\b', minCount: 3 }]);
    expect(counts(e, 'ACC00000001 ACC00000002')).toEqual({});
    expect(counts(e, 'ACC00000001 ACC00000002 ACC00000003')).toEqual({ 'corp.account': 3 });
  });

  it('requires a context word within N characters when configured', () => {
    const e = withRules([
      { id: 'corp.patient', pattern: '\\b\\d{7}\\b', context: { words: ['patient', 'MRN'], within: 20 } },
    ]);
    expect(counts(e, 'Patient id 1234567')).toEqual({ 'corp.patient': 1 });
    expect(counts(e, '1234567 is the mrn')).toEqual({ 'corp.patient': 1 });
    expect(counts(e, `Patient list follows.${'.'.repeat(40)} order 1234567`)).toEqual({});
    // Whole words only: "outpatients" is not "patient".
    expect(counts(e, 'outpatients 1234567')).toEqual({});
  });

  it('stays linear on patterns that make backtracking engines explode', () => {
    const e = withRules([{ id: 'redos', pattern: '(a+)+$' }]);
    const started = performance.now();
    expect(counts(e, `${'a'.repeat(30_000)}!`)).toEqual({});
    expect(performance.now() - started).toBeLessThan(5_000);
  });
});

describe('operator rules: keyword dictionaries', () => {
  it('matches whole words case-insensitively, in any script', () => {
    const e = withRules([
      { id: 'corp.confidential', keywords: ['confidential', 'Vertraulich', 'confidentialité', 'секретно'] },
    ]);
    expect(counts(e, 'CONFIDENTIAL: streng vertraulich. Niveau: Confidentialité; гриф Секретно')).toEqual({
      'corp.confidential': 4,
    });
    expect(counts(e, 'nonconfidential, confidentiality, vertraulicher')).toEqual({});
  });

  it('matches multi-word entries across whitespace', () => {
    const e = withRules([{ id: 'corp.project', keywords: ['project falcon', 'top-secret'], unique: false }]);
    expect(counts(e, 'Project\n  Falcon is TOP-SECRET; project falconry is not')).toEqual({
      'corp.project': 2,
    });
  });

  it('combines with context, minCount and severity', () => {
    const e = withRules([
      {
        id: 'corp.merger',
        keywords: ['acme', 'globex', 'initech'],
        minCount: 2,
        severity: 'high',
        context: { words: ['merger', 'acquisition'], within: 40 },
      },
    ]);
    expect(e.scanText('Merger talks: Acme and Globex').findings).toEqual([
      { rule: 'corp.merger', count: 2, severity: 'high' },
    ]);
    expect(e.scanText('Acme and Globex lunch').findings).toEqual([]);
    expect(e.scanText('Merger talks: Acme only').findings).toEqual([]);
  });

  it('can be disabled', () => {
    const e = withRules([{ id: 'corp.x', keywords: ['secret'], enabled: false }]);
    expect(e.ruleIds).not.toContain('corp.x');
    expect(counts(e, 'secret')).toEqual({});
  });
});

describe('rule validation', () => {
  it('rejects invalid RE2 patterns at config time, with the rule path', () => {
    const problems = problemsOf(() =>
      resolveDlpConfig({
        rules: [
          { id: 'ok', pattern: 'fine\\d+' },
          { id: 'bad-paren', pattern: '(unclosed' },
          { id: 'lookahead', pattern: 'foo(?=bar)' },
          { id: 'backref', pattern: '(a)\\1' },
          { id: 'empty', pattern: 'x*' },
        ],
      }),
    );
    expect(problems.map((p) => p.path)).toEqual([
      'rules.1.pattern',
      'rules.2.pattern',
      'rules.3.pattern',
      'rules.4.pattern',
    ]);
    expect(problems[0]!.reason).toMatch(/invalid RE2 regex: .*missing closing \)/);
    expect(problems[3]!.reason).toBe('matches the empty string');
  });

  it('rejects ids that clash, rules with both or neither of pattern and keywords, and bad keywords', () => {
    const problems = problemsOf(() =>
      resolveDlpConfig({
        rules: [
          { id: 'pci.card', pattern: 'x' },
          { id: 'dup', pattern: 'a' },
          { id: 'dup', keywords: ['b'] },
          { id: 'both', pattern: 'a', keywords: ['b'] },
          { id: 'neither' },
          { id: 'kw', keywords: ['ok', '***'], context: { words: [' '] } },
        ],
      }),
    );
    expect(problems).toEqual([
      { path: 'rules.0.id', reason: "'pci.card' is a built-in rule id; configure it under detectors" },
      { path: 'rules.2.id', reason: "duplicate rule id 'dup'" },
      { path: 'rules.3', reason: 'set exactly one of pattern or keywords' },
      { path: 'rules.4', reason: 'set exactly one of pattern or keywords' },
      { path: 'rules.5.keywords.1', reason: 'keyword must start with a letter, digit or underscore' },
      { path: 'rules.5.context.words.0', reason: 'context word is empty' },
    ]);
  });

  it('validateDlpRules lists problems for a loader, with an optional key prefix', () => {
    const config = Value.Default(DlpConfigSchema, { rules: [{ id: 'r', pattern: '[' }] }) as DlpScannerConfig;
    expect(validateDlpRules(config, 'scanners.dlp')).toEqual([
      {
        path: 'scanners.dlp.rules.0.pattern',
        reason: expect.stringMatching(/^invalid RE2 regex/) as unknown as string,
      },
    ]);
    expect(validateDlpRules(resolveDlpConfig({}))).toEqual([]);
  });

  it('DlpEngine refuses an unvalidated config with bad rules', () => {
    const config = Value.Default(DlpConfigSchema, { rules: [{ id: 'r', pattern: '(' }] }) as DlpScannerConfig;
    expect(problemsOf(() => new DlpEngine(config))).toHaveLength(1);
  });
});

describe('config schema', () => {
  it('accepts {} and fills every default', () => {
    const config = resolveDlpConfig({});
    expect(config.stages).toEqual(['data']);
    expect(config.enforce).toEqual({
      outbound: 'reject',
      inbound: 'advisory',
      minSeverity: { outbound: 'low', inbound: 'low' },
    });
    expect(config.header).toEqual({ name: 'X-Hookgate-DLP' });
    expect(config.reply).toEqual({
      code: 550,
      enhanced: '5.7.1',
      text: 'Message blocked by data loss prevention policy ({rules})',
    });
    expect(config.limits).toEqual({
      maxMessageBytes: 52_428_800,
      maxTextBytes: 10_485_760,
      maxParts: 500,
      maxDepth: 5,
    });
    expect(config.notInspected).toBe('report');
    expect(config.detectors['pci.card']).toEqual({ enabled: true, severity: 'high', minCount: 1 });
    expect(config.detectors['us.ssn'].excludeTestNumbers).toBe(true);
    expect(config.rules).toEqual([]);
    expect(Value.Check(DlpConfigSchema, config)).toBe(true);
  });

  it('lists every schema problem at once', () => {
    const problems = problemsOf(() =>
      resolveDlpConfig({
        stages: ['rcpt'],
        enforce: { outbound: 'explode' },
        limits: { maxTextBytes: 10 },
        rules: [{ id: 'Bad Id!', pattern: 'x' }],
      }),
    );
    expect(problems.map((p) => p.path).sort()).toEqual([
      'enforce.outbound',
      'limits.maxTextBytes',
      'rules.0.id',
      'stages.0',
    ]);
  });

  it('converts scalar strings from the environment', () => {
    expect(resolveDlpConfig({ limits: { maxParts: '10' } }).limits.maxParts).toBe(10);
  });
});
