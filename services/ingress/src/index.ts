export { buildApp, type IngressDeps } from './app.js';
export { authenticate, type AuthConfig, type AuthResult } from './plugins/auth.js';
export { fromStalwart, toStalwart, reconstructMessage, stalwartSessionId, type StalwartSettings } from './adapters/stalwart.js';
export { responseEncoding } from './plugins/encoding.js';
