/**
 * HTML to the text a reader would see, plus link targets (a webhook URL in an href is still a leak). One linear
 * pass with indexOf, no DOM: tags go (inline ones leave nothing, so `<span>4111</span>&nbsp;<span>1111</span>`
 * reads as one number; block ones end a line), script/style/comments are dropped, whitespace collapses as a
 * browser collapses it (not inside <pre>), and entities are decoded with `entities` (the full HTML5 table).
 * docs/adr/0006-dlp-mime-parsing.md says why this replaced html-to-text.
 */
import { decodeHTML, decodeHTMLAttribute } from 'entities';

/** What a tag does to the text. Unknown and inline elements (span, b, font, img …) do nothing. */
const enum Kind {
  Inline,
  /** Start and end tags break the line. */
  Block,
  Br,
  A,
  Pre,
  /** Raw-text elements whose content is never shown. */
  Skipped,
  /** Elements whose content is text up to the end tag, without markup. */
  Rcdata,
}

const KINDS: Readonly<Record<string, Kind>> = {
  br: Kind.Br,
  a: Kind.A,
  pre: Kind.Pre,
  ...Object.fromEntries(
    ['script', 'style', 'template', 'noembed', 'noframes', 'xmp', 'iframe'].map((t) => [t, Kind.Skipped]),
  ),
  ...Object.fromEntries(['title', 'textarea'].map((t) => [t, Kind.Rcdata])),
  ...Object.fromEntries(
    [
      'address',
      'article',
      'aside',
      'blockquote',
      'caption',
      'center',
      'dd',
      'details',
      'dialog',
      'dir',
      'div',
      'dl',
      'dt',
      'fieldset',
      'figcaption',
      'figure',
      'footer',
      'form',
      'h1',
      'h2',
      'h3',
      'h4',
      'h5',
      'h6',
      'header',
      'hgroup',
      'hr',
      'legend',
      'li',
      'main',
      'menu',
      'nav',
      'ol',
      'optgroup',
      'option',
      'p',
      'section',
      'summary',
      'table',
      'tbody',
      'td',
      'tfoot',
      'th',
      'thead',
      'tr',
      'ul',
    ].map((t) => [t, Kind.Block]),
  ),
};
/** Longest name in KINDS ('blockquote', 'figcaption'). */
const MAX_NAME = 10;
/**
 * The named tags by lower-case first letter and length, so a tag is classified by comparing a few characters
 * with one or two candidates, never by building its name.
 */
const BY_LETTER_LENGTH: ReadonlyArray<ReadonlyArray<readonly [string, Kind]> | undefined> = Array.from(
  { length: 26 * (MAX_NAME + 1) },
  (_, slot) => {
    const letter = Math.floor(slot / (MAX_NAME + 1));
    const len = slot % (MAX_NAME + 1);
    const list = Object.entries(KINDS).filter(
      ([name]) => name.charCodeAt(0) === 0x61 + letter && name.length === len,
    );
    return list.length > 0 ? list : undefined;
  },
);

/** The kind of the tag named `html[start, end)`, case-insensitively, and its canonical name. */
function tagKind(html: string, start: number, end: number): readonly [string, Kind] | undefined {
  const len = end - start;
  const letter = (html.charCodeAt(start) | 0x20) - 0x61;
  if (len > MAX_NAME || letter < 0 || letter > 25) return undefined;
  const candidates = BY_LETTER_LENGTH[letter * (MAX_NAME + 1) + len];
  if (!candidates) return undefined;
  outer: for (const entry of candidates) {
    const name = entry[0];
    for (let k = 1; k < len; k++) {
      const c = html.charCodeAt(start + k);
      if ((c >= 0x41 && c <= 0x5a ? c | 0x20 : c) !== name.charCodeAt(k)) continue outer;
    }
    return entry;
  }
  return undefined;
}

/** Whitespace runs other than a lone space (replacing every space with itself would copy every text node). */
const WHITESPACE = /[\t\n\r\f][ \t\n\r\f]*| [ \t\n\r\f]+/g;
const HREF = /(?:^|[\s/"'])href\s*=\s*(?:"([^"]*)"|'([^']*)'|([^\s"'>]+))/i;
const enum Shape {
  /** Nothing to collapse. */
  Clean,
  /** Whitespace other than lone spaces. */
  Collapse,
  /** Only whitespace (the line breaks between tags, mostly). */
  Blank,
}

const NOT_BLANK = /[^ \t\n\r\f]/;
const COLLAPSIBLE = /[\t\n\r\f]| {2}/;

/** How `s` needs collapsing: a loop on the short text between tags (cheaper than a regex call), regexes on long text. */
function whitespaceShape(s: string): Shape {
  if (s.length > 32)
    return !NOT_BLANK.test(s) ? Shape.Blank : COLLAPSIBLE.test(s) ? Shape.Collapse : Shape.Clean;
  let space = false;
  let collapse = false;
  let blank = true;
  for (let k = 0; k < s.length; k++) {
    const c = s.charCodeAt(k);
    if (c === 0x20) {
      if (space) collapse = true;
      space = true;
    } else if (c === 0x0a || c === 0x0d || c === 0x09 || c === 0x0c) {
      collapse = true;
      space = true;
    } else {
      space = false;
      blank = false;
      if (collapse) return Shape.Collapse;
    }
  }
  return blank ? Shape.Blank : collapse ? Shape.Collapse : Shape.Clean;
}

/** Link text longer than this is not compared with the href (the href is just added). */
const MAX_LINK_TEXT = 2048;

const endTags = new Map<string, RegExp>();
function endTag(name: string): RegExp {
  let re = endTags.get(name);
  if (!re) endTags.set(name, (re = new RegExp(`</${name}[\\s/>]`, 'gi')));
  return re;
}

function isLetter(c: number): boolean {
  return (c >= 0x61 && c <= 0x7a) || (c >= 0x41 && c <= 0x5a);
}

/**
 * Index of the `>` closing a tag whose name ends at `from`; quoted attribute values may hold `>`. -1 if none.
 * `quotes` remembers the next quote character's position, so tags without quotes never rescan the document.
 */
function tagEnd(html: string, from: number, quotes: { at: number }): number {
  const gt = html.indexOf('>', from);
  if (gt < 0) return -1;
  if (quotes.at < from) {
    const dq = html.indexOf('"', from);
    const sq = html.indexOf("'", from);
    quotes.at = dq < 0 ? (sq < 0 ? Infinity : sq) : sq < 0 ? dq : Math.min(dq, sq);
  }
  if (quotes.at > gt) return gt;
  for (let k = from; k < html.length; k++) {
    const c = html.charCodeAt(k);
    if (c === 0x3e) return k;
    if (c !== 0x3d) continue;
    k++;
    while (
      k < html.length &&
      (html.charCodeAt(k) === 0x20 ||
        html.charCodeAt(k) === 0x09 ||
        html.charCodeAt(k) === 0x0a ||
        html.charCodeAt(k) === 0x0d)
    )
      k++;
    const q = html.charCodeAt(k);
    if (q === 0x22 || q === 0x27) {
      k = html.indexOf(q === 0x22 ? '"' : "'", k + 1);
      if (k < 0) return -1;
    } else k--;
  }
  return -1;
}

/** Converts HTML to plain text for scanning. Linear in the input; never throws. */
export function htmlToPlainText(html: string): string {
  // Concatenation (a rope V8 flattens once, on first use) beats collecting pieces and joining them.
  let out = '';
  // Whether the output ends in whitespace (or is empty): a leading blank of the next text is then dropped.
  let blank = true;
  let pre = 0;
  let href: string | undefined;
  let linkText = '';

  const text = (raw: string): void => {
    let s = raw.includes('&') ? decodeHTML(raw) : raw;
    if (pre === 0) {
      const shape = whitespaceShape(s);
      if (shape === Shape.Blank) s = blank ? '' : ' ';
      else {
        if (shape === Shape.Collapse) s = s.replace(WHITESPACE, ' ');
        if (blank && s.charCodeAt(0) === 0x20) s = s.slice(1);
      }
    }
    if (s.length === 0) return;
    out += s;
    const last = s.charCodeAt(s.length - 1);
    blank = last === 0x20 || last === 0x0a;
    if (href !== undefined && linkText.length < MAX_LINK_TEXT) linkText += s;
  };
  const lineBreak = (): void => {
    out += '\n';
    blank = true;
  };
  const closeLink = (): void => {
    if (href !== undefined && href !== '' && href.trim() !== linkText.trim()) {
      out += ` [${href}] `;
      blank = true;
    }
    href = undefined;
    linkText = '';
  };

  const n = html.length;
  const quotes = { at: -1 };
  let i = 0;
  while (i < n) {
    const lt = html.indexOf('<', i);
    const stop = lt < 0 ? n : lt;
    if (stop > i) text(html.slice(i, stop));
    if (lt < 0) break;
    const c1 = html.charCodeAt(lt + 1);
    if (c1 === 0x21 /* ! */) {
      if (html.startsWith('<!--', lt)) {
        const end = html.indexOf('-->', lt + 4);
        i = end < 0 ? n : end + 3;
      } else if (html.startsWith('<![CDATA[', lt)) {
        const end = html.indexOf(']]>', lt + 9);
        text(html.slice(lt + 9, end < 0 ? n : end));
        i = end < 0 ? n : end + 3;
      } else {
        const end = html.indexOf('>', lt);
        i = end < 0 ? n : end + 1;
      }
      continue;
    }
    if (c1 === 0x3f /* ? */) {
      const end = html.indexOf('>', lt);
      i = end < 0 ? n : end + 1;
      continue;
    }
    const closing = c1 === 0x2f; /* / */
    const nameStart = closing ? lt + 2 : lt + 1;
    if (!isLetter(html.charCodeAt(nameStart))) {
      // Not a tag ("a < b"): the character is text.
      text('<');
      i = lt + 1;
      continue;
    }
    let nameEnd = nameStart + 1;
    while (nameEnd < n) {
      const c = html.charCodeAt(nameEnd);
      if (c === 0x3e || c === 0x2f || c === 0x20 || c === 0x09 || c === 0x0a || c === 0x0d || c === 0x0c)
        break;
      nameEnd++;
    }
    const tag = tagKind(html, nameStart, nameEnd);
    const end = tagEnd(html, nameEnd, quotes);
    // An unterminated tag swallows the rest, as in a browser.
    if (end < 0) break;
    i = end + 1;
    if (!tag) continue;
    const [name, kind] = tag;
    if (closing) {
      if (kind === Kind.A) closeLink();
      else if (kind === Kind.Pre) {
        if (pre > 0) pre--;
        lineBreak();
      } else if (kind === Kind.Block) lineBreak();
      continue;
    }
    switch (kind) {
      case Kind.Skipped:
      case Kind.Rcdata: {
        const re = endTag(name);
        re.lastIndex = i;
        const close = re.exec(html);
        const contentEnd = close ? close.index : n;
        if (kind === Kind.Rcdata) {
          text(html.slice(i, contentEnd));
          lineBreak();
        }
        const after = close ? html.indexOf('>', contentEnd) : -1;
        i = after < 0 ? n : after + 1;
        break;
      }
      case Kind.Br:
      case Kind.Block:
        lineBreak();
        break;
      case Kind.Pre:
        lineBreak();
        if (html.charCodeAt(end - 1) !== 0x2f) pre++;
        break;
      case Kind.A: {
        closeLink();
        const m = HREF.exec(html.slice(nameEnd, end));
        const value = m ? (m[1] ?? m[2] ?? m[3] ?? '') : '';
        if (value !== '') href = value.includes('&') ? decodeHTMLAttribute(value) : value;
        break;
      }
      case Kind.Inline:
        break;
    }
  }
  closeLink();
  return out;
}
