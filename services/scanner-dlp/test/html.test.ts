import { describe, expect, it } from 'vitest';
import { htmlToPlainText } from '../src/html.js';

// The HTML pass that replaced html-to-text: what a reader sees, plus link targets, in one linear pass.
const text = (html: string) =>
  htmlToPlainText(html)
    .replace(/ *\n[\s]*/g, '\n')
    .trim();

describe('htmlToPlainText', () => {
  it('drops inline tags without a trace and breaks lines at block tags', () => {
    expect(
      text('<p>Card:&nbsp;<span>4111</span>&nbsp;<SPAN>1111</SPAN> <b>1111</b>\n   1111</p><div>next</div>'),
    ).toBe('Card:\u00a04111\u00a01111 1111 1111\nnext');
    expect(text('<table><tr><th>IBAN</th><td>GB82</td></tr></table>a<br>b<BR/>c')).toBe(
      'IBAN\nGB82\na\nb\nc',
    );
  });

  it('drops scripts, styles, comments and processing instructions, and keeps titles and CDATA', () => {
    expect(
      text(
        '<head><title>T&amp;C</title><style>p { x: "<p>" }</style><script>var s = "</p><b>";</script></head><!-- 4111 1111 1111 1111 --><?xml x?><![CDATA[raw <b>]]>body',
      ),
    ).toBe('T&C\nraw <b>body');
  });

  it('decodes named, numeric and legacy entities', () => {
    expect(text('&euro;&#x34;&#49;1 &lt;b&gt; &amp &copy; &unknown; &#xZZ;')).toBe(
      '€411 <b> & © &unknown; &#xZZ;',
    );
  });

  it('keeps whitespace inside <pre>', () => {
    expect(htmlToPlainText('<pre>a  b\n  c</pre> d   e')).toBe('\na  b\n  c\nd e');
  });

  it('adds link targets unless they repeat the text, decoding entities in them', () => {
    expect(
      text(
        '<a href="https://hooks.example/a?x=1&amp;y=2">alerts</a> <A HREF=\'https://x.example\'>https://x.example</A> <a>no href</a>',
      ),
    ).toBe('alerts [https://hooks.example/a?x=1&y=2] https://x.example no href');
  });

  it('reads a > inside quoted attribute values as part of the tag', () => {
    expect(text('<img alt="a > b" title=\'c > d\' src=x>after <p data-x="<p>">in</p>')).toBe('after\nin');
  });

  it('survives broken markup: a lone <, unterminated tags, comments and scripts, stray end tags', () => {
    expect(text('a < b and 1<2 </p></div></nope>')).toBe('a < b and 1<2');
    expect(text('before <a href="x')).toBe('before');
    expect(text('before <!-- never closed')).toBe('before');
    expect(text('before <script> never closed')).toBe('before');
    expect(text('x <title>open title')).toBe('x open title');
  });

  it('is linear on hostile input', () => {
    const parts = [
      '<'.repeat(200_000),
      '<a href="'.repeat(20_000),
      '<p a="1" b=\'2\' c=3>'.repeat(20_000),
      '&amp'.repeat(50_000),
      '<!--'.repeat(50_000),
    ];
    for (const html of parts) expect(typeof htmlToPlainText(html)).toBe('string');
  });
});
