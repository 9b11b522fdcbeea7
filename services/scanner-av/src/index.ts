export { clamavScanner, type ClamavScannerConfig } from './clamd/scanner.js';
export { ClamdClient, parseClamdReply, type ClamdReply } from './clamd/protocol.js';
