/** The header section of a message: bytes up to and including the first empty line (CRLF or LF). */
export function headerSection(message: Uint8Array, maxBytes = 65_536): Uint8Array {
  const n = Math.min(message.byteLength, maxBytes);
  for (let i = 0; i < n; i++) {
    if (message[i] !== 0x0a) continue;
    if (message[i + 1] === 0x0a) return message.subarray(0, i + 2);
    if (message[i + 1] === 0x0d && message[i + 2] === 0x0a) return message.subarray(0, i + 3);
  }
  return message.subarray(0, n);
}

/** Header fields as name/value pairs (unfolded), in order, for display. Values are decoded as UTF-8. */
export function parseHeaders(head: Uint8Array): { name: string; value: string }[] {
  const text = Buffer.from(head.buffer, head.byteOffset, head.byteLength).toString('utf8');
  const out: { name: string; value: string }[] = [];
  for (const line of text.split(/\r?\n/)) {
    if (line === '') break;
    if (/^[ \t]/.test(line) && out.length > 0) out[out.length - 1]!.value += ` ${line.trim()}`;
    else {
      const colon = line.indexOf(':');
      if (colon > 0) out.push({ name: line.slice(0, colon), value: line.slice(colon + 1).trim() });
    }
  }
  return out;
}
