/**
 * How many connections a process can hold: every socket is a file descriptor, and a process that runs out of them
 * can no longer accept, open a Redis connection or write a log file. Node has no API for RLIMIT_NOFILE, so the soft
 * limit is read from /proc/self/limits (what `ulimit -n` shows); elsewhere it is unknown.
 */
import { readFileSync } from 'node:fs';

/** Assumed when the limit cannot be read: the usual soft default (systemd, most distributions). */
export const ASSUMED_FILE_LIMIT = 1024;

/** Descriptors kept back from connections at least: Redis clients, engine sockets, stdio, the event loop. */
export const MIN_RESERVED_FILES = 64;

/** The share of the file limit connections may use when it is large; the rest is headroom. */
export const CONNECTION_SHARE = 0.8;

/**
 * The soft open-file limit of this process, or undefined if it cannot be read or is unlimited. `text` is the content
 * of /proc/self/limits (tests pass their own).
 */
export function openFileLimit(text?: string): number | undefined {
  let limits = text;
  if (limits === undefined) {
    try {
      limits = readFileSync('/proc/self/limits', 'utf8');
    } catch {
      return undefined;
    }
  }
  const m = /^Max open files\s+(\S+)/m.exec(limits);
  const soft = m ? Number(m[1]) : NaN;
  return Number.isSafeInteger(soft) && soft > 0 ? soft : undefined;
}

/**
 * Connections a listener may hold under `fileLimit`, with headroom for everything else the process opens: at most
 * 80% of the limit and at least 64 descriptors kept back (never below 16 connections).
 */
export function connectionBudget(fileLimit: number): number {
  const reserved = Math.max(MIN_RESERVED_FILES, Math.ceil(fileLimit * (1 - CONNECTION_SHARE)));
  return Math.max(16, fileLimit - reserved);
}
