import type { Verdict } from '@hookgate/contracts';

/** A verdict as the pipeline returns it: a plain accept unless overridden. */
export function verdict(over: Partial<Verdict> = {}): Verdict {
  return { v: 1, action: 'accept', modifications: [], reasons: [], decidedBy: [], partial: false, ...over };
}
