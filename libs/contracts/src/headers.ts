/**
 * A header value on one line: each line break before folding white space becomes one space (RFC 5322 §2.2.3,
 * leniently: LF alone counts), and the ends are trimmed. For values hookgate reads, such as the Subject.
 */
export function unfoldHeader(value: string): string {
  return value.replace(/\r?\n[ \t]+/g, ' ').trim();
}
