import { describe, expect, it } from 'vitest';
import {
  DlpEngine,
  cardIssuer,
  ibanMod97,
  isCardNumber,
  isIban,
  isJwt,
  isSsn,
  luhnValid,
  resolveDlpConfig,
} from '@hookgate/scanner-dlp';
import { luhnNumber } from './support.js';

const engine = new DlpEngine(resolveDlpConfig({}));
/** Rule → count for plain text. */
const scan = (text: string, e = engine) =>
  Object.fromEntries(e.scanText(text).findings.map((f) => [f.rule, f.count]));
const b64url = (v: unknown) =>
  Buffer.from(typeof v === 'string' ? v : JSON.stringify(v)).toString('base64url');

describe('pci.card', () => {
  it('checks Luhn', () => {
    expect(luhnValid('4111111111111111')).toBe(true);
    expect(luhnValid('4111111111111112')).toBe(false);
    expect(luhnValid('79927398713')).toBe(true);
  });

  it('knows issuer ranges and their lengths', () => {
    expect(cardIssuer('4111111111111111')).toBe('visa');
    expect(cardIssuer('5555555555554444')).toBe('mastercard');
    expect(cardIssuer(luhnNumber('2221', 16))).toBe('mastercard');
    expect(cardIssuer(luhnNumber('2720', 16))).toBe('mastercard');
    expect(cardIssuer(luhnNumber('2721', 16))).toBeUndefined();
    expect(cardIssuer('378282246310005')).toBe('amex');
    expect(cardIssuer('6011111111111117')).toBe('discover');
    expect(cardIssuer('3530111333300000')).toBe('jcb');
    expect(cardIssuer('30569309025904')).toBe('diners');
    expect(cardIssuer(luhnNumber('62', 16))).toBe('unionpay');
    expect(cardIssuer(luhnNumber('62', 19))).toBe('unionpay');
    // Amex is 15 digits only; Mastercard 16 only.
    expect(isCardNumber(luhnNumber('37', 16))).toBe(false);
    expect(isCardNumber(luhnNumber('51', 15))).toBe(false);
    // Luhn-valid but no issuer uses 9 or 1.
    expect(isCardNumber(luhnNumber('9', 16))).toBe(false);
    expect(isCardNumber(luhnNumber('1', 16))).toBe(false);
  });

  it('finds cards with spaces, dashes or nothing between the groups', () => {
    expect(scan('card 4111 1111 1111 1111 ok')).toEqual({ 'pci.card': 1 });
    expect(scan('card 4111-1111-1111-1111 ok')).toEqual({ 'pci.card': 1 });
    expect(scan('card 4111111111111111.')).toEqual({ 'pci.card': 1 });
    expect(scan('id,card,amount\n1,4111111111111111,100\n2,5555-5555-5555-4444,7')).toEqual({
      'pci.card': 2,
    });
    expect(scan('amex 3782 822463 10005, diners 3056 930902 5904')).toEqual({ 'pci.card': 2 });
    expect(scan(`2-series ${luhnNumber('2223', 16).replace(/(\d{4})(?=\d)/g, '$1 ')}`)).toEqual({
      'pci.card': 1,
    });
    // Followed by an expiry date or preceded by a list number.
    expect(scan('4111 1111 1111 1111 12/27')).toEqual({ 'pci.card': 1 });
    expect(scan('Item 2 5555 5555 5555 4444 paid')).toEqual({ 'pci.card': 1 });
  });

  it('counts distinct numbers, not occurrences', () => {
    expect(scan('4111 1111 1111 1111, again 4111111111111111, and 5555-5555-5555-4444')).toEqual({
      'pci.card': 2,
    });
  });

  it('ignores look-alikes', () => {
    const text = [
      'Reference 4111 1111 1111 1112', // fails Luhn
      `Gift card ${luhnNumber('9', 16)}`, // no issuer
      'ISBN 978-3-16-148410-0 and 9780306406157',
      'USPS 9400 1000 0000 0000 0000 00',
      'trace 1792996780180284119, epoch 1720000000000',
      'IMEI 35-209900-176148-1',
      'Mixed separators 4111 1111-1111 1111',
      'Account DE89 3704 0044 0532 0130 00', // digit groups inside an IBAN
      `Token xoxb-6297418510-${'4111111111111'}-abc`, // digits inside a token
      'ID4111111111111111x',
      'pi 3.4111111111111111',
      'amount 4111111111111111.25',
      '+4111111111111111',
      '**** **** **** 1111',
    ].join('\n');
    expect(scan(text)['pci.card']).toBeUndefined();
  });
});

describe('iban', () => {
  it('checks mod 97 and the country length', () => {
    expect(ibanMod97('GB82WEST12345698765432')).toBe(1);
    expect(isIban('GB82WEST12345698765432')).toBe(true);
    expect(isIban('DE89370400440532013000')).toBe(true);
    expect(isIban('GB83WEST12345698765432')).toBe(false); // check digits
    expect(isIban('DE8937040044053201300')).toBe(false); // DE is 22 long
    expect(isIban('NO9386011117947')).toBe(true);
    expect(isIban('XX82WEST12345698765432')).toBe(false); // no such country
  });

  it('finds IBANs written compact or in groups of four', () => {
    expect(scan('IBAN: GB82 WEST 1234 5698 7654 32 BIC NWBKGB2L')).toEqual({ iban: 1 });
    expect(scan('to DE89370400440532013000.')).toEqual({ iban: 1 });
    expect(scan('FR14 2004 1010 0505 0001 3M02 606 and NL91ABNA0417164300')).toEqual({ iban: 2 });
    expect(scan('GB82WEST12345698765432 = GB82 WEST 1234 5698 7654 32')).toEqual({ iban: 1 });
  });

  it('ignores wrong checksums, lengths and irregular spacing', () => {
    expect(scan('GB00 WEST 1234 5698 7654 32')).toEqual({});
    expect(scan('DE89370400440532013000123')).toEqual({}); // continues past the country length
    expect(scan('DE8 9370 4004 4053 2013 000')).toEqual({});
    expect(scan('SKU NL12ABCDEFGHIJKLMN')).toEqual({});
  });
});

describe('us.ssn', () => {
  it('excludes numbers the SSA never issues', () => {
    expect(isSsn('536221234')).toBe(true);
    for (const bad of ['000221234', '666221234', '900221234', '999221234', '536001234', '536220000'])
      expect(isSsn(bad)).toBe(false);
  });

  it('excludes published example numbers unless told not to', () => {
    for (const example of ['078051120', '219099999', '123456789', '111111111']) {
      expect(isSsn(example)).toBe(false);
      expect(isSsn(example, false)).toBe(true);
    }
    const lax = new DlpEngine(resolveDlpConfig({ detectors: { 'us.ssn': { excludeTestNumbers: false } } }));
    expect(scan('SSN 078-05-1120', lax)).toEqual({ 'us.ssn': 1 });
    expect(scan('SSN 078-05-1120')).toEqual({});
  });

  it('reads AAA-GG-SSSS anywhere, other forms only near an SSN word', () => {
    expect(scan('Employee 536-22-1234 joined.')).toEqual({ 'us.ssn': 1 });
    expect(scan('Order 536221234 shipped, call 536 22 1234')).toEqual({});
    expect(scan('SSN: 536221234')).toEqual({ 'us.ssn': 1 });
    expect(scan('social security number 536 22 1234')).toEqual({ 'us.ssn': 1 });
  });

  it('ignores phone numbers, dates and longer numbers', () => {
    expect(scan('555-123-4567, 2024-01-15, 90210-1234, 536-22-12345, 1536-22-1234, 536-22-1234.5')).toEqual(
      {},
    );
  });
});

describe('secrets', () => {
  const awsId = 'AKIA2E4G6J7K3M5P7R2T';
  const awsSecret = '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';

  it('secret.aws: key ids of the right length, and secret keys next to them', () => {
    expect(scan(`id ${awsId}`)).toEqual({ 'secret.aws': 1 });
    expect(scan(`aws_access_key_id = ${awsId}\naws_secret_access_key = ${awsSecret}`)).toEqual({
      'secret.aws': 2,
    });
    expect(scan(`AWS_SECRET_ACCESS_KEY=${awsSecret}`)).toEqual({ 'secret.aws': 1 });
    // A 40-character string alone is not an AWS key; nor is a hex digest next to a key id.
    expect(scan(`random ${awsSecret}`)).toEqual({});
    expect(scan(`${awsId} commit 3f786850e387550fdab836ed7e6dc881de23001b`)).toEqual({ 'secret.aws': 1 });
    expect(
      scan('AKIA2E4G6J7K3M5P and AKIA2E4G6J7K3M5P7R2T2E4G, AKIAXXXXXXXXXXXXXXXX, TAKIA2E4G6J7K3M5P7R2T'),
    ).toEqual({});
  });

  it('secret.github: classic and fine-grained tokens', () => {
    const classic = 'ghp_R8dK2mQ7xL4vN9pT3wZ6bY1cH5jF0sA2eG8u';
    expect(scan(`token ${classic}`)).toEqual({ 'secret.github': 1 });
    for (const p of ['gho_', 'ghu_', 'ghs_', 'ghr_'])
      expect(scan(classic.replace('ghp_', p))).toEqual({ 'secret.github': 1 });
    expect(
      scan(
        `github_pat_11ABCDEFG0abcdefghijKL_${'aB3dE5fG7hJ9kL1mN3pQ5rS7tU9vW1xY3z5A7c9E1g3I5k7M9o1Q3s5U7w9Y1'.slice(0, 59)}`,
      ),
    ).toEqual({
      'secret.github': 1,
    });
    expect(
      scan(
        'ghp_short12345 and ghp_xxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxx and xghp_R8dK2mQ7xL4vN9pT3wZ6bY1cH5jF0sA2eG8u',
      ),
    ).toEqual({});
  });

  it('secret.slack: bot, user and app tokens and webhooks', () => {
    expect(scan('xoxb-123456789012-1234567890123-AbCdEfGhIjKlMnOpQrStUvWx')).toEqual({ 'secret.slack': 1 });
    expect(scan('xoxp-123456789012-123456789012-1234567890123-0123456789abcdef0123456789abcdef')).toEqual({
      'secret.slack': 1,
    });
    expect(scan(`xapp-1-A0123ABCDEF-1234567890123-${'0123456789abcdef'.repeat(4)}`)).toEqual({
      'secret.slack': 1,
    });
    expect(scan('https://hooks.slack.com/services/T01ABCDEF/B02GHIJKLMN/aB3dE5fG7hJ9kL1mN3pQ5rS7')).toEqual({
      'secret.slack': 1,
    });
    expect(scan('xoxb-your-token-here, xoxb-12345, https://hooks.slack.com/services/T000/B000/XXXX')).toEqual(
      {},
    );
  });

  it('secret.stripe: live secret and restricted keys only', () => {
    expect(scan('sk_live_4eC39HqLyjWDarjtT1zdp7dc and rk_live_9xY8wV7uT6sR5qP4oN3mL2kJ')).toEqual({
      'secret.stripe': 2,
    });
    expect(scan('sk_test_4eC39HqLyjWDarjtT1zdp7dc pk_live_4eC39HqLyjWDarjtT1zdp7dc sk_live_short')).toEqual(
      {},
    );
  });

  it('secret.google: AIza keys of 39 characters', () => {
    expect(scan('key=AIzaSyA1b2C3d4E5f6G7h8I9j0K1l2M3n4O5p6Q&v=3')).toEqual({ 'secret.google': 1 });
    expect(scan('AIzaSyA1b2C3d4E5f6G7h8I9 and AIzaSyA1b2C3d4E5f6G7h8I9j0K1l2M3n4O5p6Q7r')).toEqual({});
  });

  it('secret.pem: private key blocks with a body', () => {
    const body = 'MIIEowIBAAKCAQEA0Z3VS5JJcds3xfn/ygWyF8PbnGy0AHB7MhgHcTz6sE2I2yPB';
    expect(scan(`-----BEGIN RSA PRIVATE KEY-----\n${body}\n-----END RSA PRIVATE KEY-----`)).toEqual({
      'secret.pem': 1,
    });
    expect(scan(`-----BEGIN OPENSSH PRIVATE KEY-----\n${body}`)).toEqual({ 'secret.pem': 1 });
    // Quoted in a reply, inside JSON (escaped line breaks), flattened HTML, with armor headers.
    expect(scan(`> -----BEGIN EC PRIVATE KEY-----\n> ${body}`)).toEqual({ 'secret.pem': 1 });
    expect(
      scan(`{"private_key": "-----BEGIN PRIVATE KEY-----\\n${body}\\n-----END PRIVATE KEY-----\\n"}`),
    ).toEqual({ 'secret.pem': 1 });
    expect(scan(`-----BEGIN PRIVATE KEY----- ${body} -----END PRIVATE KEY-----`)).toEqual({
      'secret.pem': 1,
    });
    expect(
      scan(
        `-----BEGIN RSA PRIVATE KEY-----\nProc-Type: 4,ENCRYPTED\nDEK-Info: AES-128-CBC,0A1B2C3D\n\n${body}`,
      ),
    ).toEqual({ 'secret.pem': 1 });
  });

  it('secret.pem: not public keys, certificates or a mention of the header', () => {
    const body = 'MIIBIjANBgkqhkiG9w0BAQEFAAOCAQ8AMIIBCgKCAQEAu1SU1LfVLPHCozMxH2Mo';
    expect(scan(`-----BEGIN PUBLIC KEY-----\n${body}\n-----BEGIN CERTIFICATE-----\n${body}`)).toEqual({});
    expect(scan(`Never paste -----BEGIN RSA PRIVATE KEY----- into chat.\n${body}`)).toEqual({});
  });

  it('secret.jwt: three segments whose header names alg', () => {
    const header = b64url({ alg: 'HS256', typ: 'JWT' });
    const payload = b64url({ sub: '1234567890', iat: 1516239022 });
    const token = `${header}.${payload}.SflKxwRJSMeKKF2QT4fwpMeJf36POk6yJV_adQssw5c`;
    expect(isJwt(header, payload, 'SflKxwRJSMeKKF2QT4fwpMeJf36POk6yJV_adQssw5c')).toBe(true);
    expect(scan(`Authorization: Bearer ${token}`)).toEqual({ 'secret.jwt': 1 });
    expect(scan(`${b64url({ alg: 'none' })}.${payload}.`)).toEqual({ 'secret.jwt': 1 });
    // No alg, not JSON, signature missing for a signed alg, or just dotted words.
    expect(scan(`${b64url({ typ: 'JWT' })}.${payload}.SflKxwRJSMeKKF2QT4fwpMeJf36POk6yJV_adQssw5c`)).toEqual(
      {},
    );
    expect(scan(`eyJub3QganNvbg.${payload}.SflKxwRJSMeKKF2QT4fwpMeJf36POk6yJV_adQssw5c`)).toEqual({});
    expect(scan(`${header}.${payload}.`)).toEqual({});
    expect(scan('version 1.2.3 and app.settings.timeout')).toEqual({});
  });
});

describe('detector settings', () => {
  it('can disable a detector, change its severity and require a count', () => {
    const e = new DlpEngine(
      resolveDlpConfig({
        detectors: { iban: { enabled: false }, 'pci.card': { severity: 'low', minCount: 2 } },
      }),
    );
    expect(e.scanText('GB82WEST12345698765432 4111111111111111').findings).toEqual([]);
    expect(e.scanText('4111111111111111 5555555555554444').findings).toEqual([
      { rule: 'pci.card', count: 2, severity: 'low' },
    ]);
  });

  it('can require context words near a built-in match', () => {
    const e = new DlpEngine(
      resolveDlpConfig({ detectors: { 'us.ssn': { context: { words: ['employee'], within: 30 } } } }),
    );
    expect(e.scanText('Employee record: 536-22-1234').findings.map((f) => f.rule)).toEqual(['us.ssn']);
    expect(e.scanText(`Employee record.${' '.repeat(60)}Part 536-22-1234`).findings).toEqual([]);
  });
});
