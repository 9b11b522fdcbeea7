/** Text that crosses into mail: header values hookgate reads, reply text it writes. */

/**
 * A header value on one line: each line break before folding white space becomes one space (RFC 5322 §2.2.3,
 * leniently: LF alone counts), and the ends are trimmed. For values hookgate reads, such as the Subject.
 */
export function unfoldHeader(value: string): string {
  return value.replace(/\r?\n[ \t]+/g, ' ').trim();
}

/**
 * Text for an SMTP reply, which MTAs write verbatim: one line (line breaks become spaces), printable ASCII (anything
 * else becomes `?`), at most `max` characters.
 */
export function smtpReplyText(text: string, max = 400): string {
  return text
    .replace(/[\r\n]+/g, ' ')
    .replace(/[^\x20-\x7e]/g, '?')
    .slice(0, max);
}
