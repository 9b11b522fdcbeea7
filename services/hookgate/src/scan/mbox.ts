/**
 * mbox reading (RFC 4155): messages separated by `From ` lines at the start of the file or after an empty line;
 * `>From `, `>>From ` … lines are unescaped by one `>` (mboxrd, which also undoes mboxo's `>From ` quoting). Streams:
 * one message in memory at a time, whatever the size of the file.
 */

const FROM = Buffer.from('From ');

/** Whether the bytes start like an mbox file. */
export function looksLikeMbox(head: Uint8Array): boolean {
  return Buffer.from(head.buffer, head.byteOffset, Math.min(head.byteLength, 5)).equals(FROM);
}

/** Lines with their endings, from a stream of chunks. */
async function* lines(chunks: AsyncIterable<Buffer | Uint8Array | string>): AsyncGenerator<Buffer> {
  let rest: Buffer = Buffer.alloc(0);
  for await (const chunk of chunks) {
    const b = typeof chunk === 'string' ? Buffer.from(chunk, 'latin1') : Buffer.from(chunk);
    let buf = rest.length ? Buffer.concat([rest, b]) : b;
    let nl: number;
    while ((nl = buf.indexOf(0x0a)) >= 0) {
      yield buf.subarray(0, nl + 1);
      buf = buf.subarray(nl + 1);
    }
    rest = Buffer.from(buf);
  }
  if (rest.length) yield rest;
}

const isBlank = (line: Buffer) =>
  line.length === 0 ||
  (line.length === 1 && line[0] === 0x0a) ||
  (line.length === 2 && line[0] === 0x0d && line[1] === 0x0a);

/** `>+From ` → one `>` less. */
function unescape(line: Buffer): Buffer {
  if (line[0] !== 0x3e) return line;
  let i = 0;
  while (line[i] === 0x3e) i++;
  return line.subarray(i, i + 5).equals(FROM) ? line.subarray(1) : line;
}

/**
 * The messages of an mbox stream, without their `From ` separator lines and without the empty line that ends each
 * message in the file (it belongs to the separator). Content before the first separator is not a message.
 */
export async function* splitMbox(
  chunks: AsyncIterable<Buffer | Uint8Array | string>,
): AsyncGenerator<Buffer> {
  let current: Buffer[] | undefined;
  let prevBlank = true;
  for await (const line of lines(chunks)) {
    if (prevBlank && line.subarray(0, 5).equals(FROM)) {
      if (current) yield finish(current);
      current = [];
      prevBlank = false;
      continue;
    }
    prevBlank = isBlank(line);
    current?.push(unescape(line));
  }
  if (current) yield finish(current);
}

function finish(parts: Buffer[]): Buffer {
  if (parts.length > 0 && isBlank(parts[parts.length - 1]!)) parts.pop();
  return Buffer.concat(parts);
}
