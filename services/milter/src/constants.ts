/**
 * The Sendmail milter protocol's numbers (libmilter's mfapi.h/mfdef.h), as hookgate speaks it: protocol versions 2
 * to 6. Every packet on the wire is `uint32 length (big-endian, counting the command byte) | command | data`.
 */

/** The highest protocol version hookgate speaks (Sendmail 8.14+, Postfix 2.6+). */
export const MILTER_VERSION_MAX = 6;
/** The lowest version accepted; Stalwart's milter client can be set to speak 2. */
export const MILTER_VERSION_MIN = 2;

/** Commands the MTA sends (SMFIC_*). */
export const Cmd = {
  ABORT: 'A',
  BODY: 'B',
  CONNECT: 'C',
  MACRO: 'D',
  BODYEOB: 'E',
  HELO: 'H',
  QUIT_NC: 'K',
  HEADER: 'L',
  MAIL: 'M',
  EOH: 'N',
  OPTNEG: 'O',
  QUIT: 'Q',
  RCPT: 'R',
  DATA: 'T',
  UNKNOWN: 'U',
} as const;
export type CommandCode = (typeof Cmd)[keyof typeof Cmd];

/** Names for logs, by command byte. */
export const COMMAND_NAMES: Readonly<Record<string, string>> = Object.fromEntries(
  Object.entries(Cmd).map(([name, code]) => [code, name]),
);

/** Replies the milter sends (SMFIR_*). */
export const Reply = {
  ADDRCPT: '+',
  DELRCPT: '-',
  ADDRCPT_PAR: '2',
  ACCEPT: 'a',
  REPLBODY: 'b',
  CONTINUE: 'c',
  DISCARD: 'd',
  CHGFROM: 'e',
  ADDHEADER: 'h',
  INSHEADER: 'i',
  CHGHEADER: 'm',
  OPTNEG: 'O',
  PROGRESS: 'p',
  QUARANTINE: 'q',
  REJECT: 'r',
  TEMPFAIL: 't',
  REPLYCODE: 'y',
} as const;
export type ReplyCode = (typeof Reply)[keyof typeof Reply];

/** Actions the milter may take (SMFIF_*): the MTA offers them in OPTNEG, the milter picks a subset. */
export const Act = {
  ADDHDRS: 0x01,
  CHGBODY: 0x02,
  ADDRCPT: 0x04,
  DELRCPT: 0x08,
  CHGHDRS: 0x10,
  QUARANTINE: 0x20,
  CHGFROM: 0x40,
  ADDRCPT_PAR: 0x80,
  SETSYMLIST: 0x100,
} as const;

/**
 * Protocol steps (SMFIP_*). `NO*` bits ask the MTA not to send a command; `NR_*` bits say the milter will not
 * reply to it (v6); `HDR_LEADSPC` passes header values with their leading whitespace.
 */
export const Proto = {
  NOCONNECT: 0x1,
  NOHELO: 0x2,
  NOMAIL: 0x4,
  NORCPT: 0x8,
  NOBODY: 0x10,
  NOHDRS: 0x20,
  NOEOH: 0x40,
  NR_HDR: 0x80,
  NOUNKNOWN: 0x100,
  NODATA: 0x200,
  SKIP: 0x400,
  RCPT_REJ: 0x800,
  NR_CONN: 0x1000,
  NR_HELO: 0x2000,
  NR_MAIL: 0x4000,
  NR_RCPT: 0x8000,
  NR_DATA: 0x10000,
  NR_UNKN: 0x20000,
  NR_EOH: 0x40000,
  NR_BODY: 0x80000,
  HDR_LEADSPC: 0x100000,
} as const;

/** Macro stages for the symbol list sent with the OPTNEG reply (SMFIM_*, v6 with SMFIF_SETSYMLIST). */
export const MacroStage = {
  CONNECT: 0,
  HELO: 1,
  ENVFROM: 2,
  ENVRCPT: 3,
  DATA: 4,
  EOM: 5,
  EOH: 6,
} as const;

/**
 * The macros hookgate asks for, per stage: server identity, TLS, SASL login, queue id, and the addresses as the MTA
 * parsed them. Postfix ignores names it does not know.
 */
export const WANTED_MACROS: Readonly<Record<number, string>> = {
  [MacroStage.CONNECT]: 'j {daemon_name} {daemon_addr} {daemon_port} {client_ptr}',
  [MacroStage.HELO]: '{tls_version} {cipher}',
  [MacroStage.ENVFROM]: 'i {auth_type} {auth_authen} {mail_addr}',
  [MacroStage.ENVRCPT]: 'i {rcpt_addr}',
  [MacroStage.DATA]: 'i',
  [MacroStage.EOH]: 'i',
  [MacroStage.EOM]: 'i',
};

/** Every action hookgate can use; what is actually granted is this AND what the MTA offered. */
export const WANTED_ACTIONS =
  Act.ADDHDRS |
  Act.CHGBODY |
  Act.ADDRCPT |
  Act.DELRCPT |
  Act.CHGHDRS |
  Act.QUARANTINE |
  Act.CHGFROM |
  Act.ADDRCPT_PAR;

/** Always asked for when offered: header values with their leading space, for the exact message bytes. */
export const WANTED_PROTOCOL = Proto.HDR_LEADSPC;

/**
 * Steps that carry no decision (headers, body chunks, end of headers, DATA, unknown commands), left unanswered
 * when `noReply` is on. Off by default: Postfix then writes those packets back to back on a socket without
 * TCP_NODELAY, and Nagle's algorithm against the milter's delayed ACK stalls each burst ~40 ms (measured: 18 vs
 * 72 messages/s at concurrency 1, 126 vs 191 at 8, Postfix 3.7.11 on loopback). A reply per packet costs less.
 */
export const NO_REPLY_STEPS = Proto.NR_HDR | Proto.NR_BODY | Proto.NR_EOH | Proto.NR_DATA | Proto.NR_UNKN;

/** Body replacement chunks: libmilter's MILTER_CHUNK_SIZE, so no MTA sees a larger SMFIR_REPLBODY packet. */
export const BODY_CHUNK_BYTES = 65_535;

/** Bytes in a packet's length prefix. */
export const LENGTH_BYTES = 4;
