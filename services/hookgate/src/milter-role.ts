/**
 * The milter role (`hookgate milter`): a milter listener for Postfix and Sendmail with its own stage pipeline. It
 * holds no scanners: workers serve it through Redis exactly as they serve the HTTP ingress, and it scales the same
 * way (any number of replicas behind the MTA's milter address).
 */
import { MilterServer, formatListen, parseListen } from '@hookgate/milter';
import type { PoolWatcher } from '@hookgate/pipeline';
import { connectionBudget, openFileLimit } from '@hookgate/ingress';
import type { HookgateConfig } from './config.js';
import { buildStagePipeline, type PipelineContext } from './stage-pipeline.js';

const LOOPBACK = /^(127\.\d+\.\d+\.\d+|::1|localhost)$/;

/**
 * The milter protocol has no authentication: listening beyond loopback over TCP needs the same explicit consent as
 * an unauthenticated HTTP ingress (auth.allowUnauthenticated). Unix sockets are guarded by their permissions.
 */
export function checkMilterExposure(config: HookgateConfig): string | undefined {
  const target = parseListen(config.milter.listen);
  if (target.kind === 'tcp' && !LOOPBACK.test(target.host) && !config.auth.allowUnauthenticated) {
    return (
      `refusing to listen for milter connections on ${formatListen(target)}: the milter protocol has no authentication. ` +
      `Restrict access with a network policy and set auth.allowUnauthenticated: true (HOOKGATE_ALLOW_UNAUTHENTICATED=true), ` +
      `or listen on loopback or a Unix socket`
    );
  }
  return undefined;
}

/** Builds the pipeline, listens, and registers the listener's drain with the lifecycle. Returns the bound address. */
export async function startMilterRole(
  ctx: PipelineContext,
): Promise<{ address: string; pools: PoolWatcher }> {
  const { config, log, lifecycle } = ctx;
  const m = config.milter;
  const refusal = checkMilterExposure(config);
  if (refusal) throw new Error(refusal);
  const { pipeline, pools } = await buildStagePipeline(ctx, 'milter');
  // Beyond the open-file limit accept() fails and newcomers are refused however idle the others are: stay below it.
  const fileLimit = openFileLimit();
  const maxConnections =
    fileLimit === undefined ? m.maxConnections : Math.min(m.maxConnections, connectionBudget(fileLimit));
  if (maxConnections < m.maxConnections) {
    log.warn(
      { configured: m.maxConnections, maxConnections, fileLimit },
      'milter.maxConnections lowered to fit the open-file limit (raise LimitNOFILE / ulimit -n)',
    );
  }
  // Before data, a stage where no scanner or check runs is answered by the session itself (accept, as the pipeline
  // would): the pipeline's per-call cost is most of the milter's CPU for such stages (issue 12).
  const stages = m.stages.filter((s) => s === 'data' || pipeline.checks(s));
  log.info({ stages }, 'milter stages run through the pipeline');
  const server = new MilterServer({
    listen: parseListen(m.listen),
    maxFrameBytes: m.maxFrameBytes,
    negotiationTimeoutMs: m.negotiationTimeoutMs,
    idleTimeoutMs: m.idleTimeoutMs,
    maxConnections,
    socketMode: parseInt(m.socketMode, 8),
    log: log.child({ component: 'milter' }),
    session: {
      pipeline,
      stages,
      maxMessageBytes: m.maxMessageBytes,
      oversize: m.oversize,
      onError: m.onError,
      graceMs: m.graceMs,
      requestMacros: m.requestMacros,
      noReply: m.noReply,
      replies: config.verdict.replies,
    },
  });
  const address = await server.listen();
  // Stages already in the pipeline are answered (each within its own deadline) before connections close.
  const longest = Math.max(...Object.values(config.stages.deadlineMs).map(Number));
  lifecycle.onStop('milter listener', () => server.close(longest + m.graceMs), {
    timeoutMs: longest + m.graceMs + 1000,
  });
  return { address, pools };
}
