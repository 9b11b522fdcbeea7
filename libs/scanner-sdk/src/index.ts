export type { Scanner, ScanInput, ScanContext, InitContext, ScanLogger } from './scanner.js';
export { noopScanner, noopRegistration, NoopConfigSchema } from './noop.js';
export {
  defineScanner,
  type ScannerRegistration,
  type ScannerHost,
  type ScannerConfigBase,
  type ScannerConfigProblem,
} from './registration.js';
export { EngineUnavailableError, EngineProtocolError } from './errors.js';
export { parseEndpoint, formatEndpoint, type Endpoint } from './endpoint.js';
export { runScan, SCAN_MARGIN_MS, type RunScanOptions } from './run.js';
export { tooLarge } from './limits.js';
