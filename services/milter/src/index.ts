/**
 * The milter frontend: Postfix and Sendmail (and Stalwart's milter client) speak the milter protocol to hookgate,
 * and every session runs through the same stage pipeline as the HTTP frontends. No libmilter: the protocol is
 * implemented here, versions 2 to 6.
 */
export { MilterServer, type MilterServerOptions } from './server.js';
export {
  MilterSession,
  type SessionOptions,
  type SessionIO,
  type StageRunner,
  type MilterLogger,
  type Negotiated,
} from './session.js';
export {
  MilterConfigSchema,
  MILTER_STAGES,
  parseListen,
  formatListen,
  type MilterConfig,
  type ListenTarget,
} from './config.js';
export {
  toIncoming,
  toEnvelopeAddress,
  assembleMessage,
  subjectOf,
  verdictReplies,
  replyLine,
  quarantineReason,
  type MilterEnvelope,
  type RawHeader,
  type ReplyContext,
  type MilterAnswer,
} from './adapter.js';
export {
  FrameDecoder,
  encodeFrame,
  splitStrings,
  parseOptneg,
  parseMacros,
  parseConnect,
  parseEnvelope,
  parseHeader,
  encodeOptnegReply,
  encodeReplyCode,
  encodeReplaceBody,
  type Frame,
  type Optneg,
  type ConnectInfo,
} from './codec.js';
export {
  Cmd,
  Reply,
  Act,
  Proto,
  MacroStage,
  WANTED_ACTIONS,
  WANTED_PROTOCOL,
  NO_REPLY_STEPS,
  WANTED_MACROS,
  MILTER_VERSION_MAX,
  MILTER_VERSION_MIN,
} from './constants.js';
export { MILTER_ERR, MilterProtocolError, type MilterErrorCode } from './errors.js';
