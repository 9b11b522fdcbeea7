import {
  ERR,
  type Action,
  type FailureAction,
  type Modification,
  type PolicyBank,
  type ScannerOverride,
  type ScannerPolicy,
  type ScanResult,
  type SmtpReply,
  type Stage,
  type Verdict,
} from '@hookgate/contracts';

/** Replies used when a contribution carries none. Text is what the SMTP client sees. */
export interface DefaultReplies {
  tempfail: SmtpReply;
  reject: SmtpReply;
}

export const DEFAULT_REPLIES: DefaultReplies = {
  tempfail: { code: 451, enhanced: '4.7.1', text: 'Temporary failure in content scanning, try again later' },
  reject: { code: 550, enhanced: '5.7.1', text: 'Message rejected by content policy' },
};

/** The bank used when none is configured: engines decide for themselves, nothing is stamped. */
export const PLAIN_BANK: PolicyBank = {
  scanners: {},
  spam: { mode: 'scanner', addHeaderAt: null, quarantineAt: null, rejectAt: null, weights: {} },
  stamp: { verdict: false, spam: false, virus: false },
  subjectTag: null,
};

export interface DecideInput {
  stage: Stage;
  /** The scanners this request was fanned out to, in configured order (ties resolve in this order). */
  expected: readonly ScannerPolicy[];
  results: readonly ScanResult[];
  /** True once the stage deadline passed: missing results are then judged by `onMissing`. */
  deadlineReached: boolean;
  /**
   * Expected scanners known to have no live worker: their results are judged missing at once (by `onMissing`)
   * instead of at the deadline, since nobody will answer.
   */
  absent?: ReadonlySet<string>;
  /** Highest first; must contain every action. */
  severity: readonly Action[];
  replies: DefaultReplies;
  bank?: PolicyBank;
  /** Names recorded on the verdict: the bank applied and the rule that chose it. */
  policy?: string;
  rule?: string;
  /** The message's current Subject (unfolded, trimmed), for subject tagging at data. */
  subject?: string;
}

export type Decision = { final: false } | { final: true; verdict: Verdict };

interface Contribution {
  scanner: string;
  action: Action;
  reason: string;
  reply?: SmtpReply;
  modifications?: Modification[];
}

/** What failures default to: fail-closed (tempfail) for required scanners, fail-open (accept) otherwise. */
function failureDefault(required: boolean): FailureAction {
  return required ? 'tempfail' : 'accept';
}

/** A scanner's failure settings as configured: `required` picks the defaults; explicit settings win. */
export interface FailureSettings {
  required: boolean;
  onError?: FailureAction | undefined;
  onTimeout?: FailureAction | undefined;
  onMissing?: FailureAction | undefined;
  onUnscanned?: ScannerPolicy['onUnscanned'] | undefined;
}

export function scannerPolicy(id: string, s: FailureSettings): ScannerPolicy {
  const failure = failureDefault(s.required);
  return {
    id,
    required: s.required,
    onError: s.onError ?? failure,
    onTimeout: s.onTimeout ?? failure,
    onMissing: s.onMissing ?? failure,
    onUnscanned: s.onUnscanned ?? 'accept',
  };
}

/** A scanner's configured policy with a bank's overrides applied. */
export function applyOverride(base: ScannerPolicy, o: ScannerOverride | undefined): ScannerPolicy {
  if (!o) return base;
  const required = o.required ?? base.required;
  const failure = failureDefault(required);
  // Changing `required` re-derives the failure defaults unless the bank sets them explicitly.
  const derived = o.required !== undefined && o.required !== base.required;
  return {
    id: base.id,
    required,
    onError: o.onError ?? (derived ? failure : base.onError),
    onTimeout: o.onTimeout ?? (derived ? failure : base.onTimeout),
    onMissing: o.onMissing ?? (derived ? failure : base.onMissing),
    onUnscanned: o.onUnscanned ?? base.onUnscanned,
    ...((o.action ?? base.actionOverride) ? { actionOverride: o.action ?? base.actionOverride! } : {}),
  };
}

/**
 * The verdict policy: a pure function called on every new result and once at the deadline.
 * Final when every expected scanner has answered, when the deadline has passed, or early when one result already
 * asks for the most severe action (nothing later can outrank it; later results are still recorded).
 */
export function decide(input: DecideInput): Decision {
  const bank = input.bank ?? PLAIN_BANK;
  const byScanner = new Map<string, ScanResult>();
  for (const r of input.results) if (!byScanner.has(r.scanner)) byScanner.set(r.scanner, r);

  const contributions: Contribution[] = [];
  let missing = 0;
  let absent = 0;
  for (const policy of input.expected) {
    const result = byScanner.get(policy.id);
    if (result === undefined) {
      missing++;
      if (input.absent?.has(policy.id)) {
        absent++;
        pushFailure(contributions, policy.id, policy.onMissing, 'missing:no-workers');
      } else if (input.deadlineReached) pushFailure(contributions, policy.id, policy.onMissing, 'missing');
      continue;
    }
    contribute(contributions, policy, result, bank);
  }
  const present = input.expected.flatMap((p) => byScanner.get(p.id) ?? []);
  const spamScore = sumSpam(present, bank);
  if (bank.spam.mode === 'score' && spamScore !== undefined)
    contributions.push(scoreContribution(spamScore, bank));

  const top = input.severity[0] ?? 'reject';
  const terminal = contributions.some((c) => c.action === top);
  if (missing > absent && !input.deadlineReached && !terminal) return { final: false };
  return { final: true, verdict: combine(contributions, input, bank, present, missing > 0, spamScore) };
}

function contribute(out: Contribution[], policy: ScannerPolicy, result: ScanResult, bank: PolicyBank): void {
  const o = result.outcome;
  const id = policy.id;
  switch (o.status) {
    case 'pass':
      out.push({
        scanner: id,
        action: 'accept',
        reason: `${id}:pass`,
        ...(o.modifications ? { modifications: o.modifications } : {}),
      });
      return;
    case 'fail': {
      // In score mode a spam engine's own action does not count: the summed score decides.
      const scored = bank.spam.mode === 'score' && o.category === 'spam';
      const action = scored ? 'accept' : (policy.actionOverride ?? o.action);
      const names = o.names.length > 0 ? `:${o.names.slice(0, 3).join(',')}` : '';
      out.push({
        scanner: id,
        action,
        reason: `${id}:${o.category}${names}`,
        ...(o.reply && action === o.action ? { reply: o.reply } : {}),
        ...(o.modifications ? { modifications: o.modifications } : {}),
      });
      return;
    }
    case 'unscanned':
      out.push({ scanner: id, action: policy.onUnscanned, reason: `${id}:unscanned:${o.reason}` });
      return;
    case 'skip':
      return;
    case 'error':
      if (o.code === ERR.SCAN_TIMEOUT) pushFailure(out, id, policy.onTimeout, 'timeout');
      else pushFailure(out, id, policy.onError, 'error');
      return;
  }
}

function pushFailure(out: Contribution[], scanner: string, what: FailureAction, why: string): void {
  if (what === 'ignore') return;
  out.push({ scanner, action: what, reason: `${scanner}:${why}${what === 'accept' ? ':fail-open' : ''}` });
}

/** Sum of the spam scores reported, each times its weight; undefined when no spam scanner reported a score. */
function sumSpam(results: readonly ScanResult[], bank: PolicyBank): number | undefined {
  let sum: number | undefined;
  for (const r of results) {
    if (r.kind !== 'spam') continue;
    const score = r.outcome.status === 'pass' || r.outcome.status === 'fail' ? r.outcome.score : undefined;
    if (score === undefined || !Number.isFinite(score)) continue;
    sum = (sum ?? 0) + score * (bank.spam.weights[r.scanner] ?? 1);
  }
  return sum === undefined ? undefined : Math.round(sum * 100) / 100;
}

function scoreContribution(score: number, bank: PolicyBank): Contribution {
  const { rejectAt, quarantineAt } = bank.spam;
  if (rejectAt !== null && score >= rejectAt) {
    return {
      scanner: 'spam-score',
      action: 'reject',
      reason: `spam-score:${score}>=${rejectAt}`,
      reply: { code: 550, enhanced: '5.7.1', text: 'Message rejected as spam' },
    };
  }
  if (quarantineAt !== null && score >= quarantineAt)
    return { scanner: 'spam-score', action: 'quarantine', reason: `spam-score:${score}>=${quarantineAt}` };
  return { scanner: 'spam-score', action: 'accept', reason: `spam-score:${score}:pass` };
}

function combine(
  contributions: Contribution[],
  input: DecideInput,
  bank: PolicyBank,
  present: ScanResult[],
  partial: boolean,
  spamScore: number | undefined,
): Verdict {
  const rank = (a: Action) => {
    const i = input.severity.indexOf(a);
    return i < 0 ? input.severity.length : i;
  };
  let action: Action = 'accept';
  for (const c of contributions) if (rank(c.action) < rank(action)) action = c.action;

  const deciding = contributions.filter(
    (c) => c.action === action && !(c.action === 'accept' && c.reason.endsWith(':pass')),
  );
  const reply = deciding.find((c) => c.reply)?.reply ?? defaultReply(action, input.replies);
  // Header and envelope changes only make sense when the message goes on.
  const keepsMessage = action === 'accept' || action === 'quarantine';
  const modifications = keepsMessage ? contributions.flatMap((c) => c.modifications ?? []) : [];
  if (keepsMessage && input.stage === 'data')
    modifications.push(...stamps(action, input, bank, present, spamScore));
  return {
    v: 1,
    action,
    ...(reply ? { reply } : {}),
    modifications,
    reasons: contributions.filter((c) => !c.reason.endsWith(':pass')).map((c) => c.reason),
    decidedBy: deciding.length > 0 ? deciding.map((c) => c.scanner) : ['policy'],
    partial,
    ...(input.policy ? { policy: input.policy } : {}),
    ...(input.rule ? { rule: input.rule } : {}),
    ...(spamScore !== undefined ? { spamScore } : {}),
  };
}

/** Headers hookgate adds itself, per the bank's stamp settings. Values are single-line and content-free. */
function stamps(
  action: Action,
  input: DecideInput,
  bank: PolicyBank,
  present: ScanResult[],
  spamScore: number | undefined,
): Modification[] {
  const out: Modification[] = [];
  const { addHeaderAt, rejectAt } = bank.spam;
  if (bank.stamp.spam && spamScore !== undefined) {
    const threshold = addHeaderAt ?? rejectAt;
    const isSpam = threshold !== null && spamScore >= threshold;
    out.push({ type: 'addHeader', name: 'X-Spam-Score', value: spamScore.toFixed(1) });
    out.push({
      type: 'addHeader',
      name: 'X-Spam-Status',
      value: `${isSpam ? 'Yes' : 'No'}, score=${spamScore.toFixed(1)}${threshold !== null ? ` required=${threshold}` : ''}`,
    });
  }
  if (
    bank.subjectTag &&
    spamScore !== undefined &&
    addHeaderAt !== null &&
    spamScore >= addHeaderAt &&
    input.subject !== undefined &&
    !input.subject.startsWith(bank.subjectTag)
  ) {
    out.push({
      type: 'changeHeader',
      index: 1,
      name: 'Subject',
      value: `${bank.subjectTag} ${input.subject}`.trim(),
    });
  }
  const av = present.filter((r) => r.kind === 'av');
  if (bank.stamp.virus && av.length > 0) {
    const infected = av.flatMap((r) => (r.outcome.status === 'fail' ? r.outcome.names : []));
    const unscanned = av.flatMap((r) => (r.outcome.status === 'unscanned' ? [r.outcome.reason] : []));
    const errored = av.some((r) => r.outcome.status === 'error');
    const value = infected.length
      ? `Infected (${infected.join(', ')})`
      : unscanned.length
        ? `Unscanned (${unscanned.join(', ')})`
        : errored
          ? 'Unchecked (scanner error)'
          : 'Clean';
    out.push({ type: 'addHeader', name: 'X-Virus-Status', value });
  }
  if (bank.stamp.verdict) {
    const scanners = present
      .map((r) => `${r.scanner}=${r.outcome.status}${r.cached ? '(cached)' : ''}`)
      .join(',');
    const parts = [
      action,
      input.policy ? `policy=${input.policy}` : '',
      input.rule ? `rule=${input.rule}` : '',
      scanners ? `scanners=${scanners}` : '',
    ];
    out.push({ type: 'addHeader', name: 'X-Hookgate-Verdict', value: parts.filter(Boolean).join('; ') });
  }
  return out;
}

function defaultReply(action: Action, replies: DefaultReplies): SmtpReply | undefined {
  if (action === 'tempfail') return replies.tempfail;
  if (action === 'reject') return replies.reject;
  return undefined;
}

/** The answer given when the pipeline itself failed (an internal error): never a silent accept. */
export function fallbackVerdict(
  action: 'tempfail' | 'accept',
  reason: string,
  replies: DefaultReplies,
): Verdict {
  return {
    v: 1,
    action,
    ...(action === 'tempfail' ? { reply: replies.tempfail } : {}),
    modifications: [],
    reasons: [reason],
    decidedBy: ['fallback'],
    partial: true,
  };
}
