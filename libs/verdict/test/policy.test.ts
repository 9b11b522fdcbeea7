import { describe, expect, it } from 'vitest';
import {
  DEFAULT_SEVERITY,
  type PolicyBank,
  type PolicyRule,
  type ScannerPolicy,
  type ScanOutcome,
  type ScanResult,
  type StageRequest,
} from '@hookgate/contracts';
import {
  applyOverride,
  scannerPolicy,
  compileRules,
  decide,
  selectPolicy,
  DEFAULT_REPLIES,
  PLAIN_BANK,
} from '@hookgate/verdict';
import { stageRequest } from '../../../test/support/scan-inputs.js';

const req = (over: Partial<StageRequest> = {}): StageRequest =>
  stageRequest({
    deadlineAt: 1,
    client: { ip: '203.0.113.9' },
    from: { address: 'alice@example.org' },
    to: [{ address: 'bob@corp.example' }],
    message: { size: 20_000, storedBytes: 20_000, lossy: false },
    ...over,
  });

const rules: PolicyRule[] = [
  { name: 'trusted-relays', match: { clientNetworks: ['10.0.0.0/8', '2001:db8::/32'] }, policy: 'trusted' },
  { name: 'outbound', match: { direction: 'outbound' }, policy: 'outbound' },
  {
    name: 'partner-big',
    match: { senderDomains: ['partner.example'], minSizeBytes: 1_000_000 },
    policy: 'bulk',
  },
  {
    name: 'to-legal',
    match: { recipientDomains: ['legal.corp.example'], stages: ['rcpt', 'data'] },
    policy: 'legal',
  },
  { name: 'bounces', match: { senderDomains: [''] }, policy: 'bounces' },
];
const { rules: compiled, problems } = compileRules(rules);

describe('selectPolicy: first match wins', () => {
  const table: [string, Partial<StageRequest>, string][] = [
    ['no rule matches: default', {}, 'default'],
    ['trusted relay by IPv4 network', { client: { ip: '10.1.2.3' } }, 'trusted-relays'],
    ['trusted relay by IPv6 network', { client: { ip: '2001:db8::25' } }, 'trusted-relays'],
    [
      'IPv4-mapped IPv6 address matches the IPv4 network',
      { client: { ip: '::ffff:10.9.9.9' } },
      'trusted-relays',
    ],
    ['outside the networks', { client: { ip: '11.0.0.1' } }, 'default'],
    ['authenticated sender = outbound', { auth: { login: 'alice' } }, 'outbound'],
    [
      'a trusted relay that authenticates: the earlier rule wins',
      { client: { ip: '10.0.0.1' }, auth: { login: 'alice' } },
      'trusted-relays',
    ],
    [
      'sender domain and size both hold',
      {
        from: { address: 'x@mx.partner.example' },
        message: { size: 2_000_000, storedBytes: 1, lossy: false },
      },
      'partner-big',
    ],
    ['sender domain but too small', { from: { address: 'x@partner.example' } }, 'default'],
    [
      'size unknown before data never matches a size rule',
      { stage: 'mail', from: { address: 'x@partner.example' }, message: undefined },
      'default',
    ],
    [
      'look-alike domain is not a subdomain',
      {
        from: { address: 'x@evilpartner.example' },
        message: { size: 2_000_000, storedBytes: 1, lossy: false },
      },
      'default',
    ],
    [
      'any recipient domain at data',
      { to: [{ address: 'a@x.example' }, { address: 'b@legal.corp.example' }] },
      'to-legal',
    ],
    [
      'at rcpt only the recipient being checked',
      {
        stage: 'rcpt',
        rcpt: 'a@x.example',
        to: [{ address: 'b@legal.corp.example' }, { address: 'a@x.example' }],
      },
      'default',
    ],
    [
      'stage condition excludes mail',
      { stage: 'mail', to: [{ address: 'b@legal.corp.example' }] },
      'default',
    ],
    ['null sender', { from: { address: '' } }, 'bounces'],
  ];
  it.each(table)('%s', (_name, over, want) => {
    expect(problems).toEqual([]);
    expect(selectPolicy(compiled, req(over)).rule).toBe(want);
  });

  it('reports bad networks by path instead of throwing', () => {
    expect(
      compileRules([
        { name: 'x', match: { clientNetworks: ['10.0.0.0/33', 'nope'] }, policy: 'p' },
      ]).problems.map((p) => p.path),
    ).toEqual(['rules.0.match.clientNetworks.0', 'rules.0.match.clientNetworks.1']);
  });
});

const base = (id: string, required: boolean): ScannerPolicy => {
  const f = required ? 'tempfail' : 'accept';
  return { id, required, onError: f, onTimeout: f, onMissing: f, onUnscanned: 'accept' };
};

describe('applyOverride', () => {
  it('derives failure defaults from `required`; explicit settings win', () => {
    expect(scannerPolicy('a', { required: true })).toMatchObject({
      onError: 'tempfail',
      onTimeout: 'tempfail',
      onMissing: 'tempfail',
    });
    expect(scannerPolicy('a', { required: false })).toMatchObject({
      onError: 'accept',
      onTimeout: 'accept',
      onMissing: 'accept',
    });
    expect(scannerPolicy('a', { required: true, onTimeout: 'accept' })).toMatchObject({
      onError: 'tempfail',
      onTimeout: 'accept',
    });
  });
  it('re-derives failure defaults when a bank changes `required`, explicit keys win', () => {
    expect(applyOverride(base('dlp', false), { required: true })).toMatchObject({
      required: true,
      onError: 'tempfail',
      onMissing: 'tempfail',
    });
    expect(applyOverride(base('av', true), { onTimeout: 'accept' })).toMatchObject({
      onError: 'tempfail',
      onTimeout: 'accept',
    });
    expect(applyOverride(base('av', true), { action: 'quarantine' }).actionOverride).toBe('quarantine');
    expect(applyOverride(base('av', true), undefined)).toEqual(base('av', true));
  });
});

const res = (
  scanner: string,
  kind: ScanResult['kind'],
  outcome: ScanOutcome,
  cached = false,
): ScanResult => ({ v: 1, scanner, kind, outcome, durationMs: 1, at: 0, ...(cached ? { cached } : {}) });
const scoreBank: PolicyBank = {
  ...PLAIN_BANK,
  spam: { mode: 'score', addHeaderAt: 5, quarantineAt: 10, rejectAt: 20, weights: { spamd: 0.5 } },
  stamp: { verdict: true, spam: true, virus: true },
  subjectTag: '[SPAM]',
};
const run = (
  results: ScanResult[],
  bank: PolicyBank,
  stage: StageRequest['stage'] = 'data',
  expected = [base('rspamd', false), base('spamd', false), base('clamav', true)],
) =>
  decide({
    stage,
    expected,
    results,
    deadlineReached: false,
    severity: DEFAULT_SEVERITY,
    replies: DEFAULT_REPLIES,
    bank,
    policy: 'inbound',
    rule: 'default',
    subject: 'Invoice 42',
  });

describe('spam scores summed across scanners', () => {
  const clean = res('clamav', 'av', { status: 'pass' });
  const table: [string, number, number, string][] = [
    ['below every threshold', 1, 2, 'accept'],
    ['add-header band: accept with headers and subject tag', 4, 4, 'accept'],
    ['quarantine band', 8, 6, 'quarantine'],
    ['reject threshold', 15, 12, 'reject'],
  ];
  it.each(table)('%s', (_n, rspamd, spamd, action) => {
    const d = run(
      [
        res('rspamd', 'spam', { status: 'pass', score: rspamd }),
        res('spamd', 'spam', { status: 'pass', score: spamd }),
        clean,
      ],
      scoreBank,
    );
    expect(d.final && d.verdict.action).toBe(action);
    expect(d.final && d.verdict.spamScore).toBe(rspamd + spamd * 0.5);
  });

  it("ignores an engine's own reject in score mode, but not in scanner mode", () => {
    const gtubeLow: ScanResult = res('rspamd', 'spam', {
      status: 'fail',
      category: 'spam',
      action: 'reject',
      names: ['GTUBE'],
      score: 3,
    });
    const inputs = [gtubeLow, res('spamd', 'spam', { status: 'pass', score: 0 }), clean];
    expect((run(inputs, scoreBank) as { verdict: { action: string } }).verdict.action).toBe('accept');
    expect(
      (
        run(inputs, { ...scoreBank, spam: { ...scoreBank.spam, mode: 'scanner' } }) as {
          verdict: { action: string };
        }
      ).verdict.action,
    ).toBe('reject');
  });

  it('stamps spam, virus and verdict headers and tags the subject, at data only', () => {
    const d = run(
      [
        res('rspamd', 'spam', { status: 'pass', score: 6 }),
        res('spamd', 'spam', { status: 'pass', score: 0 }),
        res('clamav', 'av', { status: 'pass' }, true),
      ],
      scoreBank,
    );
    expect(d.final && d.verdict.modifications).toEqual([
      { type: 'addHeader', name: 'X-Spam-Score', value: '6.0' },
      { type: 'addHeader', name: 'X-Spam-Status', value: 'Yes, score=6.0 required=5' },
      { type: 'changeHeader', index: 1, name: 'Subject', value: '[SPAM] Invoice 42' },
      { type: 'addHeader', name: 'X-Virus-Status', value: 'Clean' },
      {
        type: 'addHeader',
        name: 'X-Hookgate-Verdict',
        value: 'accept; policy=inbound; rule=default; scanners=rspamd=pass,spamd=pass,clamav=pass(cached)',
      },
    ]);
    const rcpt = run([res('rspamd', 'spam', { status: 'pass', score: 6 })], scoreBank, 'rcpt', [
      base('rspamd', false),
    ]);
    expect(rcpt.final && rcpt.verdict.modifications).toEqual([]);
  });

  it('names infected and unscanned mail in X-Virus-Status when it goes on', () => {
    const bank: PolicyBank = { ...PLAIN_BANK, stamp: { verdict: false, spam: false, virus: true } };
    const q = run(
      [res('clamav', 'av', { status: 'fail', category: 'virus', action: 'quarantine', names: ['Eicar'] })],
      bank,
      'data',
      [base('clamav', true)],
    );
    expect(q.final && q.verdict.modifications).toEqual([
      { type: 'addHeader', name: 'X-Virus-Status', value: 'Infected (Eicar)' },
    ]);
    const big = run([res('clamav', 'av', { status: 'unscanned', reason: 'too-large' })], bank, 'data', [
      base('clamav', true),
    ]);
    expect(big.final && big.verdict.modifications).toEqual([
      { type: 'addHeader', name: 'X-Virus-Status', value: 'Unscanned (too-large)' },
    ]);
  });

  it('records the policy and rule on the verdict', () => {
    const d = run([res('clamav', 'av', { status: 'pass' })], PLAIN_BANK, 'data', [base('clamav', true)]);
    expect(d.final && d.verdict).toMatchObject({ policy: 'inbound', rule: 'default' });
  });
});
