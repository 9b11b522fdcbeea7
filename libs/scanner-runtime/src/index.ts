export { ScannerRuntime, describeError, type HostedScanner, type ScannerRuntimeOptions } from './runtime.js';
