/** The envelope and facts `hookgate scan` gives a message from a file: From:, To: and Cc:, Subject:. */
import { unfoldHeader } from '@hookgate/contracts';

type Header = [string, string];

/** Header fields with raw values (leading space, folding and line end kept, as Stalwart sends them) and the body. */
export function splitMessage(bytes: Buffer): { headers: Header[]; body: string } {
  const text = bytes.toString('utf8');
  const end = /\r?\n\r?\n/.exec(text);
  // The header part keeps its last line end; the empty line between header and body is not part of it.
  const headPart = end ? text.slice(0, end.index + end[0].length - (end[0].endsWith('\r\n') ? 2 : 1)) : text;
  const body = end ? text.slice(end.index + end[0].length) : '';
  const headers: Header[] = [];
  for (const raw of headPart.split(/(?<=\n)(?=[^ \t])/)) {
    const colon = raw.indexOf(':');
    if (colon > 0) headers.push([raw.slice(0, colon), raw.slice(colon + 1)]);
  }
  return { headers, body };
}

const ADDRESS = /[^\s<>,;:"()]+@[^\s<>,;:"()]+/g;

function addressesOf(headers: Header[], names: string[]): string[] {
  return headers
    .filter(([n]) => names.includes(n.toLowerCase()))
    .flatMap(([, v]) => v.match(ADDRESS) ?? [])
    .map((a) => a.toLowerCase());
}

export interface Envelope {
  from: string;
  to: string[];
  subject?: string;
}

/** From: is the sender (policy rules may match its domain), To: and Cc: the recipients, unless given. */
export function envelopeOf(headers: Header[], overrides: { from?: string; to?: string[] }): Envelope {
  const to = overrides.to ?? addressesOf(headers, ['to', 'cc']);
  const subject = headers.find(([n]) => n.toLowerCase() === 'subject')?.[1];
  return {
    from: overrides.from ?? addressesOf(headers, ['from'])[0] ?? '',
    to: to.length ? to : ['postmaster@localhost'],
    ...(subject !== undefined ? { subject: unfoldHeader(subject) } : {}),
  };
}
