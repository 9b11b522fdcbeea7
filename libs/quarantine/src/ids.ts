import { randomBytes } from 'node:crypto';

const TIME_CHARS = 9;
const RANDOM_ALPHABET = 'abcdefghijklmnopqrstuvwxyz234567';
const RANDOM_CHARS = 10;
const ID = /^[0-9a-z]{9}[a-z2-7]{10}$/;

/**
 * A quarantine id: the keeping time in base 36 (fixed width, so ids sort by time) and 50 random bits, lower-case
 * letters and digits only (safe in an SMTP reply, a URL and a file name), e.g. `mj4x2c1k0qh3vw7zbn2`. Because the
 * time is in the id, an id whose item is gone can be told apart: expired (410) or never kept (404).
 */
export function newId(now: number): string {
  const bytes = randomBytes(RANDOM_CHARS);
  let random = '';
  for (const b of bytes) random += RANDOM_ALPHABET[b & 31];
  return now.toString(36).padStart(TIME_CHARS, '0').slice(-TIME_CHARS) + random;
}

export function isId(id: string): boolean {
  return ID.test(id);
}

/** When the item was kept, from its id (epoch ms). */
export function idTime(id: string): number {
  return parseInt(id.slice(0, TIME_CHARS), 36);
}
