import { encode, decode } from '@msgpack/msgpack';
import { ERR, HookgateError } from '@hookgate/contracts';

/** msgpack in, msgpack out. Values carry `v`; anything else read back from Redis is rejected (trust boundary). */
export function pack(value: unknown): Buffer {
  const bytes = encode(value, { ignoreUndefined: true });
  return Buffer.from(bytes.buffer, bytes.byteOffset, bytes.byteLength);
}

export function unpack<T extends { v: number }>(
  bytes: Uint8Array,
  what: string,
  check: (x: Record<string, unknown>) => boolean,
): T {
  let value: unknown;
  try {
    value = decode(bytes);
  } catch (cause) {
    throw new HookgateError(ERR.STORE_CORRUPT, `${what} in Redis is not valid msgpack`, { cause });
  }
  if (
    typeof value !== 'object' ||
    value === null ||
    (value as { v?: unknown }).v !== 1 ||
    !check(value as Record<string, unknown>)
  ) {
    throw new HookgateError(ERR.STORE_CORRUPT, `${what} in Redis has an unexpected shape or version`);
  }
  return value as T;
}
