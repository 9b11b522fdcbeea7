import {
  ERR,
  type Action,
  type Modification,
  type ScanOutcome,
  type SmtpReply,
  type Stage,
} from '@hookgate/contracts';
import { formatEndpoint, parseEndpoint, tooLarge, type Scanner } from '@hookgate/scanner-sdk';
import { ClamdClient } from './protocol.js';

export interface ClamavScannerConfig {
  /** `tcp://host:port` or a clamd socket path. */
  endpoint: string;
  stages: Stage[];
  /** Must not exceed clamd's StreamMaxLength; larger messages are reported unscanned (too large), never clean. */
  maxStreamBytes: number;
  chunkBytes: number;
  /** Keep connections to clamd open between scans (IDSESSION; default true); false = one connection per scan. */
  reuseConnections?: boolean;
  /** What a virus asks for: reject, quarantine or discard. */
  action: Extract<Action, 'reject' | 'quarantine' | 'discard'>;
  /** Reply on reject; `{virus}` in the text is replaced by the signature name. */
  reply: SmtpReply;
  /** Added to clean mail, e.g. X-Virus-Scanned; `null` adds nothing. */
  header: { name: string; value: string } | null;
}

/** Signature names are engine output, but keep replies and logs to a safe charset and length. */
function safeName(name: string): string {
  return name.replace(/[^\w.\-:/]/g, '_').slice(0, 100);
}

/** The ClamAV scanner: clamd INSTREAM over TCP or a Unix socket. */
export function clamavScanner(config: ClamavScannerConfig): Scanner {
  const endpoint = parseEndpoint(config.endpoint);
  const client = new ClamdClient(endpoint, config.chunkBytes, config.reuseConnections ?? true);
  const cleanMods: Modification[] = config.header
    ? [{ type: 'addHeader', name: config.header.name, value: config.header.value }]
    : [];
  return {
    id: 'clamav',
    kind: 'av',
    stages: config.stages,
    describe: () => `clamd at ${formatEndpoint(endpoint)}`,
    async init({ log }) {
      const version = await client.version(AbortSignal.timeout(3000));
      log.info({ engine: version, endpoint: formatEndpoint(endpoint) }, 'clamd reachable');
    },
    close: async () => client.close(),
    shouldScan: (input) => (input.message ? null : 'no message at this stage'),
    // A virus is a property of the bytes alone.
    cacheKey: () => '',
    async scan(input, ctx): Promise<ScanOutcome> {
      const bytes = input.message!;
      const over = tooLarge(bytes, config.maxStreamBytes, 'maxStreamBytes');
      if (over) return over;
      const reply = await client.instream(bytes, ctx.signal);
      switch (reply.kind) {
        case 'clean':
          return { status: 'pass', ...(cleanMods.length ? { modifications: cleanMods } : {}) };
        case 'found': {
          const name = safeName(reply.name);
          return {
            status: 'fail',
            category: 'virus',
            action: config.action,
            names: [name],
            reply: { ...config.reply, text: config.reply.text.replaceAll('{virus}', name) },
          };
        }
        case 'too-large':
          return { status: 'unscanned', reason: 'too-large', detail: 'clamd StreamMaxLength exceeded' };
        case 'error':
          return { status: 'error', code: ERR.SCAN_ENGINE_ERROR, message: reply.message, retryable: true };
      }
    },
  };
}
