import { ERR, HookgateError } from '@hookgate/contracts';

/** Thrown by scanners when the engine cannot be reached; the runtime records it as an `error` outcome. */
export class EngineUnavailableError extends HookgateError {
  constructor(message: string, cause?: unknown) {
    super(ERR.SCAN_ENGINE_UNAVAILABLE, message, { cause, retryable: true });
  }
}

/** Thrown by scanners when the engine answered something unexpected. */
export class EngineProtocolError extends HookgateError {
  constructor(message: string, cause?: unknown) {
    super(ERR.SCAN_PROTOCOL, message, { cause, retryable: false });
  }
}
