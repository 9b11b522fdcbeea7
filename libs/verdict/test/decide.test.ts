import { describe, expect, it } from 'vitest';
import {
  DEFAULT_SEVERITY,
  ERR,
  type ScannerPolicy,
  type ScanOutcome,
  type ScanResult,
} from '@hookgate/contracts';
import { decide, DEFAULT_REPLIES } from '@hookgate/verdict';

const av: ScannerPolicy = {
  id: 'clamav',
  required: true,
  onError: 'tempfail',
  onTimeout: 'tempfail',
  onMissing: 'tempfail',
  onUnscanned: 'accept',
};
const spam: ScannerPolicy = {
  id: 'spam',
  required: false,
  onError: 'accept',
  onTimeout: 'accept',
  onMissing: 'accept',
  onUnscanned: 'accept',
};

const res = (scanner: string, outcome: ScanOutcome): ScanResult => ({
  v: 1,
  scanner,
  kind: 'av',
  outcome,
  durationMs: 1,
  at: 0,
});
const virus: ScanOutcome = {
  status: 'fail',
  category: 'virus',
  action: 'reject',
  names: ['Eicar'],
  reply: { code: 550, enhanced: '5.7.1', text: 'Virus found: Eicar' },
};
const timeout: ScanOutcome = { status: 'error', code: ERR.SCAN_TIMEOUT, message: 't', retryable: true };
const engineDown: ScanOutcome = {
  status: 'error',
  code: ERR.SCAN_ENGINE_UNAVAILABLE,
  message: 'down',
  retryable: true,
};
const header = { type: 'addHeader' as const, name: 'X-Virus-Scanned', value: 'hookgate' };

const run = (expected: ScannerPolicy[], results: ScanResult[], deadlineReached = false) =>
  decide({
    stage: 'data',
    expected,
    results,
    deadlineReached,
    severity: DEFAULT_SEVERITY,
    replies: DEFAULT_REPLIES,
  });

describe('decide', () => {
  const table: {
    name: string;
    expected: ScannerPolicy[];
    results: ScanResult[];
    deadline?: boolean;
    action: string | null;
    partial?: boolean;
    code?: number;
  }[] = [
    { name: 'no scanners: accept at once', expected: [], results: [], action: 'accept', partial: false },
    { name: 'waiting for a result: not final', expected: [av], results: [], action: null },
    {
      name: 'clean: accept',
      expected: [av],
      results: [res('clamav', { status: 'pass' })],
      action: 'accept',
      partial: false,
    },
    {
      name: 'virus: reject with the scanner reply',
      expected: [av],
      results: [res('clamav', virus)],
      action: 'reject',
      code: 550,
    },
    {
      name: 'virus is terminal: decided before the spam result',
      expected: [av, spam],
      results: [res('clamav', virus)],
      action: 'reject',
      partial: true,
    },
    {
      name: 'clean av does not decide early',
      expected: [av, spam],
      results: [res('clamav', { status: 'pass' })],
      action: null,
    },
    {
      name: 'required scanner missing at deadline: tempfail',
      expected: [av],
      results: [],
      deadline: true,
      action: 'tempfail',
      code: 451,
      partial: true,
    },
    {
      name: 'optional scanner missing at deadline: accept',
      expected: [spam],
      results: [],
      deadline: true,
      action: 'accept',
      partial: true,
    },
    {
      name: 'required scanner timed out: tempfail',
      expected: [av],
      results: [res('clamav', timeout)],
      action: 'tempfail',
      code: 451,
    },
    {
      name: 'required engine down: tempfail',
      expected: [av],
      results: [res('clamav', engineDown)],
      action: 'tempfail',
    },
    {
      name: 'optional engine down: accept',
      expected: [spam],
      results: [res('spam', engineDown)],
      action: 'accept',
    },
    {
      name: 'ignore drops the scanner',
      expected: [{ ...av, onError: 'ignore' }],
      results: [res('clamav', engineDown)],
      action: 'accept',
    },
    {
      name: 'too large: onUnscanned decides (accept)',
      expected: [av],
      results: [res('clamav', { status: 'unscanned', reason: 'too-large' })],
      action: 'accept',
    },
    {
      name: 'too large with onUnscanned reject',
      expected: [{ ...av, onUnscanned: 'reject' }],
      results: [res('clamav', { status: 'unscanned', reason: 'too-large' })],
      action: 'reject',
      code: 550,
    },
    {
      name: 'action override: quarantine viruses',
      expected: [{ ...av, actionOverride: 'quarantine' }],
      results: [res('clamav', virus)],
      action: 'quarantine',
    },
    {
      name: 'skip counts as nothing',
      expected: [av],
      results: [res('clamav', { status: 'skip', reason: 'no message' })],
      action: 'accept',
    },
  ];
  for (const t of table) {
    it(t.name, () => {
      const d = run(t.expected, t.results, t.deadline);
      if (t.action === null) {
        expect(d.final).toBe(false);
        return;
      }
      expect(d.final).toBe(true);
      if (!d.final) return;
      expect(d.verdict.action).toBe(t.action);
      if (t.partial !== undefined) expect(d.verdict.partial).toBe(t.partial);
      if (t.code !== undefined) expect(d.verdict.reply?.code).toBe(t.code);
    });
  }

  it('keeps modifications when the message goes on, drops them otherwise', () => {
    const pass = run([av], [res('clamav', { status: 'pass', modifications: [header] })]);
    expect(pass.final && pass.verdict.modifications).toEqual([header]);
    const rejected = run(
      [av, spam],
      [res('clamav', virus), res('spam', { status: 'pass', modifications: [header] })],
    );
    expect(rejected.final && rejected.verdict.modifications).toEqual([]);
  });

  it('names the deciding scanner and content-free reasons', () => {
    const d = run([av, spam], [res('clamav', virus), res('spam', engineDown)]);
    expect(d.final && d.verdict.decidedBy).toEqual(['clamav']);
    expect(d.final && d.verdict.reasons).toEqual(['clamav:virus:Eicar', 'spam:error:fail-open']);
  });

  it('follows a configured severity order', () => {
    const severity = ['tempfail', 'reject', 'discard', 'quarantine', 'accept'] as const;
    const d = decide({
      stage: 'data',
      expected: [av, spam],
      results: [res('clamav', virus), res('spam', engineDown)],
      deadlineReached: false,
      severity,
      replies: DEFAULT_REPLIES,
    });
    expect(d.final && d.verdict.action).toBe('reject');
    const d2 = decide({
      stage: 'data',
      expected: [
        { ...av, id: 'a' },
        { ...av, id: 'b' },
      ],
      results: [res('a', virus), res('b', timeout)],
      deadlineReached: false,
      severity,
      replies: DEFAULT_REPLIES,
    });
    expect(d2.final && d2.verdict.action).toBe('tempfail');
  });
});
