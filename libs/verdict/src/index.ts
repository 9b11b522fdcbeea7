export { decide, fallbackVerdict, DEFAULT_REPLIES, type DecideInput, type Decision, type DefaultReplies } from './decide.js';
