import type { ScanOutcome } from '@hookgate/contracts';

/**
 * The outcome for a message above a scanner's size limit: unscanned (too large), never clean, so the verdict
 * policy's `onUnscanned` decides. Null when the message fits. `limit` names the config key, for the detail.
 */
export function tooLarge(message: Uint8Array, maxBytes: number, limit: string): ScanOutcome | null {
  if (message.byteLength <= maxBytes) return null;
  return {
    status: 'unscanned',
    reason: 'too-large',
    detail: `${message.byteLength} bytes > ${limit} ${maxBytes}`,
  };
}
