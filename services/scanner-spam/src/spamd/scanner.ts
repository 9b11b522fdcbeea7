import type { Modification, ScanOutcome } from '@hookgate/contracts';
import { formatEndpoint, parseEndpoint, tooLarge, type Scanner } from '@hookgate/scanner-sdk';
import { indexHeaders, safeName, UNKNOWN_HEADERS } from '../message.js';
import { dedupe, replaceHeader } from '../modifications.js';
import { withDefaults } from '../schema.js';
import { SpamdConfigSchema, type SpamdConfig, type SpamdScannerConfig } from './config.js';
import { spamdCheck, spamdPing, SpamdStatusError, type SpamdResult } from './protocol.js';

/** The config keys the mapping uses. */
export type SpamdMappingConfig = Pick<
  SpamdConfig,
  'action' | 'reply' | 'spamHeader' | 'statusHeader' | 'scoreHeader' | 'maxSymbols'
>;

/** SpamAssassin's own formatting: one decimal. */
const fmt = (n: number) => n.toFixed(1);

/**
 * Maps a spamd verdict to an outcome: spam → fail (configured action and reply), else pass; headers as
 * configured. Pure, for tests and the bench.
 */
export function mapSpamdResult(
  result: SpamdResult,
  config: SpamdMappingConfig,
  message?: Uint8Array,
): ScanOutcome {
  const headers = message ? indexHeaders(message) : UNKNOWN_HEADERS;
  const names = result.rules.slice(0, config.maxSymbols).map((r) => safeName(r.name));
  const mods: Modification[] = [];
  if (result.isSpam && config.spamHeader)
    mods.push(...replaceHeader(config.spamHeader.name, config.spamHeader.value, headers));
  if (config.statusHeader) {
    const tests = names.length > 0 ? names.join(',') : 'none';
    const value = `${result.isSpam ? 'Yes' : 'No'}, score=${fmt(result.score)} required=${fmt(result.threshold)} tests=${tests}`;
    mods.push(...replaceHeader(config.statusHeader, value, headers));
  }
  if (config.scoreHeader) mods.push(...replaceHeader(config.scoreHeader, fmt(result.score), headers));
  const modifications = dedupe(mods);
  const withMods = modifications.length > 0 ? { modifications } : {};
  if (!result.isSpam) return { status: 'pass', score: result.score, symbols: names, ...withMods };
  return {
    status: 'fail',
    category: 'spam',
    action: config.action,
    names,
    score: result.score,
    ...(config.action === 'reject' ? { reply: config.reply } : {}),
    // Kept only if the message goes on (quarantine): then the copy says why.
    ...withMods,
  };
}

/**
 * The SpamAssassin scanner: spamd's SYMBOLS (or REPORT) over TCP or a Unix socket. Engine failures throw, and
 * a non-zero EX_ code is an explicit error result: never a silent clean. Missing keys take the schema defaults.
 */
export function spamdScanner(input: SpamdScannerConfig): Scanner {
  const config = withDefaults(SpamdConfigSchema, input, 'spamd');
  const endpoint = parseEndpoint(input.endpoint);
  return {
    id: 'spamd',
    kind: 'spam',
    stages: config.stages,
    describe: () => `spamd at ${formatEndpoint(endpoint)}`,
    async init({ log }) {
      if (!(await spamdPing(endpoint, { timeoutMs: 3000 })))
        throw new Error(`spamd at ${formatEndpoint(endpoint)} did not answer PONG`);
      log.info({ engine: 'spamd', endpoint: formatEndpoint(endpoint) }, 'spamd reachable');
    },
    shouldScan: (input) => (input.message ? null : 'no message at this stage'),
    // spamd sees only the bytes (and the User: preferences), never the envelope: cacheable by content.
    cacheKey: () => config.user ?? '',
    async scan(input, ctx): Promise<ScanOutcome> {
      const message = input.message!;
      const over = tooLarge(message, config.maxMessageBytes, 'maxMessageBytes');
      if (over) return over;
      try {
        const { command, user, timeoutMs } = config;
        const result = await spamdCheck(endpoint, message, { command, user, timeoutMs, signal: ctx.signal });
        return mapSpamdResult(result, config, message);
      } catch (err) {
        if (err instanceof SpamdStatusError)
          return { status: 'error', code: err.code, message: err.message, retryable: err.retryable };
        throw err;
      }
    },
  };
}
