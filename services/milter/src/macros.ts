/**
 * The macros an MTA sends before each command ({client_ptr}, j, {daemon_addr}, {auth_authen}, i, ...), kept per
 * command for the current SMTP session and transaction, and the envelope facts hookgate reads from them.
 */
import { Cmd } from './constants.js';
import type { MilterEnvelope } from './adapter.js';

/** Macros of a transaction: cleared when it ends. */
const TRANSACTION_MACROS = [Cmd.MAIL, Cmd.RCPT, Cmd.DATA, Cmd.HEADER, Cmd.EOH, Cmd.BODY, Cmd.BODYEOB];
/** Lookup order: the most recent stage first. */
const MACRO_ORDER = [
  Cmd.BODYEOB,
  Cmd.EOH,
  Cmd.BODY,
  Cmd.HEADER,
  Cmd.DATA,
  Cmd.RCPT,
  Cmd.MAIL,
  Cmd.HELO,
  Cmd.CONNECT,
];

export class Macros {
  #byCommand = new Map<string, Map<string, string>>();

  /** The macros sent for command `forCmd` (they replace earlier ones for it). */
  set(forCmd: string, macros: Map<string, string>): void {
    this.#byCommand.set(forCmd, macros);
  }

  /** A macro's most recent non-empty value. */
  get(name: string): string | undefined {
    for (const cmd of MACRO_ORDER) {
      const v = this.#byCommand.get(cmd)?.get(name);
      if (v !== undefined && v !== '') return v;
    }
    return undefined;
  }

  /**
   * The transaction ends (`ended`: ABORT or end of session) or a new one starts with MAIL. MAIL's own macros arrive
   * just before MAIL: a new transaction keeps them, an ended one drops them.
   */
  endTransaction(ended: boolean): void {
    for (const cmd of TRANSACTION_MACROS) if (ended || cmd !== Cmd.MAIL) this.#byCommand.delete(cmd);
  }

  /** A new SMTP session on the same connection: everything goes but the macros of `keepFor` (just received). */
  newSession(keepFor?: string): void {
    const keep = keepFor ? this.#byCommand.get(keepFor) : undefined;
    this.#byCommand = new Map(keep ? [[keepFor!, keep]] : []);
  }

  /** What the macros say about the server, TLS, authentication and the queue id. */
  envelopeFacts(): Pick<MilterEnvelope, 'server' | 'tls' | 'auth' | 'queueId'> {
    const server = {
      ...(this.get('j') ? { name: this.get('j')! } : {}),
      ...(this.get('{daemon_addr}') ? { ip: this.get('{daemon_addr}')! } : {}),
      ...(Number(this.get('{daemon_port}')) > 0 ? { port: Number(this.get('{daemon_port}')) } : {}),
    };
    const tlsVersion = this.get('{tls_version}');
    const cipher = this.get('{cipher}');
    const login = this.get('{auth_authen}');
    const method = this.get('{auth_type}');
    const queueId = this.get('i');
    return {
      ...(Object.keys(server).length > 0 ? { server } : {}),
      ...(tlsVersion || cipher
        ? { tls: { ...(tlsVersion ? { version: tlsVersion } : {}), ...(cipher ? { cipher } : {}) } }
        : {}),
      ...(login ? { auth: { login, ...(method ? { method } : {}) } } : {}),
      ...(queueId ? { queueId } : {}),
    };
  }
}
