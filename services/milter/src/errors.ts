/**
 * The milter frontend's error codes. A protocol error ends that one milter connection (with a log line); it never
 * reaches another session.
 */
import { HookgateError } from '@hookgate/contracts';

export const MILTER_ERR = {
  /** A packet announced more bytes than `maxFrameBytes`. */
  FRAME_TOO_LARGE: 'HOOKGATE_ERR_MILTER_FRAME_TOO_LARGE',
  /** A packet was empty or its data did not parse for its command. */
  MALFORMED: 'HOOKGATE_ERR_MILTER_MALFORMED',
  /** A command byte hookgate does not know. */
  UNKNOWN_COMMAND: 'HOOKGATE_ERR_MILTER_UNKNOWN_COMMAND',
  /** A command out of order (e.g. anything before option negotiation) or an unsupported protocol version. */
  PROTOCOL: 'HOOKGATE_ERR_MILTER_PROTOCOL',
} as const;
export type MilterErrorCode = (typeof MILTER_ERR)[keyof typeof MILTER_ERR];

/** A violation of the milter protocol by the peer: the connection is closed. */
export class MilterProtocolError extends HookgateError {
  constructor(code: MilterErrorCode, message: string) {
    super(code, message);
    this.name = 'MilterProtocolError';
  }
}
