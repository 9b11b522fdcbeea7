export { clamavScanner, type ClamavScannerConfig } from './clamd/scanner.js';
export { ClamavConfigSchema, type ClamavConfig } from './clamd/config.js';
export { clamavRegistration } from './clamd/registration.js';
export { ClamdClient, parseClamdReply, type ClamdReply } from './clamd/protocol.js';
