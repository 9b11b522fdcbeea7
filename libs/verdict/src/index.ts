export {
  decide,
  applyOverride,
  scannerPolicy,
  type FailureSettings,
  fallbackVerdict,
  DEFAULT_REPLIES,
  PLAIN_BANK,
  type DecideInput,
  type Decision,
  type DefaultReplies,
} from './decide.js';
export { compileRules, selectPolicy, matches, type CompiledRule } from './select.js';
