#!/usr/bin/env node
/**
 * Generates the labelled DLP quality corpus in test/fixtures/dlp/: .eml files plus labels.json (file → expected
 * built-in rule ids with counts of distinct values, and the types expected to be reported as not inspected).
 *
 * Deterministic: a seeded PRNG, a fixed date, no clock or randomness from the platform. Run from the repository
 * root with `node services/scanner-dlp/scripts/make-corpus.mjs`; commit the output.
 *
 * Every value is a test or generated value: well-known test card numbers and Luhn-valid numbers generated here,
 * textbook example IBANs and generated ones, generated SSNs, and fake secrets drawn from the PRNG. No real secret.
 */
import { mkdirSync, readdirSync, unlinkSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';

// `--seed N --out DIR` make a different corpus elsewhere (to probe robustness); the committed one uses neither.
const arg = (name) => {
  const i = process.argv.indexOf(name);
  return i > 0 ? process.argv[i + 1] : undefined;
};
const OUT_DIR = arg('--out') ?? fileURLToPath(new URL('../../../test/fixtures/dlp/', import.meta.url));
const SEED = Number(arg('--seed') ?? 0x0d1f5eed);

// ---------------------------------------------------------------------------------------------------------------
// Seeded randomness (xorshift32): the corpus must be byte-identical on every run.

let state = SEED >>> 0 || 1;
function rnd() {
  state ^= state << 13;
  state >>>= 0;
  state ^= state >>> 17;
  state ^= state << 5;
  state >>>= 0;
  return state / 4294967296;
}
const int = (lo, hi) => lo + Math.floor(rnd() * (hi - lo + 1));
const pick = (list) => list[Math.floor(rnd() * list.length)];
const chars = (alphabet, n) =>
  Array.from({ length: n }, () => alphabet[Math.floor(rnd() * alphabet.length)]).join('');
const randomBytes = (n) => Buffer.from(Array.from({ length: n }, () => int(0, 255)));

const DIGITS = '0123456789';
const UPPER = 'ABCDEFGHIJKLMNOPQRSTUVWXYZ';
const LOWER = 'abcdefghijklmnopqrstuvwxyz';
const ALNUM = UPPER + LOWER + DIGITS;
const B64 = ALNUM + '+/';
const B64URL = ALNUM + '-_';
const HEX = '0123456789abcdef';
const B32 = UPPER + '234567';
const digits = (n) => chars(DIGITS, n);

// ---------------------------------------------------------------------------------------------------------------
// Value generators.

function luhnCheckDigit(partial) {
  let sum = 0;
  let double = true;
  for (let i = partial.length - 1; i >= 0; i--) {
    let d = partial.charCodeAt(i) - 48;
    if (double) {
      d *= 2;
      if (d > 9) d -= 9;
    }
    sum += d;
    double = !double;
  }
  return String((10 - (sum % 10)) % 10);
}

const TEST_CARDS = [
  '4111111111111111',
  '4012888888881881',
  '5555555555554444',
  '5105105105105100',
  '378282246310005',
  '371449635398431',
  '6011111111111117',
  '6011000990139424',
  '3530111333300000',
  '3566002020360505',
  '30569309025904',
  '38520000023237',
  '2223003122003222',
];

const ISSUER_GEN = [
  () => ['4', 16],
  () => ['4', 19],
  () => [`5${int(1, 5)}`, 16],
  () => [String(int(2221, 2720)), 16],
  () => [pick(['34', '37']), 15],
  () => ['6011', 16],
  () => ['65', 16],
  () => [String(int(3528, 3589)), 16],
  () => ['36', 14],
  () => [String(int(300, 305)), 14],
  () => [pick(['621', '623', '624', '625']), 16],
  () => ['6759', 16],
  () => [String(int(2200, 2204)), 16],
];

function generatedCard() {
  const [prefix, len] = pick(ISSUER_GEN)();
  const partial = prefix + digits(len - prefix.length - 1);
  return partial + luhnCheckDigit(partial);
}

function anyCard() {
  return rnd() < 0.35 ? pick(TEST_CARDS) : generatedCard();
}

/** Groups a card as printed: 4-4-4-4, 4-4-4-4-3, Amex 4-6-5, Diners 4-6-4. */
function groupCard(num, sep) {
  const layout = { 14: [4, 6, 4], 15: [4, 6, 5], 16: [4, 4, 4, 4], 19: [4, 4, 4, 4, 3] }[num.length];
  if (!layout || sep === '') return num;
  const out = [];
  let i = 0;
  for (const n of layout) {
    out.push(num.slice(i, i + n));
    i += n;
  }
  return out.join(sep);
}

const formatCard = (num) => groupCard(num, pick(['', ' ', ' ', '-']));

function mod97(s) {
  let rem = 0;
  for (const ch of s) {
    const v = /[A-Z]/.test(ch) ? String(ch.charCodeAt(0) - 55) : ch;
    for (const d of v) rem = (rem * 10 + Number(d)) % 97;
  }
  return rem;
}

const EXAMPLE_IBANS = [
  'GB82WEST12345698765432',
  'DE89370400440532013000',
  'NL91ABNA0417164300',
  'FR1420041010050500013M02606',
  'BE68539007547034',
  'CH9300762011623852957',
  'ES9121000418450200051332',
  'AT611904300234573201',
];

/** Country → BBAN shape: `a` upper letter, `n` digit, `c` letter or digit. */
const BBAN_SHAPES = {
  GB: 'aaaannnnnnnnnnnnnn',
  IE: 'aaaannnnnnnnnnnnnn',
  NL: 'aaaannnnnnnnnn',
  DE: 'nnnnnnnnnnnnnnnnnn',
  FR: 'nnnnnnnnnnccccccccccCnn',
  ES: 'nnnnnnnnnnnnnnnnnnnn',
  IT: 'annnnnnnnnncccccccccccc',
  BE: 'nnnnnnnnnnnn',
  CH: 'nnnnnccccccccccccc'.slice(0, 17),
  AT: 'nnnnnnnnnnnnnnnn',
  PL: 'nnnnnnnnnnnnnnnnnnnnnnnn',
  NO: 'nnnnnnnnnnn',
  SE: 'nnnnnnnnnnnnnnnnnnnn',
  PT: 'nnnnnnnnnnnnnnnnnnnnn',
  DK: 'nnnnnnnnnnnnnn',
  FI: 'nnnnnnnnnnnnnn',
  LU: 'nnncccccccccccccc'.slice(0, 16),
  SA: 'nnnnnnnnnnnnnnnnnnnn',
  AE: 'nnnnnnnnnnnnnnnnnnn',
  TR: 'nnnnnncccccccccccccccccc'.slice(0, 22),
};

function generatedIban() {
  const cc = pick(Object.keys(BBAN_SHAPES));
  const bban = [...BBAN_SHAPES[cc]]
    .map((k) => (k === 'a' ? chars(UPPER, 1) : k === 'n' ? digits(1) : chars(UPPER + DIGITS, 1)))
    .join('');
  const check = String(98 - mod97(bban + cc + '00')).padStart(2, '0');
  return cc + check + bban;
}

function anyIban() {
  return rnd() < 0.3 ? pick(EXAMPLE_IBANS) : generatedIban();
}

const spaceIban = (iban) => iban.replace(/(.{4})/g, '$1 ').trim();
const formatIban = (iban) => (rnd() < 0.5 ? spaceIban(iban) : iban);

const SSN_EXAMPLES = new Set(['078051120', '219099999', '123456789']);

function generatedSsn() {
  for (;;) {
    let area = int(1, 899);
    if (area === 666) area = 667;
    const s =
      String(area).padStart(3, '0') +
      String(int(1, 99)).padStart(2, '0') +
      String(int(1, 9999)).padStart(4, '0');
    if (!SSN_EXAMPLES.has(s) && !/^(\d)\1{8}$/.test(s)) return s;
  }
}
const dashSsn = (s) => `${s.slice(0, 3)}-${s.slice(3, 5)}-${s.slice(5)}`;

/** A token with letters of both cases and digits, like real keys. */
function mixedToken(alphabet, n) {
  for (;;) {
    const t = chars(alphabet, n);
    if (/[A-Z]/.test(t) && /[a-z]/.test(t) && /\d/.test(t)) return t;
  }
}

const awsKeyId = () => pick(['AKIA', 'AKIA', 'ASIA']) + chars(B32, 16);
const awsSecret = () => mixedToken(B64, 40);
const githubToken = () =>
  rnd() < 0.2
    ? `github_pat_${mixedToken(ALNUM, 22)}_${mixedToken(ALNUM, 59)}`
    : `${pick(['ghp', 'gho', 'ghu', 'ghs', 'ghr'])}_${mixedToken(ALNUM, 36)}`;
function slackToken() {
  switch (int(0, 3)) {
    case 0:
      return `xoxb-${digits(12)}-${digits(13)}-${mixedToken(ALNUM, 24)}`;
    case 1:
      return `xoxp-${digits(12)}-${digits(12)}-${digits(13)}-${chars(HEX, 32)}`;
    case 2:
      return `xapp-1-A${chars(UPPER + DIGITS, 10)}-${digits(13)}-${chars(HEX, 64)}`;
    default:
      return `https://hooks.slack.com/services/T${chars(UPPER + DIGITS, 8)}/B${chars(UPPER + DIGITS, 10)}/${mixedToken(ALNUM, 24)}`;
  }
}
const stripeKey = () => `${pick(['sk', 'sk', 'rk'])}_live_${mixedToken(ALNUM, pick([24, 34, 99]))}`;
const googleKey = () => `AIza${mixedToken(B64URL, 35)}`;

function pemKey() {
  const type = pick([
    'RSA PRIVATE KEY',
    'PRIVATE KEY',
    'EC PRIVATE KEY',
    'OPENSSH PRIVATE KEY',
    'ENCRYPTED PRIVATE KEY',
  ]);
  const body = randomBytes(int(120, 400))
    .toString('base64')
    .match(/.{1,64}/g);
  return [`-----BEGIN ${type}-----`, ...body, `-----END ${type}-----`];
}

const b64url = (s) => Buffer.from(s).toString('base64url');
function jwt() {
  const alg = pick(['HS256', 'RS256', 'ES256', 'HS512']);
  const header = b64url(
    JSON.stringify(rnd() < 0.5 ? { alg, typ: 'JWT' } : { typ: 'JWT', alg, kid: chars(HEX, 8) }),
  );
  const payload = b64url(
    JSON.stringify({
      sub: digits(8),
      name: pick(['Jane Roe', 'John Doe', 'Erika Mustermann']),
      iat: 1700000000 + int(0, 9999999),
    }),
  );
  return `${header}.${payload}.${randomBytes(alg.startsWith('RS') ? 256 : 32).toString('base64url')}`;
}

// ---------------------------------------------------------------------------------------------------------------
// Text: filler prose and the lines that carry values.

const FILLER = [
  'Thanks for the quick turnaround on this.',
  'Let me know if anything is missing.',
  "As discussed in yesterday's call, here are the details.",
  'Please treat this as a priority.',
  'The team will follow up next week.',
  'We are still waiting for the signed contract.',
  'I have copied the account manager on this thread.',
  'The quarterly review is scheduled for Thursday at 10:30.',
  'Our office will be closed on Monday for the holiday.',
  'Could you confirm the delivery address before we ship?',
  'The numbers below come from the finance export.',
  'Reply to this message if you have any questions.',
];
const GREETINGS = ['Hi Sam,', 'Hello team,', 'Dear Ms. Lindqvist,', 'Good morning,', 'Hi all,'];
const SIGNOFFS = [
  'Best regards,\nAlex',
  'Thanks,\nPriya',
  'Cheers,\nMarco',
  'Kind regards,\nThe Billing Team',
];

function prose(n) {
  return Array.from({ length: n }, () => pick(FILLER));
}

/** Lines that carry one value of a detector. Each returns { lines, key } with key the distinct value. */
const CARRIERS = {
  'pci.card': () => {
    const num = anyCard();
    const v = formatCard(num);
    const line = pick([
      `Card number: ${v}`,
      `Please charge ${v} for the annual renewal.`,
      `CC ${v} exp 0${int(1, 9)}/2${int(6, 9)}`,
      `The customer paid with ${v} yesterday.`,
      `Kartennummer: ${v} (gültig bis 12/27)`,
    ]);
    return { lines: [line], key: num };
  },
  iban: () => {
    const iban = anyIban();
    const v = formatIban(iban);
    const line = pick([
      `IBAN: ${v}`,
      `Please wire the deposit to ${v} by Friday.`,
      `Beneficiary account ${v}, BIC NWBKGB2L`,
      `Bankverbindung: ${v}`,
    ]);
    return { lines: [line], key: iban };
  },
  'us.ssn': () => {
    const s = generatedSsn();
    const contextual = rnd() < 0.25;
    const v = contextual ? pick([s, `${s.slice(0, 3)} ${s.slice(3, 5)} ${s.slice(5)}`]) : dashSsn(s);
    const line = contextual
      ? pick([`Employee SSN ${v} for the payroll file.`, `Social security number: ${v}`])
      : pick([`SSN: ${v}`, `The applicant's number is ${v}.`, `Tax ID on file ${v}`]);
    return { lines: [line], key: s };
  },
  'secret.aws': () => {
    const id = awsKeyId();
    if (rnd() < 0.4) return { lines: [`Use access key ${id} for the staging bucket.`], keys: [id] };
    const secret = awsSecret();
    return {
      lines: ['[default]', `aws_access_key_id = ${id}`, `aws_secret_access_key = ${secret}`],
      keys: [id, secret],
    };
  },
  'secret.github': () => {
    const t = githubToken();
    return {
      lines: [
        pick([
          `GITHUB_TOKEN=${t}`,
          `Here is the token for the CI job: ${t}`,
          `git clone https://${t}@github.com/example/repo.git`,
        ]),
      ],
      key: t,
    };
  },
  'secret.slack': () => {
    const t = slackToken();
    return {
      lines: [pick([`SLACK_BOT_TOKEN=${t}`, `Post alerts with ${t}`, `Slack integration: ${t}`])],
      key: t,
    };
  },
  'secret.stripe': () => {
    const t = stripeKey();
    return {
      lines: [pick([`STRIPE_SECRET_KEY=${t}`, `The live key is ${t} - rotate it after the demo.`])],
      key: t,
    };
  },
  'secret.google': () => {
    const t = googleKey();
    return {
      lines: [
        pick([
          `MAPS_API_KEY="${t}"`,
          `Use key ${t} for the geocoding API.`,
          `https://maps.googleapis.com/maps/api/js?key=${t}`,
        ]),
      ],
      key: t,
    };
  },
  'secret.pem': () => {
    const lines = pemKey();
    return { lines: ['Here is the deploy key:', ...lines], key: lines[1], pre: true };
  },
  'secret.jwt': () => {
    const t = jwt();
    return {
      lines: [
        pick([
          `Authorization: Bearer ${t}`,
          `session token ${t}`,
          `https://app.example.com/callback?id_token=${t}`,
        ]),
      ],
      key: t,
    };
  },
};
const DETECTORS = Object.keys(CARRIERS);

function carry(rule) {
  const c = CARRIERS[rule]();
  return { lines: c.lines, keys: c.keys ?? [c.key], pre: c.pre ?? false };
}

/** Hard negatives: look like sensitive data to a naive matcher, are not. */
function badLuhn(prefix, len) {
  const partial = prefix + digits(len - prefix.length - 1);
  return partial + String((Number(luhnCheckDigit(partial)) + int(1, 9)) % 10);
}
const NEGATIVES = {
  order: () =>
    pick([
      `Order #${digits(7)} has shipped.`,
      `Order number ORD-${int(2019, 2025)}-${digits(6)} is confirmed.`,
      `PO ${digits(10)} approved.`,
      `Your order 11${digits(8)} is on its way.`,
    ]),
  phone: () =>
    pick([
      `Call me on +1 (555) ${digits(3)}-${digits(4)}.`,
      `Office: +44 20 7946 ${digits(4)}`,
      `Mobile 555-${digits(3)}-${digits(4)}`,
      `Tel. +49 30 ${digits(4)} ${digits(4)}`,
      `Fax +33 1 ${digits(2)} ${digits(2)} ${digits(2)} ${digits(2)}`,
    ]),
  uuid: () =>
    `Request id ${chars(HEX, 8)}-${chars(HEX, 4)}-4${chars(HEX, 3)}-${pick(['8', '9', 'a', 'b'])}${chars(HEX, 3)}-${chars(HEX, 12)}`,
  timestamp: () =>
    pick([
      `Logged at 17${digits(11)} (epoch ms).`,
      `2024-0${int(1, 9)}-1${int(0, 9)}T1${int(0, 9)}:${int(10, 59)}:00Z`,
      `Build 2024${digits(4)}T${digits(6)}Z`,
      `trace ${'17'}${digits(17)}`,
    ]),
  cardBadLuhn: () =>
    `Reference ${groupCard(badLuhn(pick(['4', '51', '37', '6011', '35']), 16), pick(['', ' ', '-']))}`,
  luhnNoIssuer: () => {
    const partial = pick(['9', '1', '7', '0', '86', '89']) + digits(14);
    return `Gift card ${groupCard(partial + luhnCheckDigit(partial), pick(['', ' ']))}`;
  },
  maskedCard: () =>
    pick([`Card ending in ${digits(4)}`, `**** **** **** ${digits(4)}`, `XXXX-XXXX-XXXX-${digits(4)}`]),
  base64: () => `Blob: ${randomBytes(int(60, 180)).toString('base64')}`,
  tracking: () =>
    pick([
      `UPS 1Z${chars(UPPER + DIGITS, 6)}${digits(10)}`,
      `FedEx tracking ${digits(12)}`,
      `USPS 9400 1${digits(3)} ${digits(4)} ${digits(4)} ${digits(4)} ${digits(2)}`,
    ]),
  isbn: () => pick([`ISBN 978-3-16-148410-0`, `ISBN 9780306406157`, `ISBN-10 0-306-40615-2`]),
  invoice: () =>
    pick([
      `Invoice INV-${int(2019, 2025)}-${digits(6)}`,
      `Invoice no. ${digits(4)}/${digits(5)}`,
      `Credit note CN${digits(9)}X`,
    ]),
  ssnInvalid: () =>
    `SSN ${pick([`000-${digits(2)}-${digits(4)}`, `666-${int(10, 99)}-${int(1000, 9999)}`, `9${digits(2)}-${int(10, 99)}-${int(1000, 9999)}`, `${int(100, 665)}-00-${int(1000, 9999)}`, `${int(100, 665)}-${int(10, 99)}-0000`, '078-05-1120', '123-45-6789', '219-09-9999'])}`,
  zip: () => `ZIP ${digits(5)}-${digits(4)}`,
  money: () => `Total due: $${int(1, 999)},${digits(3)},${digits(3)}.${digits(2)}`,
  ip: () => `Server ${int(10, 250)}.${int(0, 255)}.${int(0, 255)}.${int(1, 254)} port ${int(1024, 65535)}`,
  routing: () => pick(['ABA routing 021000021', 'Routing number 011000015']),
  imei: () => 'IMEI 35-209900-176148-1',
  awsWrongLength: () => pick([`AKIA${chars(B32, 12)}`, `AKIA${chars(B32, 20)}`, 'AKIAXXXXXXXXXXXXXXXX']),
  awsPlaceholder: () => 'aws_secret_access_key = <your-secret-key-here>',
  commitHash: () => `AWS deploy commit ${chars(HEX, 40)}`,
  ghShort: () =>
    pick([`ghp_${chars(ALNUM, 20)}`, 'ghp_xxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxx', 'token: ghp_<redacted>']),
  slackFake: () =>
    pick([
      'SLACK_TOKEN=xoxb-your-token-here',
      `xoxb-${digits(5)}`,
      'https://hooks.slack.com/services/T000/B000/XXXX',
    ]),
  stripeTest: () =>
    pick([
      `sk_test_${mixedToken(ALNUM, 24)}`,
      `pk_live_${mixedToken(ALNUM, 24)}`,
      `pk_test_${mixedToken(ALNUM, 24)}`,
    ]),
  googleShort: () => `AIza${chars(ALNUM, 20)}`,
  pemPublic: () =>
    pick(['-----BEGIN PUBLIC KEY-----', '-----BEGIN CERTIFICATE-----']) +
    `\n${randomBytes(90)
      .toString('base64')
      .match(/.{1,64}/g)
      .join('\n')}\n-----END-----`,
  pemMention: () =>
    'Never paste anything that starts with -----BEGIN OPENSSH PRIVATE KEY----- into a ticket.',
  jwtNoAlg: () =>
    `${b64url(JSON.stringify({ typ: 'JWT', kid: chars(HEX, 6) }))}.${b64url('{"sub":"1"}')}.${chars(B64URL, 43)}`,
  dotted: () =>
    pick([
      `Version ${int(1, 9)}.${int(0, 20)}.${int(0, 99)}`,
      'config key app.settings.timeout',
      `eyJ0eXAiOiJKV1Qi is a truncated header`,
    ]),
  ibanBadCheck: () => {
    const iban = generatedIban();
    const check = (Number(iban.slice(2, 4)) + int(1, 50)) % 97;
    return `Account ${spaceIban(iban.slice(0, 2) + String(check < 2 ? check + 2 : check).padStart(2, '0') + iban.slice(4))}`;
  },
  ibanBadLength: () => `Account ${generatedIban().slice(0, -1)}`,
  ibanUnknownCountry: () =>
    `Account ${pick(['XY', 'ZZ', 'QQ'])}${digits(2)} ${digits(4)} ${digits(4)} ${digits(4)} ${digits(4)} ${digits(2)}`,
  skuCode: () => `SKU ${chars(UPPER, 2)}${digits(2)}${chars(UPPER + DIGITS, 14)}`,
};
const NEGATIVE_KINDS = Object.keys(NEGATIVES);

// ---------------------------------------------------------------------------------------------------------------
// MIME building. Bodies are byte strings (latin1 code units = bytes), so the file is written exactly.

let boundaryN = 0;
const boundary = () => `=_hg_${(++boundaryN).toString(36)}_${chars(ALNUM, 12)}`;
const utf8Bytes = (s) => Buffer.from(s, 'utf8').toString('latin1');

function base64Body(bytes) {
  return (
    Buffer.from(bytes, 'latin1')
      .toString('base64')
      .match(/.{1,76}/g)
      ?.join('\r\n') ?? ''
  );
}

/** Quoted-printable over a byte string, with soft breaks at 76 columns (they may fall inside a value). */
function qpBody(bytes) {
  const out = [];
  for (const line of bytes.split('\n')) {
    let cur = '';
    let encoded = '';
    for (let i = 0; i < line.length; i++) {
      const c = line.charCodeAt(i);
      const last = i === line.length - 1;
      const plain = (c >= 33 && c <= 126 && c !== 61) || (c === 32 && !last);
      encoded = plain ? line[i] : `=${c.toString(16).toUpperCase().padStart(2, '0')}`;
      if (cur.length + encoded.length > 75) {
        out.push(`${cur}=`);
        cur = '';
      }
      cur += encoded;
    }
    out.push(cur);
  }
  return out.join('\r\n');
}

function crlf(s) {
  return s.replace(/\r?\n/g, '\r\n');
}

function leaf(type, bytes, { encoding = '7bit', charset = 'utf-8', filename, disposition, extra = [] } = {}) {
  const headers = [
    `Content-Type: ${type}${type.startsWith('text/') ? `; charset=${charset}` : ''}${filename ? `; name="${filename}"` : ''}`,
  ];
  headers.push(`Content-Transfer-Encoding: ${encoding}`);
  if (disposition || filename)
    headers.push(
      `Content-Disposition: ${disposition ?? 'attachment'}${filename ? `; filename="${filename}"` : ''}`,
    );
  headers.push(...extra);
  const body =
    encoding === 'base64' ? base64Body(bytes) : encoding === 'quoted-printable' ? qpBody(bytes) : crlf(bytes);
  return { headers, body };
}

function multipart(subtype, parts, extraParams = '') {
  const b = boundary();
  const body =
    parts.map((p) => `--${b}\r\n${p.headers.join('\r\n')}\r\n\r\n${p.body}\r\n`).join('') + `--${b}--`;
  return { headers: [`Content-Type: multipart/${subtype}; boundary="${b}"${extraParams}`], body };
}

function encodedWord(s) {
  return /^[\x20-\x7e]*$/.test(s) ? s : `=?UTF-8?B?${Buffer.from(s, 'utf8').toString('base64')}?=`;
}

let messageN = 0;
function message(
  subject,
  root,
  { from = 'Alex Example <alex@example.com>', to = 'Sam Sample <sam@example.org>' } = {},
) {
  messageN++;
  const day = 1 + (messageN % 28);
  const headers = [
    `From: ${from}`,
    `To: ${to}`,
    `Subject: ${encodedWord(subject)}`,
    `Date: Tue, ${String(day).padStart(2, '0')} Jul 2024 09:${String(messageN % 60).padStart(2, '0')}:00 +0000`,
    `Message-ID: <corpus-${messageN}-${chars(HEX, 8)}@example.com>`,
    'MIME-Version: 1.0',
    ...root.headers,
  ];
  return `${headers.join('\r\n')}\r\n\r\n${root.body}\r\n`;
}

const escapeHtml = (s) =>
  s.replace(/&/g, '&amp;').replace(/</g, '&lt;').replace(/>/g, '&gt;').replace(/"/g, '&quot;');

function textOf(content) {
  return [
    pick(GREETINGS),
    '',
    ...content.before,
    ...content.lines,
    ...content.after,
    '',
    pick(SIGNOFFS),
  ].join('\n');
}

function htmlOf(content) {
  const p = (l) => `<p>${escapeHtml(l)}</p>`;
  const carried = content.pre
    ? `<pre>${escapeHtml(content.lines.join('\n'))}</pre>`
    : content.lines
        .map((l) =>
          pick([
            () => p(l),
            () => `<table><tr><td>Detail</td><td>${escapeHtml(l)}</td></tr></table>`,
            () => `<div><span style="font-family:monospace">${escapeHtml(l)}</span></div>`,
            () => `<p>${escapeHtml(l).replace(/ /g, '&nbsp;')}</p>`,
          ])(),
        )
        .join('\n');
  return `<!DOCTYPE html><html><head><meta charset="utf-8"><title>Update</title></head><body>\n<h2>Update</h2>\n${content.before.map(p).join('\n')}\n${carried}\n${content.after.map(p).join('\n')}\n<p>${escapeHtml(pick(SIGNOFFS)).replace('\n', '<br>')}</p>\n</body></html>`;
}

const isAscii = (s) => /^[\x00-\x7f]*$/.test(s);
const textLeaf = (text, encoding) =>
  leaf('text/plain', utf8Bytes(text), {
    encoding: encoding ?? (isAscii(text) ? '7bit' : 'quoted-printable'),
  });
const htmlLeaf = (html, encoding) =>
  leaf('text/html', utf8Bytes(html), { encoding: encoding ?? (isAscii(html) ? '7bit' : 'quoted-printable') });

const ATTACHMENT_KINDS = [
  {
    ext: 'csv',
    type: 'text/csv',
    render: (lines) => ['id,note', ...lines.map((l, i) => `${i + 1},"${l.replace(/"/g, '""')}"`)].join('\n'),
  },
  { ext: 'txt', type: 'text/plain', render: (lines) => lines.join('\n') },
  { ext: 'json', type: 'application/json', render: (lines) => JSON.stringify({ notes: lines }, null, 2) },
  {
    ext: 'xml',
    type: 'application/xml',
    render: (lines) =>
      `<?xml version="1.0"?>\n<notes>\n${lines.map((l) => `  <note>${escapeHtml(l)}</note>`).join('\n')}\n</notes>`,
  },
  {
    ext: 'log',
    type: 'application/octet-stream',
    render: (lines) => lines.map((l) => `2024-07-02T10:00:00Z INFO ${l}`).join('\n'),
  },
  { ext: 'csv', type: 'application/octet-stream', render: (lines) => ['note', ...lines].join('\n') },
];

/** Wraps content in one of the encodings; returns the root part and the types expected as not inspected. */
const ENCODINGS = {
  plain: (c) => ({ root: textLeaf(textOf(c)) }),
  base64: (c) => ({ root: textLeaf(textOf(c), 'base64') }),
  qp: (c) => ({
    // One long line, so soft line breaks fall inside values.
    root: leaf(
      'text/plain',
      utf8Bytes(
        `${pick(GREETINGS)}\n${[...c.before, ...(c.pre ? [] : c.lines), ...c.after].join(' ')}\n${c.pre ? c.lines.join('\n') : ''}\n`,
      ),
      { encoding: 'quoted-printable' },
    ),
  }),
  html: (c) => ({ root: htmlLeaf(htmlOf(c), pick(['quoted-printable', 'base64', undefined])) }),
  alternative: (c) => ({ root: multipart('alternative', [textLeaf(textOf(c)), htmlLeaf(htmlOf(c))]) }),
  nested: (c) => ({
    root: multipart('mixed', [
      multipart('alternative', [
        textLeaf(textOf({ ...c, lines: [], pre: false })),
        multipart('related', [
          htmlLeaf(htmlOf({ ...c, lines: [], pre: false })),
          leaf('image/png', randomBytes(64).toString('latin1'), {
            encoding: 'base64',
            disposition: 'inline',
            extra: ['Content-ID: <logo@example.com>'],
          }),
        ]),
      ]),
      multipart('mixed', [textLeaf(textOf(c), pick(['base64', 'quoted-printable']))]),
    ]),
    notInspected: ['image/png'],
  }),
  attachment: (c) => {
    const kind = pick(ATTACHMENT_KINDS);
    return {
      root: multipart('mixed', [
        textLeaf(textOf({ ...c, lines: ['Please find the export attached.'], pre: false })),
        leaf(kind.type, utf8Bytes(kind.render(c.lines)), {
          encoding: 'base64',
          filename: `export-${digits(3)}.${kind.ext}`,
        }),
      ]),
    };
  },
  rfc822: (c) => {
    const inner = message(
      'Original message',
      textLeaf(textOf(c), pick(['base64', 'quoted-printable', undefined])),
      { from: 'Kim Orig <kim@example.net>' },
    );
    const asAttachment = rnd() < 0.6;
    return {
      root: multipart('mixed', [
        textLeaf('Forwarding the message below, see attachment.'),
        {
          headers: [
            'Content-Type: message/rfc822',
            ...(asAttachment ? ['Content-Disposition: attachment; filename="forwarded.eml"'] : []),
          ],
          body: inner.replace(/\r\n$/, ''),
        },
      ]),
    };
  },
  latin1: (c) => {
    const text = `Grüße aus München,\n\n${[...c.before, ...c.lines, ...c.after].join('\n')}\n\nMit freundlichen Grüßen,\nJürgen Müller`;
    const bytes = Buffer.from(text.replace(/[^\x00-\xff]/g, '?'), 'latin1').toString('latin1');
    return {
      root: leaf('text/plain', bytes, {
        charset: 'iso-8859-1',
        encoding: pick(['quoted-printable', '8bit']),
      }),
    };
  },
};
const ENCODING_NAMES = Object.keys(ENCODINGS);

function contentWith(rules, { negatives = 0 } = {}) {
  const expect = {};
  const lines = [];
  let pre = false;
  for (const rule of rules) {
    const c = carry(rule);
    lines.push(...c.lines);
    pre ||= c.pre;
    expect[rule] = expect[rule] ?? new Set();
    for (const k of c.keys) expect[rule].add(k);
  }
  // Never inside a PEM block: keep its lines together.
  for (let i = 0; i < negatives; i++)
    lines.splice(pre ? 0 : int(0, lines.length), 0, NEGATIVES[pick(NEGATIVE_KINDS)]());
  const counts = Object.fromEntries(Object.entries(expect).map(([r, s]) => [r, s.size]));
  return { content: { before: prose(int(1, 3)), lines, after: prose(int(0, 2)), pre }, counts };
}

// ---------------------------------------------------------------------------------------------------------------
// The corpus.

const corpus = [];
function add(name, eml, rules = {}, notInspected = []) {
  const file = `${String(corpus.length + 1).padStart(3, '0')}-${name}.eml`;
  corpus.push({ file, eml, label: { rules, notInspected: [...new Set(notInspected)].sort() } });
}

// 1. Each detector in each encoding.
for (const rule of DETECTORS) {
  for (const enc of ENCODING_NAMES) {
    const { content, counts } = contentWith([rule], { negatives: int(0, 2) });
    const { root, notInspected = [] } = ENCODINGS[enc](content);
    add(
      `pos-${rule}-${enc}`,
      message(pick(['Details', 'Quick update', 'Re: account setup', 'Fwd: info']), root),
      counts,
      notInspected,
    );
  }
}

// 2. Several values and detectors per message (counts above 1), and a value in the subject.
for (let i = 0; i < 20; i++) {
  const rules = Array.from({ length: int(2, 5) }, () => pick(DETECTORS));
  const { content, counts } = contentWith(rules, { negatives: int(1, 4) });
  const enc = pick(['plain', 'alternative', 'attachment', 'nested', 'html', 'base64']);
  const { root, notInspected = [] } = ENCODINGS[enc](content);
  add(`multi-${enc}`, message('Export for review', root), counts, notInspected);
}
for (let i = 0; i < 4; i++) {
  const num = anyCard();
  const { content } = contentWith([], { negatives: 1 });
  add(
    'pos-pci.card-subject',
    message(`Payment with card ${formatCard(num)} – please process`, textLeaf(textOf(content))),
    { 'pci.card': 1 },
  );
}

// 3. Hard negatives, in every encoding.
for (let i = 0; i < 90; i++) {
  const kinds = Array.from({ length: int(3, 7) }, () => pick(NEGATIVE_KINDS));
  const lines = kinds.map((k) => NEGATIVES[k]());
  const content = { before: prose(int(1, 3)), lines, after: prose(int(0, 2)), pre: false };
  const enc = ENCODING_NAMES[i % ENCODING_NAMES.length];
  const { root, notInspected = [] } = ENCODINGS[enc](content);
  add(
    `neg-${enc}`,
    message(
      pick(['Order confirmation', 'Your invoice', 'Shipping update', 'Meeting notes', 'Build report']),
      root,
    ),
    {},
    notInspected,
  );
}

// 4. Ordinary mail with nothing to find.
for (let i = 0; i < 10; i++) {
  const content = { before: prose(int(2, 4)), lines: [], after: prose(int(1, 3)), pre: false };
  const enc = pick(['plain', 'alternative', 'html', 'qp', 'latin1']);
  add(`clean-${enc}`, message('Catching up', ENCODINGS[enc](content).root));
}

// 5. Formats the engine cannot read: named as not inspected, whatever they contain.
const fakePdf = () =>
  `%PDF-1.4\n1 0 obj << /Type /Catalog >> endobj\nBT /F1 12 Tf (Card 4111 1111 1111 1111) Tj ET\n${randomBytes(200).toString('latin1')}\n%%EOF`;
const binaryAttachments = [
  [
    'pdf',
    () => leaf('application/pdf', fakePdf(), { encoding: 'base64', filename: 'statement.pdf' }),
    'application/pdf',
  ],
  [
    'zip',
    () =>
      leaf('application/zip', `PK\x03\x04${randomBytes(300).toString('latin1')}`, {
        encoding: 'base64',
        filename: 'export.zip',
      }),
    'application/zip',
  ],
  [
    'png',
    () =>
      leaf('image/png', `\x89PNG\r\n\x1a\n${randomBytes(200).toString('latin1')}`, {
        encoding: 'base64',
        filename: 'scan.png',
      }),
    'image/png',
  ],
  [
    'docx',
    () =>
      leaf('application/octet-stream', `PK\x03\x04${randomBytes(300).toString('latin1')}`, {
        encoding: 'base64',
        filename: 'contract.docx',
      }),
    'application/vnd.openxmlformats-officedocument.wordprocessingml.document',
  ],
  [
    'smime',
    () =>
      leaf('application/pkcs7-mime', randomBytes(400).toString('latin1'), {
        encoding: 'base64',
        filename: 'smime.p7m',
        extra: [],
      }),
    'application/pkcs7-mime',
  ],
  [
    'bin',
    () =>
      leaf('application/octet-stream', randomBytes(256).toString('latin1'), {
        encoding: 'base64',
        filename: 'data.bin',
      }),
    'application/octet-stream',
  ],
];
for (const [name, make, type] of binaryAttachments) {
  for (let i = 0; i < 2; i++) {
    const withHit = i === 1;
    const { content, counts } = withHit
      ? contentWith(['pci.card'])
      : { content: { before: prose(2), lines: [], after: [], pre: false }, counts: {} };
    add(
      `uninspected-${name}${withHit ? '-with-card' : ''}`,
      message('Documents', multipart('mixed', [textLeaf(textOf(content)), make()])),
      counts,
      [type],
    );
  }
}
{
  const armored = `-----BEGIN PGP MESSAGE-----\n\nhQEMA${randomBytes(200)
    .toString('base64')
    .match(/.{1,64}/g)
    .join('\n')}\n-----END PGP MESSAGE-----`;
  add('uninspected-pgp-inline', message('Encrypted', textLeaf(`Hi,\n\n${armored}\n`)), {}, [
    'application/pgp-encrypted',
  ]);
  add(
    'uninspected-pgp-mime',
    message(
      'Encrypted',
      multipart(
        'encrypted',
        [
          leaf('application/pgp-encrypted', 'Version: 1'),
          leaf('application/octet-stream', armored, { filename: 'encrypted.asc' }),
        ],
        '; protocol="application/pgp-encrypted"',
      ),
    ),
    {},
    ['application/pgp-encrypted'],
  );
}

// ---------------------------------------------------------------------------------------------------------------
// Output.

mkdirSync(OUT_DIR, { recursive: true });
for (const f of readdirSync(OUT_DIR))
  if (f.endsWith('.eml') || f === 'labels.json') unlinkSync(join(OUT_DIR, f));
const labels = {};
for (const { file, eml, label } of corpus) {
  writeFileSync(join(OUT_DIR, file), Buffer.from(eml, 'latin1'));
  labels[file] = label;
}
writeFileSync(
  join(OUT_DIR, 'labels.json'),
  `${JSON.stringify({ version: 1, generator: 'services/scanner-dlp/scripts/make-corpus.mjs', seed: SEED, messages: labels }, null, 1)}\n`,
);
console.log(`wrote ${corpus.length} messages and labels.json to ${OUT_DIR}`);
