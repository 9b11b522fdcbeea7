import {
  ERR,
  type Action,
  type FailureAction,
  type Modification,
  type ScannerPolicy,
  type ScanResult,
  type SmtpReply,
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

export interface DecideInput {
  /** The scanners this request was fanned out to, in configured order (ties resolve in this order). */
  expected: readonly ScannerPolicy[];
  results: readonly ScanResult[];
  /** True once the stage deadline passed: missing results are then judged by `onMissing`. */
  deadlineReached: boolean;
  /** Highest first; must contain every action. */
  severity: readonly Action[];
  replies: DefaultReplies;
}

export type Decision = { final: false } | { final: true; verdict: Verdict };

interface Contribution {
  scanner: string;
  action: Action;
  reason: string;
  reply?: SmtpReply;
  modifications?: Modification[];
}

/**
 * The verdict policy: a pure function called on every new result and once at the deadline.
 * Final when every expected scanner has answered, when the deadline has passed, or early when one result already
 * asks for the most severe action (nothing later can outrank it; later results are still recorded).
 */
export function decide(input: DecideInput): Decision {
  const byScanner = new Map<string, ScanResult>();
  for (const r of input.results) if (!byScanner.has(r.scanner)) byScanner.set(r.scanner, r);

  const contributions: Contribution[] = [];
  let missing = 0;
  for (const policy of input.expected) {
    const result = byScanner.get(policy.id);
    if (result === undefined) {
      missing++;
      if (input.deadlineReached) pushFailure(contributions, policy.id, policy.onMissing, 'missing');
      continue;
    }
    contribute(contributions, policy, result);
  }

  const top = input.severity[0] ?? 'reject';
  const terminal = contributions.some((c) => c.action === top);
  if (missing > 0 && !input.deadlineReached && !terminal) return { final: false };
  return { final: true, verdict: combine(contributions, input, missing > 0) };
}

function contribute(out: Contribution[], policy: ScannerPolicy, result: ScanResult): void {
  const o = result.outcome;
  const id = policy.id;
  switch (o.status) {
    case 'pass':
      out.push({ scanner: id, action: 'accept', reason: `${id}:pass`, ...(o.modifications ? { modifications: o.modifications } : {}) });
      return;
    case 'fail': {
      const action = policy.actionOverride ?? o.action;
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

function combine(contributions: Contribution[], input: DecideInput, partial: boolean): Verdict {
  const rank = (a: Action) => {
    const i = input.severity.indexOf(a);
    return i < 0 ? input.severity.length : i;
  };
  let action: Action = 'accept';
  for (const c of contributions) if (rank(c.action) < rank(action)) action = c.action;

  const deciding = contributions.filter((c) => c.action === action);
  const reply = deciding.find((c) => c.reply)?.reply ?? defaultReply(action, input.replies);
  // Header and envelope changes only make sense when the message goes on.
  const keepsMessage = action === 'accept' || action === 'quarantine';
  const modifications = keepsMessage ? contributions.flatMap((c) => c.modifications ?? []) : [];
  return {
    v: 1,
    action,
    ...(reply ? { reply } : {}),
    modifications,
    reasons: contributions.filter((c) => !c.reason.endsWith(':pass')).map((c) => c.reason),
    decidedBy: deciding.length > 0 ? deciding.map((c) => c.scanner) : ['policy'],
    partial,
  };
}

function defaultReply(action: Action, replies: DefaultReplies): SmtpReply | undefined {
  if (action === 'tempfail') return replies.tempfail;
  if (action === 'reject') return replies.reject;
  return undefined;
}

/** The answer given when the pipeline itself failed (Redis down, internal error): never a silent accept. */
export function fallbackVerdict(action: 'tempfail' | 'accept', reason: string, replies: DefaultReplies): Verdict {
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
