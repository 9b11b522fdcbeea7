/**
 * The milter frontend's error codes (entries `MILTER_*` of the catalogue in @hookgate/contracts). A protocol error
 * ends that one milter connection (with a log line); it never reaches another session.
 */
import { ERR, HookgateError } from '@hookgate/contracts';

export const MILTER_ERR = {
  FRAME_TOO_LARGE: ERR.MILTER_FRAME_TOO_LARGE,
  MALFORMED: ERR.MILTER_MALFORMED,
  UNKNOWN_COMMAND: ERR.MILTER_UNKNOWN_COMMAND,
  PROTOCOL: ERR.MILTER_PROTOCOL,
} as const;
export type MilterErrorCode = (typeof MILTER_ERR)[keyof typeof MILTER_ERR];

/** A violation of the milter protocol by the peer: the connection is closed. */
export class MilterProtocolError extends HookgateError {
  constructor(code: MilterErrorCode, message: string) {
    super(code, message);
    this.name = 'MilterProtocolError';
  }
}
