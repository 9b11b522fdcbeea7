/** Checks the ingress runs in its own process (greylisting, rate limits), under a queued scan's rules. */
import type { ScanResult, StageRequest } from '@hookgate/contracts';
import { runScan } from '@hookgate/scanner-sdk';
import { ATTR, SPAN, startSpan, withContext } from '@hookgate/telemetry';
import type { InlineCheck, PipelineLogger } from './deps.js';

/**
 * Runs one inline check under the same deadline, margin and failure rules as a worker (one runner for every host):
 * failures become error results, handed to `accept` like a queued scanner's result.
 */
export async function runInlineCheck(
  check: InlineCheck,
  request: StageRequest,
  message: Uint8Array | undefined,
  accept: (r: ScanResult) => void,
  env: { log: PipelineLogger; now: () => number },
): Promise<void> {
  const { span, ctx } = startSpan(SPAN.INLINE, { [ATTR.SCANNER]: check.route.id });
  await withContext(ctx, async () => {
    const started = env.now();
    const outcome = await runScan(check.scanner, message ? { request, message } : { request }, {
      deadlineAt: request.deadlineAt,
      log: env.log,
      now: env.now,
    });
    span.setAttribute(ATTR.OUTCOME, outcome.status);
    accept({
      v: 1,
      scanner: check.route.id,
      kind: check.scanner.kind,
      outcome,
      durationMs: env.now() - started,
      at: env.now(),
    });
  });
  span.end();
}
