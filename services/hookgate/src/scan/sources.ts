/**
 * What `hookgate scan` reads: .eml files, directories of them (and Maildir cur/ and new/ folders, and .mbox files),
 * mbox files, or standard input (`-`), one message or an mbox. Yields one message at a time.
 */
import { createReadStream } from 'node:fs';
import { open, readdir, stat } from 'node:fs/promises';
import { basename, dirname, join } from 'node:path';
import type { Readable } from 'node:stream';
import { looksLikeMbox, splitMbox } from './mbox.js';
import { errorMessage } from '@hookgate/contracts';

export interface Message {
  /** File (and position in an mbox: `file#3`), or `-` for standard input. */
  label: string;
  bytes: Buffer;
}

export interface Unreadable {
  label: string;
  error: string;
}

export interface Inputs {
  /** Files that will be read, in order. */
  files: string[];
  /** Their total size, for the progress bar (standard input is not counted). */
  totalBytes: number;
  /** Files in the given directories that are not mail (other extensions): not scanned. */
  skipped: number;
  /** Arguments that do not exist or cannot be read. */
  missing: Unreadable[];
  stdin: boolean;
}

const MAIL_FILE = /\.(eml|mbox|mbx)$/i;

function inMaildir(path: string): boolean {
  const folder = basename(dirname(path));
  return (folder === 'cur' || folder === 'new') && !basename(path).startsWith('.');
}

/** Resolves the arguments to files (directories are walked, in name order). */
export async function collect(paths: readonly string[]): Promise<Inputs> {
  const out: Inputs = { files: [], totalBytes: 0, skipped: 0, missing: [], stdin: false };
  const walk = async (dir: string): Promise<void> => {
    const entries = (await readdir(dir, { withFileTypes: true })).sort((a, b) =>
      a.name.localeCompare(b.name),
    );
    for (const e of entries) {
      const p = join(dir, e.name);
      if (e.isDirectory()) await walk(p);
      else if (e.isFile() && (MAIL_FILE.test(e.name) || inMaildir(p))) {
        out.files.push(p);
        out.totalBytes += (await stat(p)).size;
      } else out.skipped++;
    }
  };
  for (const p of paths) {
    if (p === '-') {
      out.stdin = true;
      out.files.push('-');
      continue;
    }
    try {
      const s = await stat(p);
      if (s.isDirectory()) await walk(p);
      else {
        out.files.push(p);
        out.totalBytes += s.size;
      }
    } catch (err) {
      out.missing.push({
        label: p,
        error:
          (err as NodeJS.ErrnoException).code === 'ENOENT'
            ? 'no such file or directory'
            : (err as Error).message,
      });
    }
  }
  return out;
}

async function readAll(stream: AsyncIterable<Buffer | string>): Promise<Buffer> {
  const parts: Buffer[] = [];
  for await (const c of stream) parts.push(typeof c === 'string' ? Buffer.from(c) : c);
  return Buffer.concat(parts);
}

/** Peeks at the first bytes of a file. */
async function head(path: string): Promise<Buffer> {
  const h = await open(path, 'r');
  try {
    const b = Buffer.alloc(5);
    const { bytesRead } = await h.read(b, 0, 5, 0);
    return b.subarray(0, bytesRead);
  } finally {
    await h.close();
  }
}

/** Every message of the inputs, in order; a file that cannot be read yields one Unreadable. */
export async function* messages(
  inputs: Inputs,
  stdin: Readable,
  onBytes: (n: number) => void,
): AsyncGenerator<Message | Unreadable> {
  for (const m of inputs.missing) yield m;
  for (const file of inputs.files) {
    try {
      if (file === '-') {
        // Standard input: an mbox when it starts like one, else a single message.
        const iterator = stdin[Symbol.asyncIterator]() as AsyncIterator<Buffer>;
        const first = await iterator.next();
        if (first.done) {
          yield { label: '-', error: 'standard input is empty' };
          continue;
        }
        const rest = { [Symbol.asyncIterator]: () => iterator };
        async function* all(): AsyncGenerator<Buffer> {
          yield first.value as Buffer;
          for await (const c of rest) yield c;
        }
        if (looksLikeMbox(first.value as Buffer)) {
          let n = 0;
          for await (const bytes of splitMbox(all())) yield { label: `-#${++n}`, bytes };
        } else yield { label: '-', bytes: await readAll(all()) };
        continue;
      }
      const isMbox = looksLikeMbox(await head(file));
      const stream = createReadStream(file);
      stream.on('data', (c) => onBytes(c.length));
      if (isMbox) {
        let n = 0;
        for await (const bytes of splitMbox(stream)) yield { label: `${file}#${++n}`, bytes };
        if (n === 0) yield { label: file, error: 'an mbox file without messages' };
      } else {
        const bytes = await readAll(stream);
        yield bytes.length === 0 ? { label: file, error: 'empty file' } : { label: file, bytes };
      }
    } catch (err) {
      yield { label: file, error: errorMessage(err) };
    }
  }
}
