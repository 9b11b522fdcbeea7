/**
 * The fuzz runner: one fast-check property per target, with the oracles every target shares (no unhandled
 * rejection or uncaught exception, no prototype pollution, no case slower than `slowMs` twice in a row). A failure
 * is shrunk by fast-check and reported with the seed and path that replay it (`--seed S --path P`).
 */
import fc from 'fast-check';

/** A broken promise of the code under test (as opposed to a harness error). */
export class OracleViolation extends Error {
  constructor(
    readonly oracle: string,
    message: string,
  ) {
    super(`[${oracle}] ${message}`);
    this.name = 'OracleViolation';
  }
}

export function violated(oracle: string, message: string): never {
  throw new OracleViolation(oracle, message);
}

export interface Target<T> {
  readonly name: string;
  readonly description: string;
  readonly arbitrary: fc.Arbitrary<T>;
  setup(): Promise<void>;
  /**
   * Runs one case against the code under test; throws OracleViolation when an oracle fails. Returns the CPU time
   * spent in the code under test, ms (building the input is the harness's time, not the parser's).
   */
  check(input: T): Promise<number>;
  teardown(): Promise<void>;
  /** The case, printable and bounded, for the failure report. */
  show(input: T): string;
}

export interface RunOptions {
  cases: number;
  seed: number;
  /** Replays one failure (with `seed`): the path fast-check printed. */
  path?: string;
  /** A case using more CPU time than this, measured three times, fails the `time` oracle. */
  slowMs: number;
  /** Stop after this long (ms) even if fewer than `cases` ran; the result says how many did. */
  timeLimitMs?: number;
  /** Called about every `progressMs` with the cases done so far. */
  onProgress?: (done: number, elapsedMs: number) => void;
  progressMs?: number;
}

export interface RunResult {
  target: string;
  seed: number;
  /** Cases run, shrinking included. */
  cases: number;
  ms: number;
  casesPerSec: number;
  /** Most CPU time of a single case, ms. */
  slowestMs: number;
  /** Stopped by `timeLimitMs` before `cases` ran. */
  interrupted: boolean;
  failure?: { path: string; counterexample: string; error: string };
}

/**
 * CPU time (user + system) of this process while `fn` runs, ms. The time oracle uses CPU time, not wall time: on a
 * shared machine a case waiting for a core is not a slow parser.
 */
export async function cpuTime<T>(fn: () => Promise<T>): Promise<[T, number]> {
  const start = process.cpuUsage();
  const value = await fn();
  const used = process.cpuUsage(start);
  return [value, (used.user + used.system) / 1000];
}

/** Process-wide oracles: events that must never happen while a target runs. */
function processWatch(): { check: () => void; stop: () => void } {
  const events: string[] = [];
  const onRejection = (reason: unknown) => events.push(`unhandled rejection: ${describeError(reason)}`);
  const onException = (err: unknown) => events.push(`uncaught exception: ${describeError(err)}`);
  process.on('unhandledRejection', onRejection);
  process.on('uncaughtException', onException);
  const protos = [Object.prototype, Array.prototype, Function.prototype, String.prototype];
  const baseline = protos.map((p) => Object.getOwnPropertyNames(p).length);
  return {
    check() {
      if (events.length > 0) violated('process', events.splice(0).join('; '));
      protos.forEach((p, i) => {
        if (Object.getOwnPropertyNames(p).length !== baseline[i])
          violated(
            'prototype',
            `a built-in prototype gained properties: ${Object.getOwnPropertyNames(p).slice(baseline[i]).join(', ')}`,
          );
      });
      if (({} as Record<string, unknown>).polluted !== undefined)
        violated('prototype', 'Object.prototype.polluted is set');
    },
    stop() {
      process.off('unhandledRejection', onRejection);
      process.off('uncaughtException', onException);
    },
  };
}

export function describeError(err: unknown): string {
  if (err instanceof Error)
    return `${err.name}: ${err.message}${err instanceof OracleViolation ? '' : `\n${(err.stack ?? '').split('\n').slice(1, 6).join('\n')}`}`;
  return String(err);
}

/** Runs `cases` cases of a target (setup and teardown included). */
export async function runTarget<T>(target: Target<T>, options: RunOptions): Promise<RunResult> {
  await target.setup();
  const watch = processWatch();
  let done = 0;
  let slowest = 0;
  const started = performance.now();
  let lastReport = started;
  const progressMs = options.progressMs ?? 10_000;
  const timed = (input: T): Promise<number> => target.check(input);
  const property = fc.asyncProperty(target.arbitrary, async (input) => {
    done++;
    let ms = await timed(input);
    // A slow case can be a GC pause that garbage of earlier cases caused: measured twice more (with --expose-gc,
    // as npm run fuzz runs, after a collection) before it fails; the fastest time counts.
    for (let retry = 0; retry < 2 && ms > options.slowMs; retry++) {
      (globalThis as { gc?: () => void }).gc?.();
      ms = Math.min(ms, await timed(input));
    }
    slowest = Math.max(slowest, ms);
    if (ms > options.slowMs)
      violated('time', `case used ${ms.toFixed(0)} ms of CPU three times (limit ${options.slowMs} ms)`);
    // Events of this case surface after its microtasks: yield once so they are attributed to it.
    await new Promise<void>((resolve) => setImmediate(resolve));
    watch.check();
    const now = performance.now();
    if (options.onProgress && now - lastReport >= progressMs) {
      lastReport = now;
      options.onProgress(done, now - started);
    }
  });
  let details: fc.RunDetails<[T]>;
  try {
    details = await fc.check(property, {
      numRuns: options.cases,
      seed: options.seed,
      ...(options.path ? { path: options.path } : {}),
      ...(options.timeLimitMs
        ? { interruptAfterTimeLimit: options.timeLimitMs, markInterruptAsFailure: false }
        : {}),
    });
  } finally {
    watch.stop();
    await target.teardown();
  }
  const ms = performance.now() - started;
  const result: RunResult = {
    target: target.name,
    seed: options.seed,
    cases: done,
    ms,
    casesPerSec: done / (ms / 1000),
    slowestMs: slowest,
    interrupted: details.interrupted,
  };
  if (details.failed && details.counterexample) {
    result.failure = {
      path: details.counterexamplePath ?? '',
      counterexample: target.show(details.counterexample[0]),
      error: describeError(details.errorInstance),
    };
  } else if (details.failed) {
    result.failure = { path: '', counterexample: '(none)', error: describeError(details.errorInstance) };
  }
  return result;
}

/** The failure as the CLI and the vitest file print it, with the command that replays it. */
export function failureReport(r: RunResult): string {
  if (!r.failure) return '';
  return [
    `FAILURE in ${r.target}: ${r.failure.error}`,
    `counterexample: ${r.failure.counterexample}`,
    `replay: npm run fuzz -- --target ${r.target} --seed ${r.seed} --path ${r.failure.path}`,
  ].join('\n');
}
