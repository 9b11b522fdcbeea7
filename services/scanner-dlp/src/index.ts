/**
 * @hookgate/scanner-dlp: the built-in data loss prevention scanner. `dlpScanner` is the plugin; `DlpEngine` is the
 * engine on its own (used by the benchmark); `DlpConfigSchema` / `resolveDlpConfig` / `validateDlpRules` are for
 * the config loader.
 */
export { dlpScanner } from './scanner.js';
export { dlpRegistration, DlpScannerSettingsSchema } from './registration.js';
export { DlpEngine, type DlpFinding, type DlpReport, type InspectOptions } from './engine.js';
export {
  DlpConfigSchema,
  OperatorRuleSchema,
  severityRank,
  SEVERITIES,
  ENFORCE_MODES,
  DLP_STAGES,
  type DlpScannerConfig,
  type DlpConfigProblem,
  type OperatorRule,
  type Severity,
  type EnforceMode,
} from './config.js';
export { resolveDlpConfig, validateDlpRules, dlpConfigError } from './validate.js';
export { decideOutcome, notInspectedSymbols, type Direction } from './policy.js';
export { classifyPart, type NotInspected, type NotInspectedReason } from './mime/classify.js';
export { decodeText } from './mime/decode.js';
export { BUILTIN_RULES, type BuiltinRuleId } from './detectors/types.js';
export { luhnValid, cardIssuer, isCardNumber } from './detectors/cards.js';
export { ibanMod97, isIban, IBAN_LENGTHS } from './detectors/iban.js';
export { isSsn } from './detectors/ssn.js';
export { isJwt } from './detectors/secrets.js';
