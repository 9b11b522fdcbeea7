/**
 * The hookgate executable: `hookgate all | ingress | milter | worker --scanners a,b | config check FILE`.
 * The composition root: the only place that reads process.env, creates clients and wires roles.
 */
import { parseArgs } from 'node:util';
import { ConfigError } from '@hookgate/config';
import { ConnectionLog } from '@hookgate/redis';
import { createLogger } from '@hookgate/logger';
import { Lifecycle, startHealthServer } from '@hookgate/lifecycle';
import { checkEnvironment, loadConfig, type HookgateConfig } from './config.js';
import { redisTarget, describeTarget } from './redis-target.js';
import { startEmbeddedRedis } from './embedded-redis.js';
import { scannerRegistry, SCANNER_IDS, type ScannerEntry } from './scanners.js';
import { checkExposure, splitListen, startIngress, startWorkers } from './roles.js';
import { startMilterRole } from './milter-role.js';
import { startTelemetry } from '@hookgate/telemetry/sdk';
import { runScan } from './scan/command.js';
import type { PoolWatcher } from '@hookgate/pipeline';
import { errorMessage } from '@hookgate/contracts';

const USAGE = `usage: hookgate <command> [options]

commands:
  all [--scanners a,b]       ingress and scanner workers in one process (starts a private Redis if none is set)
  ingress                    the HTTP ingress only
  milter                     the milter frontend only, for Postfix/Sendmail (HOOKGATE_MILTER_LISTEN, default 127.0.0.1:11332)
  worker --scanners a,b      scanner workers only (scanners: ${SCANNER_IDS.join(', ')})
  config check FILE          validate a config file (with the current environment); exit 1 on problems
  scan [--url URL | --local] [--json] PATH...
                             check .eml files, folders and mbox files through a running hookgate or in this
                             process; exit 0 all accepted, 1 any refused, 2 errors (hookgate scan --help)

environment: HOOKGATE_CONFIG, HOOKGATE_LISTEN, HOOKGATE_REDIS_URL, HOOKGATE_CLAMD, HOOKGATE_AUTH_TOKENS,
HOOKGATE_AUTH_BASIC, HOOKGATE_LOG_LEVEL (see docs/configuration.md)`;

function say(line: string): void {
  process.stderr.write(`hookgate: ${line}\n`);
}

function selectScanners(
  all: ScannerEntry[],
  list: string | undefined,
  requireExplicit: boolean,
): ScannerEntry[] {
  if (!list) {
    if (requireExplicit)
      throw new Error(`worker needs --scanners (one or more of: ${SCANNER_IDS.join(', ')})`);
    return all.filter((e) => e.active);
  }
  const wanted = list
    .split(',')
    .map((s) => s.trim())
    .filter(Boolean);
  const unknown = wanted.filter((w) => !all.some((e) => e.id === w));
  if (unknown.length)
    throw new Error(`unknown scanner(s): ${unknown.join(', ')}; known: ${SCANNER_IDS.join(', ')}`);
  const chosen = all.filter((e) => wanted.includes(e.id));
  const inactive = chosen.filter((e) => !e.active);
  if (inactive.length)
    throw new Error(inactive.map((e) => `scanner ${e.id} is not active: ${e.why}`).join('; '));
  return chosen;
}

async function run(argv: string[]): Promise<number> {
  // `scan` has options of its own.
  if (argv[0] === 'scan') {
    const code = await runScan(argv.slice(1), {
      env: process.env,
      stdin: process.stdin,
      stdout: { write: (t) => void process.stdout.write(t), isTTY: process.stdout.isTTY },
      stderr: {
        write: (t) => void process.stderr.write(t),
        isTTY: process.stderr.isTTY,
        columns: process.stderr.columns,
      },
    });
    // The report may still sit in a pipe's buffer: exit only once it is written.
    await new Promise<void>((resolve) => process.stdout.write('', () => resolve()));
    return code;
  }
  const { positionals, values } = parseArgs({
    args: argv,
    allowPositionals: true,
    options: { scanners: { type: 'string' }, help: { type: 'boolean', short: 'h' } },
  });
  const [command, sub, file] = positionals;
  if (values.help || !command) {
    process.stdout.write(`${USAGE}\n`);
    return command || values.help ? 0 : 2;
  }

  if (command === 'config') {
    if (sub !== 'check' || !file) {
      say('usage: hookgate config check FILE');
      return 2;
    }
    // Environment warnings first: a misspelt variable may be why the file's value is not the one in force.
    for (const w of checkEnvironment(process.env)) process.stdout.write(`warning: ${w.path}: ${w.reason}\n`);
    try {
      const config = loadConfig(process.env, file);
      const active = scannerRegistry(config)
        .filter((e) => e.active)
        .map((e) => e.id);
      process.stdout.write(
        `${file}: OK (listen ${config.listen}; active scanners: ${active.join(', ') || 'none'})\n`,
      );
      return 0;
    } catch (err) {
      process.stdout.write(`${errorMessage(err)}\n`);
      return 1;
    }
  }

  if (!['all', 'ingress', 'worker', 'milter'].includes(command)) {
    say(`unknown command "${command}"\n${USAGE}`);
    return 2;
  }

  const envWarnings = checkEnvironment(process.env);
  for (const w of envWarnings) say(`warning: ${w.path}: ${w.reason}`);
  let config: HookgateConfig;
  try {
    config = loadConfig(process.env);
  } catch (err) {
    say(err instanceof ConfigError ? err.message : `cannot load configuration: ${String(err)}`);
    return 1;
  }
  // Telemetry first, so every client and span created later reports through it.
  const telemetry = startTelemetry({ serviceName: 'hookgate', role: command, env: process.env });
  const log = createLogger({ level: config.log.level, base: { role: command } });
  for (const w of envWarnings) log.warn({ variable: w.path }, `environment: ${w.reason}`);
  const lifecycle = new Lifecycle(log, {
    hardDeadlineMs: Math.max(...Object.values(config.stages.deadlineMs).map(Number)) + 15_000,
  });
  lifecycle.handleSignals();
  lifecycle.onStop('telemetry', () => telemetry.shutdown());

  const registry = scannerRegistry(config);
  let selected: ScannerEntry[];
  try {
    selected =
      command === 'ingress' || command === 'milter'
        ? []
        : selectScanners(registry, values.scanners, command === 'worker');
    const misplaced = selected.filter((e) => e.placement === 'inline');
    if (values.scanners && misplaced.length) {
      throw new Error(`${misplaced.map((e) => e.id).join(', ')} run in the ingress, not in workers`);
    }
    selected = selected.filter((e) => e.placement === 'queue');
  } catch (err) {
    say(errorMessage(err));
    return 2;
  }
  if (command !== 'worker' && command !== 'milter') {
    const refusal = checkExposure(config);
    if (refusal) {
      say(refusal);
      return 1;
    }
  }

  let target = redisTarget(config);
  if (!target) {
    if (command !== 'all') {
      say('no Redis configured: set HOOKGATE_REDIS_URL (or redis.* in the config)');
      return 1;
    }
    const embedded = await startEmbeddedRedis(say);
    lifecycle.onStop('embedded redis', () => embedded.stop());
    target = { mode: 'standalone', url: embedded.url };
    say(`no Redis configured: started a private redis-server at ${embedded.url} (stopped on exit)`);
  }
  const ctx = {
    config,
    redis: target,
    log,
    lifecycle,
    scanners: registry,
    telemetry,
    connections: new ConnectionLog(log),
  };

  try {
    if (command === 'all' || command === 'worker') await startWorkers(ctx, selected);
    let url: string | undefined;
    let pools: PoolWatcher | undefined;
    if (command === 'all' || command === 'ingress') ({ url, pools } = await startIngress(ctx));
    let milter: string | undefined;
    if (command === 'milter') ({ address: milter, pools } = await startMilterRole(ctx));
    let metricsUrl: string | undefined;
    if ((command === 'worker' || command === 'milter') && config.metrics.listen) {
      const { host, port } = splitListen(config.metrics.listen);
      try {
        const health = await startHealthServer({
          host,
          port,
          isReady: () => lifecycle.ready,
          readiness: () => pools?.readiness() ?? {},
          metricsHandler: telemetry.metricsHandler,
        });
        lifecycle.onStop('health server', () => health.close());
        metricsUrl = health.url;
      } catch (err) {
        // Scanning matters more than scraping: a second worker on one host must still start.
        say(
          `health and metrics server not started on ${config.metrics.listen}: ${errorMessage(err)} (set HOOKGATE_METRICS_LISTEN)`,
        );
      }
    }
    lifecycle.setReady(true);

    say(`redis: ${describeTarget(target)}`);
    if (url) say(`listening on ${url} (Stalwart MTA Hooks: POST ${url}/hooks/stalwart)`);
    if (url && config.console.enabled)
      say(
        `console on ${url}${config.console.path}/ (${config.admin.tokens.length ? 'log in with an admin token' : 'set HOOKGATE_ADMIN_TOKENS to log in'})`,
      );
    if (url || milter) {
      const q = config.quarantine;
      say(
        `quarantine: ${q.store === 'filesystem' ? `directory ${q.directory}` : 'Redis'}, up to ${Math.round(q.maxBytes / 1048576)} MiB for ${Math.round(q.retentionMs / 86_400_000)} days; releases ${q.relay ? `to ${q.relay.replace(/\/\/[^@/]*@/, '//')}` : 'disabled (set HOOKGATE_QUARANTINE_RELAY)'}`,
      );
    }
    if (milter)
      say(
        `milter listening on ${milter} (Postfix: smtpd_milters = ${milter.startsWith('unix:') ? milter : `inet:${milter}`})`,
      );
    if (metricsUrl) say(`health and metrics on ${metricsUrl} (/healthz, /readyz, /metrics)`);
    say(
      `telemetry: traces ${telemetry.tracing ? 'exported over OTLP' : 'off (set OTEL_EXPORTER_OTLP_ENDPOINT)'}; metrics on /metrics${telemetry.otlpMetrics ? ' and OTLP' : ''}`,
    );
    const hosted = new Set(selected.map((e) => e.id));
    const live = pools?.snapshot();
    for (const e of registry) {
      const role = !e.active
        ? 'inactive'
        : e.placement === 'inline'
          ? command === 'worker'
            ? 'runs in the ingress'
            : 'active, in the ingress'
          : hosted.has(e.id)
            ? 'active, worker here'
            : command === 'ingress' || command === 'milter'
              ? 'expected'
              : 'expected (worker elsewhere)';
      say(
        `scanner ${e.id}: ${role}: ${e.why}${e.active ? ` [stages ${e.stages.join(',')}]` : ''}${e.active && e.placement === 'queue' && live ? poolNote(e, live[e.id] ?? 0) : ''}`,
      );
    }
    log.info(
      { url, scanners: registry.map((e) => ({ id: e.id, active: e.active, hosted: hosted.has(e.id) })) },
      'started',
    );
    // The last startup line: scripts and tests wait for it.
    say('ready');
  } catch (err) {
    log.fatal({ err: { message: errorMessage(err) } }, 'startup failed');
    say(`startup failed: ${errorMessage(err)}`);
    await lifecycle.stop('startup failed');
    return 1;
  }
  // Keep running until a signal; the lifecycle exits the process.
  return new Promise<number>(() => undefined);
}

/** What the startup summary says of a queued scanner's pool as this frontend sees it. */
function poolNote(e: ScannerEntry, workers: number): string {
  if (workers > 0) return ` (${workers} live worker${workers === 1 ? '' : 's'})`;
  return ` — NO LIVE WORKER consumes its queue: each request decides its absence at once (${e.policy.onMissing}); start \`hookgate worker --scanners ${e.id}\``;
}

run(process.argv.slice(2)).then(
  (code) => process.exit(code),
  (err: unknown) => {
    say(`fatal: ${errorMessage(err)}`);
    process.exit(1);
  },
);
