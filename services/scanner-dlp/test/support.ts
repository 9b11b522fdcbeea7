import type { StageRequest } from '@hookgate/contracts';
import type { ScanContext, ScanLogger } from '@hookgate/scanner-sdk';

/** A MIME part: header lines and an already-encoded body. */
export interface Part {
  headers: string[];
  body: string;
}

let boundaries = 0;

/** A leaf part; `body` is encoded as `encoding` says (base64 and quoted-printable are done here). */
export function leaf(
  type: string,
  body: string | Buffer,
  opts: {
    encoding?: '7bit' | '8bit' | 'base64' | 'quoted-printable';
    filename?: string;
    disposition?: string;
  } = {},
): Part {
  const encoding = opts.encoding ?? '7bit';
  const bytes = typeof body === 'string' ? Buffer.from(body, 'utf8') : body;
  const headers = [
    `Content-Type: ${type}${opts.filename ? `; name="${opts.filename}"` : ''}`,
    `Content-Transfer-Encoding: ${encoding}`,
  ];
  if (opts.filename || opts.disposition) {
    headers.push(
      `Content-Disposition: ${opts.disposition ?? 'attachment'}${opts.filename ? `; filename="${opts.filename}"` : ''}`,
    );
  }
  let encoded: string;
  if (encoding === 'base64') encoded = bytes.toString('base64').replace(/.{76}/g, '$&\r\n');
  else if (encoding === 'quoted-printable') encoded = qp(bytes);
  else encoded = bytes.toString('latin1').replace(/\r?\n/g, '\r\n');
  return { headers, body: encoded };
}

/** Quoted-printable with soft breaks every 60 encoded characters, so values get split across lines. */
export function qp(bytes: Buffer): string {
  let out = '';
  let col = 0;
  for (const b of bytes) {
    if (b === 0x0a) {
      out += '\r\n';
      col = 0;
      continue;
    }
    if (b === 0x0d) continue;
    const enc =
      (b >= 33 && b <= 126 && b !== 61) || b === 32
        ? String.fromCharCode(b)
        : `=${b.toString(16).toUpperCase().padStart(2, '0')}`;
    if (col + enc.length > 60) {
      out += '=\r\n';
      col = 0;
    }
    out += enc;
    col += enc.length;
  }
  return out;
}

export function multipart(subtype: string, parts: Part[]): Part {
  const b = `b${++boundaries}_test`;
  const body =
    parts.map((p) => `--${b}\r\n${p.headers.join('\r\n')}\r\n\r\n${p.body}\r\n`).join('') + `--${b}--`;
  return { headers: [`Content-Type: multipart/${subtype}; boundary="${b}"`], body };
}

/** A whole message around `root`, as bytes. */
export function eml(root: Part, subject = 'Test'): Uint8Array {
  const head = [
    'From: a@example.com',
    'To: b@example.org',
    `Subject: ${subject}`,
    'Date: Tue, 02 Jul 2024 09:00:00 +0000',
    'MIME-Version: 1.0',
  ];
  return Buffer.from(`${[...head, ...root.headers].join('\r\n')}\r\n\r\n${root.body}\r\n`, 'latin1');
}

/** A plain UTF-8 text message. */
export function textMessage(text: string, subject = 'Test'): Uint8Array {
  return eml(
    leaf('text/plain; charset=utf-8', text, {
      encoding: /^[\x00-\x7f]*$/.test(text) ? '7bit' : 'quoted-printable',
    }),
    subject,
  );
}

/** A data-stage request; `auth` makes it outbound. */
export function request(opts: { auth?: boolean; stage?: StageRequest['stage'] } = {}): StageRequest {
  return {
    v: 1,
    protocol: 'stalwart',
    stage: opts.stage ?? 'data',
    sessionId: 's1',
    txnId: 's1.1',
    reqId: 's1.1.data',
    client: { ip: '192.0.2.10' },
    ...(opts.auth ? { auth: { login: 'alice@example.com', method: 'PLAIN' } } : {}),
    receivedAt: 0,
    deadlineAt: Number.MAX_SAFE_INTEGER,
  };
}

/** A logger that keeps every line, to assert on what was logged. */
export function memoryLog(): ScanLogger & { lines: unknown[] } {
  const lines: unknown[] = [];
  const put = (obj: object, msg?: string) => void lines.push({ ...obj, msg });
  return { lines, debug: put, info: put, warn: put, error: put };
}

export function context(
  signal: AbortSignal = new AbortController().signal,
  log: ScanLogger = memoryLog(),
): ScanContext {
  return { signal, deadlineAt: Number.MAX_SAFE_INTEGER, log };
}

/** A Luhn-valid number from a prefix and length (deterministic filler digits). */
export function luhnNumber(prefix: string, length: number, filler = '7'): string {
  const partial = (prefix + filler.repeat(length)).slice(0, length - 1);
  let sum = 0;
  let double = true;
  for (let i = partial.length - 1; i >= 0; i--) {
    let d = Number(partial[i]);
    if (double) {
      d *= 2;
      if (d > 9) d -= 9;
    }
    sum += d;
    double = !double;
  }
  return partial + String((10 - (sum % 10)) % 10);
}
