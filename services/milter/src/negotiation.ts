/**
 * Option negotiation (SMFIC_OPTNEG): what hookgate agrees to from the MTA's offer, and which replies the agreement
 * lets it skip.
 */
import {
  Act,
  Cmd,
  MILTER_VERSION_MAX,
  MILTER_VERSION_MIN,
  NO_REPLY_STEPS,
  Proto,
  WANTED_ACTIONS,
  WANTED_PROTOCOL,
} from './constants.js';
import { MILTER_ERR, MilterProtocolError } from './errors.js';

/** What was agreed in OPTNEG. */
export interface Negotiated {
  version: number;
  actions: number;
  protocol: number;
}

/**
 * The agreement for an offer: the highest version both speak, the actions and steps hookgate wants that the MTA
 * offers (it refuses a milter that asks for more), no-reply steps when `noReply`, and a macro list (`symlist`) when
 * `requestMacros` and the MTA takes one. Throws for an MTA older than MILTER_VERSION_MIN.
 */
export function agree(
  offer: Negotiated,
  o: { requestMacros: boolean; noReply: boolean },
): { agreed: Negotiated; symlist: boolean } {
  if (offer.version < MILTER_VERSION_MIN) {
    throw new MilterProtocolError(
      MILTER_ERR.PROTOCOL,
      `MTA offers milter protocol version ${offer.version}; at least ${MILTER_VERSION_MIN} is needed`,
    );
  }
  const version = Math.min(offer.version, MILTER_VERSION_MAX);
  const symlist = o.requestMacros && version >= 6 && (offer.actions & Act.SETSYMLIST) !== 0;
  const agreed: Negotiated = {
    version,
    actions: (WANTED_ACTIONS | (symlist ? Act.SETSYMLIST : 0)) & offer.actions,
    protocol: (WANTED_PROTOCOL | (o.noReply ? NO_REPLY_STEPS : 0)) & offer.protocol,
  };
  return { agreed, symlist };
}

/** Which NR_* bit spares the reply to a command. */
const NO_REPLY_BIT: Readonly<Record<string, number>> = {
  [Cmd.CONNECT]: Proto.NR_CONN,
  [Cmd.HELO]: Proto.NR_HELO,
  [Cmd.MAIL]: Proto.NR_MAIL,
  [Cmd.RCPT]: Proto.NR_RCPT,
  [Cmd.DATA]: Proto.NR_DATA,
  [Cmd.UNKNOWN]: Proto.NR_UNKN,
  [Cmd.EOH]: Proto.NR_EOH,
  [Cmd.BODY]: Proto.NR_BODY,
  [Cmd.HEADER]: Proto.NR_HDR,
};

/** Whether the agreement spares the reply to `cmd` (the MTA then reads none). */
export function noReplyFor(negotiated: Negotiated | undefined, cmd: string): boolean {
  const bit = NO_REPLY_BIT[cmd];
  return bit !== undefined && negotiated !== undefined && (negotiated.protocol & bit) !== 0;
}

/** The options in hex, for the log. */
export function hex(o: Negotiated): Record<string, string | number> {
  return {
    version: o.version,
    actions: `0x${o.actions.toString(16)}`,
    protocol: `0x${o.protocol.toString(16)}`,
  };
}
