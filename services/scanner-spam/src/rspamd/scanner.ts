import { ERR, HookgateError, type ScanOutcome } from '@hookgate/contracts';
import { tooLarge, type Scanner } from '@hookgate/scanner-sdk';
import { indexHeaders } from '../message.js';
import { withDefaults } from '../schema.js';
import { checkRspamd, pingRspamd } from './client.js';
import { RspamdConfigSchema, type RspamdScannerConfig } from './config.js';
import { rspamdHeaders } from './headers.js';
import { mapRspamdResult } from './mapping.js';

/** The URL without credentials, for logs and descriptions. */
function displayUrl(url: string): string {
  let u: URL;
  try {
    u = new URL(url);
  } catch {
    throw new HookgateError(ERR.CONFIG_INVALID, 'invalid rspamd config: url is not a URL');
  }
  u.username = '';
  u.password = '';
  return u.toString().replace(/\/$/, '');
}

/**
 * The Rspamd scanner: `POST /checkv2` with the envelope as headers; rspamd's action, score, symbols and milter
 * block become the outcome. Engine failures throw (EngineUnavailableError, EngineProtocolError, timeouts), so the
 * runtime records an error: never a silent clean. Missing keys take the schema defaults.
 */
export function rspamdScanner(input: RspamdScannerConfig): Scanner {
  const config = withDefaults(RspamdConfigSchema, input, 'rspamd');
  const url = input.url;
  const where = displayUrl(url);
  return {
    id: 'rspamd',
    kind: 'spam',
    stages: config.stages,
    describe: () => `rspamd at ${where}`,
    async init({ log }) {
      if (!(await pingRspamd(url, { timeoutMs: 3000 })))
        throw new Error(`rspamd at ${where} did not answer pong`);
      log.info({ engine: 'rspamd', url: where }, 'rspamd reachable');
    },
    shouldScan: (input) => (input.message ? null : 'no message at this stage'),
    // No cacheKey: rspamd scores the envelope (IP, HELO, PTR, sender, recipients) and keeps state (ratelimit,
    // greylisting, reputation), so the same bytes do not mean the same verdict.
    async scan(input, ctx): Promise<ScanOutcome> {
      const message = input.message!;
      const over = tooLarge(message, config.maxMessageBytes, 'maxMessageBytes');
      if (over) return over;
      const headers = rspamdHeaders(input.request, { password: config.password });
      const result = await checkRspamd(url, message, headers, {
        signal: ctx.signal,
        timeoutMs: config.timeoutMs,
      });
      return mapRspamdResult(result, config, indexHeaders(message));
    },
  };
}
