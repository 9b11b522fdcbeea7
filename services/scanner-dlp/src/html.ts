/** HTML to the text a reader would see, plus link targets (a webhook URL in an href is still a leak). */
import { compile } from 'html-to-text';

const blockFormat = { format: 'block', options: { leadingLineBreaks: 1, trailingLineBreaks: 1 } };

const convert = compile({
  // Wrapping and the table layout would split long tokens (JWTs, keys) across lines.
  wordwrap: false,
  limits: { maxInputLength: Number.MAX_SAFE_INTEGER },
  selectors: [
    { selector: 'a', options: { ignoreHref: false, hideLinkHrefIfSameAsText: true, linkBrackets: ['[', ']'] } },
    { selector: 'img', format: 'skip' },
    // Upper-casing headings would change case-sensitive tokens.
    ...['h1', 'h2', 'h3', 'h4', 'h5', 'h6'].map((h) => ({ selector: h, options: { uppercase: false } })),
    ...['table', 'tr', 'td', 'th'].map((selector) => ({ selector, ...blockFormat })),
  ],
});

const ENTITIES: Readonly<Record<string, string>> = { amp: '&', lt: '<', gt: '>', quot: '"', apos: "'", nbsp: ' ' };

/** A crude but linear fallback for documents the converter cannot take (e.g. nesting deep enough to overflow). */
function stripTags(html: string): string {
  return html
    .replace(/<[^>]*>/g, ' ')
    .replace(/&(#x[0-9a-f]{1,6}|#\d{1,7}|[a-z]{2,6});/gi, (all, e: string) => {
      if (e[0] === '#') {
        const cp = e[1] === 'x' || e[1] === 'X' ? parseInt(e.slice(2), 16) : parseInt(e.slice(1), 10);
        return cp <= 0x10ffff ? String.fromCodePoint(cp) : all;
      }
      return ENTITIES[e.toLowerCase()] ?? all;
    });
}

/** Converts HTML to plain text for scanning. */
export function htmlToPlainText(html: string): string {
  try {
    return convert(html);
  } catch (err) {
    if (err instanceof RangeError) return stripTags(html);
    throw err;
  }
}
