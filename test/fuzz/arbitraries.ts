import fc from 'fast-check';

/** Visible ASCII and Latin-1 (what an HTTP client may put in a header value). */
const headerChar = fc.oneof(
  { weight: 8, arbitrary: fc.integer({ min: 0x20, max: 0x7e }) },
  { weight: 1, arbitrary: fc.integer({ min: 0xa0, max: 0xff }) },
).map((c) => String.fromCharCode(c));
export const headerValue = fc.string({ unit: headerChar, maxLength: 120 });
const tokenChar = fc.constantFrom(...'abcdefghijklmnopqrstuvwxyz0123456789-_!#$%&*+.^`|~'.split(''));
export const headerName = fc.string({ unit: tokenChar, minLength: 1, maxLength: 30 });

/** Strings that break things: NUL, lone surrogates, RTL marks, `$`/`.` keys, huge, prototype names. */
export const nastyString = fc.oneof(
  { weight: 4, arbitrary: fc.string({ unit: 'binary', maxLength: 40 }) },
  { weight: 2, arbitrary: fc.string({ maxLength: 40 }) },
  {
    weight: 3,
    arbitrary: fc.constantFrom(
      '',
      '\u0000',
      'a\u0000b',
      '\uD800',
      '\uDFFF\uD800',
      '\u202Eevil',
      '\uFEFF',
      '𝕏𝕐',
      'é',
      '$where',
      '$gt',
      'a.b',
      '$',
      '__proto__',
      'constructor',
      'prototype',
      ' ',
      '\r\n',
      'null',
      '0',
      '-1',
      '1e999',
      'NaN',
      '../../etc/passwd',
      '%00',
      '<script>',
      'owner/name',
      'https://github.com/a/b/issues/1',
      'javascript:alert(1)',
    ),
  },
  { weight: 1, arbitrary: fc.integer({ min: 100, max: 70_000 }).map((n) => 'x'.repeat(n)) },
);

/** Any JSON value, with nasty strings inside. */
export const jsonish: fc.Arbitrary<unknown> = fc.letrec<{ value: unknown }>((tie) => ({
  value: fc.oneof(
    { depthSize: 'small', withCrossShrink: true },
    fc.constant(null),
    fc.boolean(),
    fc.integer(),
    fc.double({ noNaN: true, noDefaultInfinity: true }),
    fc.constantFrom(Number.MAX_SAFE_INTEGER + 2, -0, 1e308),
    nastyString,
    fc.array(tie('value'), { maxLength: 4 }),
    fc.dictionary(nastyString, tie('value'), { maxKeys: 4 }),
  ),
})).value;

/** Deeply nested JSON text (arrays, objects or both), optionally inside a job body. */
export const deepJson = fc
  .record({ depth: fc.integer({ min: 20, max: 5000 }), kind: fc.constantFrom('array', 'object', 'mixed'), where: fc.constantFrom('top', 'issue', 'extra', 'repositoryId') })
  .map(({ depth, kind, where }) => {
    let s = '1';
    for (let i = 0; i < depth; i++) s = kind === 'array' || (kind === 'mixed' && i % 2) ? `[${s}]` : `{"a":${s}}`;
    if (where === 'top') return s;
    const valid = { repositoryId: 'acme/widgets', issue: { id: '1', title: 't', body: '', url: 'https://example.test/1' } };
    const text = JSON.stringify(valid);
    if (where === 'issue') return text.replace(/"issue":\{[^}]*\}/, `"issue":${s}`);
    if (where === 'repositoryId') return text.replace('"acme/widgets"', s);
    return `${text.slice(0, -1)},"extra":${s}}`;
  });

/** A valid submission; strings in valid places may still be odd (unicode, NUL, max length). */
export const validJob = fc.record(
  {
    repositoryId: fc.oneof(fc.constant('acme/widgets'), fc.stringMatching(/^[\w.-]{1,20}\/[\w.-]{1,20}$/)),
    issue: fc.record({
      id: fc.oneof(fc.constant('1'), fc.string({ unit: 'binary', minLength: 1, maxLength: 20 })),
      title: fc.oneof(fc.constant('Fix it'), fc.string({ unit: 'binary', minLength: 1, maxLength: 50 }), fc.constant('t'.repeat(1000))),
      body: fc.oneof(fc.constant(''), fc.string({ unit: 'binary', maxLength: 100 }), fc.constant('\u0000mock: fail=planning')),
      url: fc.constantFrom('https://github.com/acme/widgets/issues/1', 'http://localhost/x', 'https://例え.テスト/1'),
    }),
    // Keys from a small set: a repeat answers 200 with the existing job, so the database stays small.
    idempotencyKey: fc.constantFrom('k1', 'k2', 'k3', '\u0000', '$k', 'a.b'),
  },
);

const FIELD_PATHS = ['repositoryId', 'issue', 'issue.id', 'issue.title', 'issue.body', 'issue.url', 'idempotencyKey', 'extra', 'issue.extra', '__proto__', 'issue.__proto__', 'constructor'];

/** A valid submission with one field replaced by any JSON value, or removed. */
export const mutatedJob = fc
  .record({ base: validJob, path: fc.constantFrom(...FIELD_PATHS), value: fc.option(jsonish, { nil: undefined, freq: 5 }) })
  .map(({ base, path, value }) => {
    const doc = JSON.parse(JSON.stringify(base)) as Record<string, unknown>;
    const parts = path.split('.');
    let target = doc;
    for (const p of parts.slice(0, -1)) target = (target[p] ?? {}) as Record<string, unknown>;
    const last = parts.at(-1)!;
    if (value === undefined) delete target[last];
    else Object.defineProperty(target, last, { value, enumerable: true, writable: true, configurable: true });
    return doc;
  });

/** Bodies for JSON endpoints, as bytes. `limit` is the server's BODY_LIMIT_BYTES. */
export function bodyBytes(limit: number, valid: fc.Arbitrary<unknown> = validJob): fc.Arbitrary<Buffer> {
  const json = (a: fc.Arbitrary<unknown>) => a.map((v) => Buffer.from(JSON.stringify(v) ?? 'null', 'utf8'));
  return fc.oneof(
    { weight: 1, arbitrary: json(valid) },
    { weight: 5, arbitrary: json(mutatedJob) },
    { weight: 2, arbitrary: json(jsonish) },
    { weight: 1, arbitrary: deepJson.map((s) => Buffer.from(s)) },
    { weight: 1, arbitrary: fc.string({ maxLength: 60 }).map((s) => Buffer.from(s)) }, // not JSON
    { weight: 1, arbitrary: json(validJob).chain((b) => fc.nat({ max: b.length }).map((n) => b.subarray(0, n))) }, // truncated
    { weight: 1, arbitrary: fc.uint8Array({ maxLength: 120 }).map((a) => Buffer.from(a)) }, // any bytes, invalid UTF-8
    { weight: 1, arbitrary: json(validJob).map((b) => Buffer.concat([b.subarray(0, 20), Buffer.from([0xc3, 0x28, 0xff, 0xfe, 0xed, 0xa0, 0x80]), b.subarray(20)])) },
    { weight: 1, arbitrary: fc.integer({ min: limit + 1, max: limit * 3 }).map((n) => Buffer.from(`{"pad":"${'x'.repeat(n)}"}`)) }, // over the limit
    { weight: 1, arbitrary: fc.constant(Buffer.alloc(0)) },
  );
}

/** Content types, with charsets and encodings a client might (wrongly) send. */
export const contentType = fc.oneof(
  { weight: 10, arbitrary: fc.constant('application/json') },
  {
    weight: 6,
    arbitrary: fc.constantFrom(
      'application/json; charset=utf-8',
      'application/json; charset="UTF-8"',
      'application/json; charset=latin1',
      'application/json; charset=iso-8859-1',
      'application/json; charset=utf-16',
      'application/json; charset=utf-7',
      'application/json; charset=bogus',
      'application/json; boundary=x',
      'application/vnd.github+json',
      'text/plain',
      'text/plain; charset=utf-8',
      'application/x-www-form-urlencoded',
      'multipart/form-data; boundary=----x',
      'application/xml',
      'application/octet-stream',
      '*/*',
      'json',
      '',
    ),
  },
  { weight: 1, arbitrary: headerValue },
);

export const contentEncoding = fc.oneof(
  { weight: 12, arbitrary: fc.constant(undefined) },
  { weight: 1, arbitrary: fc.constantFrom('gzip', 'deflate', 'br', 'identity', 'compress', 'x-bogus', 'gzip, gzip') },
);
