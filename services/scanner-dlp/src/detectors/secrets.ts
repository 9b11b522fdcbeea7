/**
 * Credentials with a recognisable shape: AWS access key ids (and secret keys near them), GitHub, Slack, Stripe
 * and Google API tokens, PEM private keys and JWTs. One pass finds every prefix; a sticky pattern and a validator
 * (length, boundaries, entropy, decoding) then confirm each candidate.
 */
import { BUILTIN_RULES, type DetectorFamily, type Emit } from './types.js';
import { isAsciiWordCode, shannonEntropy } from '../text/chars.js';

// Every prefix below, grouped by first character (the same language as the flat list, so the same hits, but the
// regex engine rejects most positions after one character).
const PREFIX =
  /A(?:KIA|SIA|BIA|CCA|Iza|[Ww][Ss]_?[Ss][Ee][Cc][Rr][Ee][Tt])|a[Ww][Ss]_?[Ss][Ee][Cc][Rr][Ee][Tt]|g(?:h[pousr]_|ithub_pat_)|x(?:ox[abposr]-|app-)|hooks\.slack\.com\/services\/|[rs]k_live_|-----BEGIN |eyJ|[Ss]ecret_?[Aa]ccess_?[Kk]ey|SECRET_ACCESS_KEY/g;

const AWS_KEY_ID = /(?<![A-Za-z0-9])(?:AKIA|ASIA|ABIA|ACCA)([A-Z0-9]{16})(?![A-Za-z0-9])/y;
/** A 40-character AWS secret access key, not part of a longer base64, base64url or dotted token. */
const AWS_SECRET = /(?<![A-Za-z0-9/+._-])[A-Za-z0-9/+]{40}(?![A-Za-z0-9/+=_-]|\.[A-Za-z0-9])/g;
const GITHUB = /(?<![A-Za-z0-9_])gh[pousr]_([A-Za-z0-9]{36,251})(?![A-Za-z0-9_])/y;
const GITHUB_PAT = /(?<![A-Za-z0-9_])github_pat_([A-Za-z0-9]{22})_([A-Za-z0-9]{59})(?![A-Za-z0-9_])/y;
const SLACK_TOKEN = /(?<![A-Za-z0-9-])xox[abposr]-(?:\d{1,20}-){1,4}([A-Za-z0-9]{16,64})(?![A-Za-z0-9-])/y;
const SLACK_APP = /(?<![A-Za-z0-9-])xapp-\d-[A-Z0-9]{8,16}-\d{6,20}-([a-f0-9]{32,80})(?![A-Za-z0-9-])/y;
const SLACK_WEBHOOK =
  /hooks\.slack\.com\/services\/T[A-Z0-9]{6,12}\/B[A-Z0-9]{6,12}\/([A-Za-z0-9]{20,32})(?![A-Za-z0-9])/y;
const STRIPE = /(?<![A-Za-z0-9_])[rs]k_live_([A-Za-z0-9]{24,247})(?![A-Za-z0-9_])/y;
const GOOGLE = /(?<![A-Za-z0-9_-])AIza([0-9A-Za-z_-]{35})(?![0-9A-Za-z_-])/y;
const PEM = /-----BEGIN ((?:RSA |DSA |EC |OPENSSH |ENCRYPTED |PGP )?PRIVATE KEY(?: BLOCK)?)-----/y;
const BASE64_RUN = /[A-Za-z0-9+/]{40}/;
/** The body right after the header, also across JSON's escaped line breaks (`"-----BEGIN …-----\\nMIIE…"`). */
const BODY_SAME_LINE = /^(?:\s|\\[rn])*([A-Za-z0-9+/]{40})/;
/** Words separated by spaces: prose after the header, as in "starts with -----BEGIN … KEY----- into a …". */
const PROSE = /[A-Za-z]+\s+[A-Za-z]+/;
/** `Proc-Type:`, `DEK-Info:`, `Version:`, possibly behind a quote or log prefix. */
const ARMOR_HEADER = /^\W{0,4}\s*[A-Za-z][A-Za-z-]{1,30}: /;

/**
 * The start of the key body after a BEGIN line, or undefined. The body follows the header directly (HTML
 * flattened to one line, JSON strings) or on one of the next lines, possibly behind a quote or log prefix and a
 * few armor headers. A mention of the header in prose is followed by words instead.
 */
function pemBody(text: string, end: number): string | undefined {
  let nl = text.indexOf('\n', end);
  if (nl < 0) nl = text.length;
  const rest = text.slice(end, Math.min(nl, end + 200));
  const same = BODY_SAME_LINE.exec(rest);
  if (same) return same[1];
  // Markup or punctuation may close the line (`</note>`, `",`); prose may not.
  if (PROSE.test(rest)) return undefined;
  for (let line = 0; line < 6 && nl < text.length; line++) {
    const from = nl + 1;
    nl = text.indexOf('\n', from);
    if (nl < 0) nl = text.length;
    const l = text.slice(from, Math.min(nl, from + 400));
    const run = BASE64_RUN.exec(l);
    if (run) return run[0];
    if (l.trim() !== '' && !ARMOR_HEADER.test(l)) return undefined;
  }
  return undefined;
}

const JWT =
  /(?<![A-Za-z0-9_.-])(eyJ[A-Za-z0-9_-]{2,4096})\.([A-Za-z0-9_-]{2,16384})\.([A-Za-z0-9_-]{0,4096})(?![A-Za-z0-9_-])/y;

/** Labels that announce an AWS secret key. */
const AWS_LABEL = /^(?:aws_?secret|secret_?access_?key)/i;
/** Characters around an AWS key id (or a `aws_secret_access_key` label) searched for its secret key. */
const AWS_PAIR_WINDOW = 320;
/** Random tokens of these lengths score well above these; placeholders (`XXXX…`) score near 0. */
const MIN_ENTROPY = 3.0;

function sticky(re: RegExp, text: string, at: number): RegExpExecArray | null {
  re.lastIndex = at;
  return re.exec(text);
}

function mixedCase(s: string): boolean {
  return /[A-Z]/.test(s) && /[a-z]/.test(s) && /[0-9]/.test(s);
}

function decodeJsonSegment(segment: string): unknown {
  try {
    const json = Buffer.from(segment, 'base64url').toString('utf8');
    return JSON.parse(json) as unknown;
  } catch {
    return undefined;
  }
}

/** A JWT (JWS compact form) whose header is a JSON object naming `alg` and whose payload is JSON. */
export function isJwt(header: string, payload: string, signature: string): boolean {
  const h = decodeJsonSegment(header);
  if (typeof h !== 'object' || h === null || typeof (h as { alg?: unknown }).alg !== 'string') return false;
  const p = decodeJsonSegment(payload);
  if (typeof p !== 'object' || p === null) return false;
  const alg = (h as { alg: string }).alg.toLowerCase();
  return alg === 'none' ? signature.length === 0 : signature.length >= 16;
}

/** Tries the specific patterns at one prefix hit; returns where scanning may resume. */
function confirm(text: string, at: number, emit: Emit, awsAnchors: number[]): number {
  const c0 = text[at] ?? '';
  let m: RegExpExecArray | null;
  switch (c0) {
    case 'A': {
      if (text.startsWith('AIza', at)) {
        m = sticky(GOOGLE, text, at);
        if (m && shannonEntropy(m[1]!) >= MIN_ENTROPY) return hit(emit, 'secret.google', m, at);
        return at + 1;
      }
      m = sticky(AWS_KEY_ID, text, at);
      if (m && shannonEntropy(m[1]!) >= 2.5) {
        awsAnchors.push(at);
        return hit(emit, 'secret.aws', m, at);
      }
      if (AWS_LABEL.test(text.slice(at, at + 20))) awsAnchors.push(at);
      return at + 1;
    }
    case 'g': {
      m = text.startsWith('github_pat_', at) ? sticky(GITHUB_PAT, text, at) : sticky(GITHUB, text, at);
      const body = m ? m.slice(1).join('') : '';
      if (m && shannonEntropy(body) >= MIN_ENTROPY) return hit(emit, 'secret.github', m, at);
      return at + 1;
    }
    case 'x': {
      m = text.startsWith('xapp-', at) ? sticky(SLACK_APP, text, at) : sticky(SLACK_TOKEN, text, at);
      if (m && shannonEntropy(m[1]!) >= MIN_ENTROPY) return hit(emit, 'secret.slack', m, at);
      return at + 1;
    }
    case 'h': {
      m = sticky(SLACK_WEBHOOK, text, at);
      if (m && shannonEntropy(m[1]!) >= MIN_ENTROPY) return hit(emit, 'secret.slack', m, at);
      return at + 1;
    }
    case 'r':
    case 's': {
      m = sticky(STRIPE, text, at);
      if (m && shannonEntropy(m[1]!) >= MIN_ENTROPY) return hit(emit, 'secret.stripe', m, at);
      if (AWS_LABEL.test(text.slice(at, at + 20))) awsAnchors.push(at);
      return at + 1;
    }
    case '-': {
      m = sticky(PEM, text, at);
      if (!m) return at + 1;
      const end = at + m[0].length;
      const body = pemBody(text, end);
      // Count distinct keys: the type and the start of the body identify one.
      if (body) emit('secret.pem', `${m[1]!}:${body}`, at, end);
      return end;
    }
    case 'e': {
      if (at > 0 && isAsciiWordCode(text.charCodeAt(at - 1))) return at + 1;
      m = sticky(JWT, text, at);
      if (m && isJwt(m[1]!, m[2]!, m[3]!)) return hit(emit, 'secret.jwt', m, at);
      return at + 1;
    }
    default:
      // The remaining prefixes are AWS secret-key labels (`Secret_Access_Key`, `SECRET_ACCESS_KEY`).
      awsAnchors.push(at);
      return at + 1;
  }
}

function hit(emit: Emit, rule: string, m: RegExpExecArray, at: number): number {
  const end = at + m[0].length;
  emit(rule, m[0], at, end);
  return end;
}

/** Secret access keys near an AWS key id or label. */
function scanAwsSecrets(text: string, anchors: readonly number[], emit: Emit): void {
  let scannedTo = 0;
  for (const anchor of anchors) {
    const from = Math.max(scannedTo, anchor - AWS_PAIR_WINDOW);
    const to = Math.min(text.length, anchor + AWS_PAIR_WINDOW);
    if (to <= from) continue;
    AWS_SECRET.lastIndex = from;
    let m: RegExpExecArray | null;
    while ((m = AWS_SECRET.exec(text)) !== null && m.index < to) {
      // Real keys mix cases and digits; a 40-character hex digest (a commit id) does not.
      if (mixedCase(m[0]) && shannonEntropy(m[0]) >= 4.0) emit('secret.aws', m[0], m.index, m.index + 40);
    }
    scannedTo = to;
  }
}

/** The `secret.*` detectors: one pass over the text for all of them. */
export function secretsDetector(): DetectorFamily {
  return {
    rules: BUILTIN_RULES.filter((r) => r.startsWith('secret.')),
    scan(text, emit) {
      const awsAnchors: number[] = [];
      PREFIX.lastIndex = 0;
      let m: RegExpExecArray | null;
      while ((m = PREFIX.exec(text)) !== null) {
        PREFIX.lastIndex = Math.max(confirm(text, m.index, emit, awsAnchors), m.index + 1);
      }
      if (awsAnchors.length > 0) scanAwsSecrets(text, awsAnchors, emit);
    },
  };
}
