export type { Scanner, ScanInput, ScanContext, InitContext, ScanLogger } from './scanner.js';
export { noopScanner } from './noop.js';
export { EngineUnavailableError, EngineProtocolError } from './errors.js';
export { parseEndpoint, formatEndpoint, type Endpoint } from './endpoint.js';
export { runScan, SCAN_MARGIN_MS, type RunScanOptions } from './run.js';
