/**
 * `hookgate scan [--url URL] [--local] [--json] PATH...`: checks .eml files, folders of them and mbox files (or
 * standard input, `-`) through a running hookgate or in this process, and reports per message and in sum. The
 * operator's way to try a policy change on real mail before deploying it (docs/operations.md).
 */
import { parseArgs } from 'node:util';
import type { Readable } from 'node:stream';
import { ConfigError } from '@hookgate/config';
import { createLogger } from '@hookgate/logger';
import { loadConfig } from '../config.js';
import { collect, messages, type Message } from './sources.js';
import {
  exitCode,
  line,
  ProgressBar,
  summarize,
  summaryText,
  type Output,
  type ScannedMessage,
} from './report.js';
import { remoteScanner } from './remote.js';
import { localScanner } from './local.js';
import { errorMessage } from '@hookgate/contracts';

export const SCAN_USAGE = `usage: hookgate scan [--url URL | --local] [--json] [--from ADDR] [--to ADDR,...] [--concurrency N] PATH...

  PATH            an .eml file, an mbox file, a directory (its .eml and .mbox files and Maildir cur/ and new/
                  folders), or - for standard input (one message or an mbox)
  --url URL       send each message to the hookgate at URL (its Stalwart endpoint), with the credentials of
                  HOOKGATE_AUTH_TOKENS or HOOKGATE_AUTH_BASIC; with HOOKGATE_ADMIN_TOKENS set, reasons and scanner
                  timings are read back from the admin API. Quarantine verdicts there keep the message.
  --local         run the configured scanners and policy in this process (a private Redis; nothing is kept)
  --json          one JSON document on standard output: every message and the summary
  --from, --to    the envelope (default: the From:, To: and Cc: headers of each message)
  --concurrency   messages in flight at once (default 4)

exit status: 0 every message accepted, 1 at least one refused (reject, tempfail, discard, quarantine),
2 at least one could not be scanned, or bad usage`;

export interface ScanIO {
  env: NodeJS.ProcessEnv;
  stdin: Readable;
  stdout: Output;
  stderr: Output;
}

export async function runScan(argv: string[], io: ScanIO): Promise<number> {
  let parsed;
  try {
    parsed = parseArgs({
      args: argv,
      allowPositionals: true,
      options: {
        url: { type: 'string' },
        local: { type: 'boolean' },
        json: { type: 'boolean' },
        from: { type: 'string' },
        to: { type: 'string' },
        concurrency: { type: 'string' },
        'timeout-ms': { type: 'string' },
        help: { type: 'boolean', short: 'h' },
      },
    });
  } catch (err) {
    io.stderr.write(`hookgate scan: ${(err as Error).message}\n${SCAN_USAGE}\n`);
    return 2;
  }
  const { values: o, positionals: paths } = parsed;
  if (o.help) {
    io.stdout.write(`${SCAN_USAGE}\n`);
    return 0;
  }
  const fail = (why: string) => {
    io.stderr.write(`hookgate scan: ${why}\n${SCAN_USAGE}\n`);
    return 2;
  };
  if (paths.length === 0) return fail('give at least one file, directory or - (standard input)');
  if (Boolean(o.url) === Boolean(o.local)) return fail('give exactly one of --url URL or --local');
  if (o.url && !/^https?:\/\/\S+$/.test(o.url)) return fail('--url must be an http:// or https:// URL');
  const concurrency = o.concurrency === undefined ? 4 : Number(o.concurrency);
  if (!Number.isInteger(concurrency) || concurrency < 1 || concurrency > 256)
    return fail('--concurrency must be an integer from 1 to 256');
  const to = o.to
    ?.split(',')
    .map((s) => s.trim().toLowerCase())
    .filter(Boolean);

  let config;
  try {
    config = loadConfig(io.env);
  } catch (err) {
    io.stderr.write(`hookgate scan: ${err instanceof ConfigError ? err.message : String(err)}\n`);
    return 2;
  }
  const say = (s: string) => io.stderr.write(`hookgate scan: ${s}\n`);
  const inputs = await collect(paths);

  let scan: (label: string, bytes: Buffer) => Promise<ScannedMessage>;
  let close = async () => undefined as void;
  if (o.url) {
    scan = remoteScanner({
      url: o.url,
      config,
      ...(o.from !== undefined ? { from: o.from } : {}),
      ...(to ? { to } : {}),
      timeoutMs: Number(o['timeout-ms'] ?? config.stages.mtaTimeoutMs),
    });
  } else {
    // Warnings and errors of the in-process pipeline go to standard error, never into the report.
    const log = createLogger({ level: 'error', base: { role: 'scan' } }, process.stderr);
    try {
      const local = await localScanner(config, log, say, {
        ...(o.from !== undefined ? { from: o.from } : {}),
        ...(to ? { to } : {}),
      });
      if (!o.json) say(`scanning in this process with: ${local.active.join(', ') || 'no active scanner'}`);
      scan = (label, bytes) => local.scan(label, bytes);
      close = () => local.close();
    } catch (err) {
      say(`cannot start the local scanners: ${errorMessage(err)}`);
      return 2;
    }
  }

  const started = Date.now();
  const bar = io.stderr.isTTY ? new ProgressBar(io.stderr, inputs.totalBytes) : undefined;
  const progress = { bytes: 0, messages: 0, refused: 0, errors: 0 };
  const results: { seq: number; r: ScannedMessage }[] = [];
  // Lines come in input order, each as soon as every earlier message is done (scans finish out of order).
  const done = new Map<number, ScannedMessage>();
  let nextLine = 0;
  const print = (seq: number, r: ScannedMessage) => {
    if (o.json) return;
    done.set(seq, r);
    for (let m; (m = done.get(nextLine)) !== undefined; nextLine++) {
      done.delete(nextLine);
      // On a terminal only what needs attention gets a line; elsewhere every message does.
      if (bar && m.action === 'accept') continue;
      bar?.clear();
      io.stdout.write(`${line(m)}\n`);
    }
  };

  const source = messages(inputs, io.stdin, (n) => {
    progress.bytes += n;
    bar?.draw(progress);
  })[Symbol.asyncIterator]();
  let seq = 0;
  const worker = async () => {
    for (;;) {
      const next = await source.next();
      if (next.done) return;
      const n = seq++;
      const m = next.value;
      const r: ScannedMessage =
        'error' in m
          ? { label: m.label, reasons: [], scanners: [], durationMs: 0, error: m.error }
          : await scan(m.label, (m as Message).bytes);
      results.push({ seq: n, r });
      progress.messages++;
      if (!r.action) progress.errors++;
      else if (r.action !== 'accept') progress.refused++;
      print(n, r);
      bar?.draw(progress);
    }
  };
  try {
    await Promise.all(Array.from({ length: concurrency }, worker));
  } finally {
    await close();
  }
  bar?.draw(progress, true);
  bar?.clear();
  const ordered = results.sort((a, b) => a.seq - b.seq).map((x) => x.r);
  const summary = summarize(ordered, inputs.skipped, Date.now() - started);
  if (o.json) io.stdout.write(`${JSON.stringify({ messages: ordered, summary }, null, 2)}\n`);
  else io.stdout.write(summaryText(summary));
  return exitCode(summary);
}
