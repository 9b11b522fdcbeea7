/**
 * Spam scanner plugins: Rspamd (`POST /checkv2`) and SpamAssassin (spamd, SPAMC/1.5). Each is its own scanner
 * with its own config; a deployment runs either or both.
 */
export { rspamdScanner } from './rspamd/scanner.js';
export { RspamdConfigSchema, type RspamdConfig, type RspamdScannerConfig } from './rspamd/config.js';
export { rspamdRegistration } from './rspamd/registration.js';
export {
  checkRspamd,
  pingRspamd,
  type RspamdResult,
  type RspamdSymbol,
  type RspamdMilter,
  type RspamdMilterHeader,
  type RspamdHeaders,
  type RspamdRequestOptions,
} from './rspamd/client.js';
export { rspamdHeaders } from './rspamd/headers.js';
export { mapRspamdResult, topSymbols, engineReply, type RspamdMappingConfig } from './rspamd/mapping.js';
export { milterModifications } from './rspamd/milter.js';

export { spamdScanner, mapSpamdResult, type SpamdMappingConfig } from './spamd/scanner.js';
export { SpamdConfigSchema, type SpamdConfig, type SpamdScannerConfig } from './spamd/config.js';
export { spamdRegistration } from './spamd/registration.js';
export {
  spamdCheck,
  spamdPing,
  parseSpamdReply,
  parseSpamHeader,
  parseSymbols,
  parseReport,
  spamdRequest,
  SpamdStatusError,
  type SpamdCommand,
  type SpamdReply,
  type SpamdResult,
  type SpamdCheckOptions,
} from './spamd/protocol.js';

export { indexHeaders, UNKNOWN_HEADERS, type HeaderIndex } from './message.js';
export { ScanAbortedError } from './abort.js';
