/**
 * GitHub App authentication: the JWT (RS256, `iss`/`iat`/`exp`), the installation token exchange
 * against the fake GitHub, caching until shortly before `expires_at`, and the configuration factory.
 */
import { createPublicKey, generateKeyPairSync, verify } from 'node:crypto';
import { AgentError } from '../../src/agents/agent.port';
import { createGithubTokenProvider, GithubAppTokenProvider, StaticTokenProvider } from '../../src/pull-requests';
import { FakeGithub } from './support/fake-github';

const { privateKey } = generateKeyPairSync('rsa', { modulusLength: 2048, privateKeyEncoding: { type: 'pkcs1', format: 'pem' }, publicKeyEncoding: { type: 'spki', format: 'pem' } });
const publicKey = createPublicKey(privateKey);
const T0 = Date.parse('2026-03-04T05:06:07Z');

function decode(jwt: string): { header: Record<string, unknown>; payload: Record<string, unknown>; valid: boolean } {
  const [h, p, s] = jwt.split('.');
  const valid = verify('RSA-SHA256', Buffer.from(`${h}.${p}`), publicKey, Buffer.from(s, 'base64url'));
  return { header: JSON.parse(Buffer.from(h, 'base64url').toString()), payload: JSON.parse(Buffer.from(p, 'base64url').toString()), valid };
}

describe('GithubAppTokenProvider', () => {
  let fake: FakeGithub;
  let now: number;
  const provider = (extra: Partial<ConstructorParameters<typeof GithubAppTokenProvider>[0]> = {}) =>
    new GithubAppTokenProvider({ appId: '12345', privateKey, installationId: '42', baseUrl: fake.baseUrl, fetch: fake.fetch, now: () => now, ...extra });

  beforeEach(() => {
    now = T0;
    fake = new FakeGithub();
    fake.now = () => now;
  });

  it('signs an RS256 JWT with iss = the App id, iat 60 s in the past, exp 9 min ahead', () => {
    const { header, payload, valid } = decode(provider().appJwt(T0));
    expect(valid).toBe(true);
    expect(header).toEqual({ alg: 'RS256', typ: 'JWT' });
    const s = Math.floor(T0 / 1000);
    expect(payload).toEqual({ iat: s - 60, exp: s + 540, iss: 12345 });
    expect((payload.exp as number) - s).toBeLessThanOrEqual(600); // GitHub: no more than 10 minutes ahead
  });

  it('keeps a client ID as a string iss', () => {
    expect(decode(provider({ appId: 'Iv1.0123456789abcdef' }).appJwt(T0)).payload.iss).toBe('Iv1.0123456789abcdef');
  });

  it('exchanges the JWT for an installation token and caches it until 5 minutes before expires_at', async () => {
    const p = provider();
    const first = await p.token();
    expect(first).toBe(fake.installationTokens[0]);
    const [mint] = fake.requests;
    expect(`${mint.method} ${mint.path}`).toBe('POST /app/installations/42/access_tokens');
    const jwt = mint.headers.authorization.replace(/^Bearer /, '');
    expect(decode(jwt)).toMatchObject({ valid: true, payload: { iss: 12345, iat: Math.floor(T0 / 1000) - 60 } });

    now = T0 + 54 * 60_000; // 6 minutes left: still cached
    expect(await p.token()).toBe(first);
    expect(fake.requests).toHaveLength(1);

    now = T0 + 56 * 60_000; // 4 minutes left: replaced
    const second = await p.token();
    expect(second).not.toBe(first);
    expect(fake.requests).toHaveLength(2);
    expect(decode(fake.requests[1].headers.authorization.replace(/^Bearer /, '')).payload.iat).toBe(Math.floor(now / 1000) - 60);
  });

  it('concurrent callers share one exchange', async () => {
    const p = provider();
    const tokens = await Promise.all([p.token(), p.token(), p.token()]);
    expect(new Set(tokens).size).toBe(1);
    expect(fake.requests).toHaveLength(1);
  });

  it('a refused JWT is a permanent GITHUB_AUTH_FAILED; an unknown installation GITHUB_NOT_FOUND; a 503 transient', async () => {
    const p = provider();
    fake.inject('POST', /access_tokens$/, { kind: 'respond', status: 401, body: { message: 'A JSON web token could not be decoded', documentation_url: 'https://docs.github.com/rest' } });
    await expect(p.token()).rejects.toMatchObject({ code: 'GITHUB_AUTH_FAILED', retryable: false });
    fake.inject('POST', /access_tokens$/, { kind: 'respond', status: 404, body: { message: 'Not Found' } });
    await expect(p.token()).rejects.toMatchObject({ code: 'GITHUB_NOT_FOUND', retryable: false });
    fake.inject('POST', /access_tokens$/, { kind: 'respond', status: 503, body: { message: 'Service Unavailable' } });
    const err = await p.token().catch((e: unknown) => e);
    expect(err).toBeInstanceOf(AgentError);
    expect(err).toMatchObject({ code: 'GITHUB_UNAVAILABLE', retryable: true });
    expect(await p.token()).toBe(fake.installationTokens[0]); // recovers
  });

  it('accepts a PEM with escaped newlines (env files) and refuses a bad key without showing it', () => {
    expect(() => provider({ privateKey: privateKey.replace(/\n/g, '\\n') })).not.toThrow();
    const bad = '-----BEGIN RSA PRIVATE KEY-----\nc2VjcmV0LWtleS1tYXRlcmlhbA==\n-----END RSA PRIVATE KEY-----';
    expect(() => provider({ privateKey: bad })).toThrow('GitHub App private key is not a valid PEM private key');
    expect(() => provider({ installationId: 'abc' })).toThrow('installation id must be numeric');
  });

  it('never shows a token or the key when printed', async () => {
    const p = provider();
    const token = await p.token();
    expect(JSON.stringify({ p })).not.toContain(token);
    expect(JSON.stringify({ p })).not.toContain('PRIVATE KEY');
    expect(JSON.stringify({ s: new StaticTokenProvider('ghp_secretvalue123456') })).not.toContain('ghp_secretvalue123456');
  });
});

describe('createGithubTokenProvider', () => {
  it('prefers the App, falls back to the token, else null; refuses a partial App', async () => {
    expect(createGithubTokenProvider({ token: 'ghp_x1234567', app: { appId: '1', privateKey, installationId: '2' } })).toBeInstanceOf(GithubAppTokenProvider);
    const stat = createGithubTokenProvider({ token: ' ghp_x1234567 ', app: { appId: '', privateKey: '', installationId: '' } });
    expect(stat).toBeInstanceOf(StaticTokenProvider);
    expect(await stat!.token()).toBe('ghp_x1234567');
    expect(createGithubTokenProvider({ token: '' })).toBeNull();
    expect(() => createGithubTokenProvider({ app: { appId: '1', privateKey } })).toThrow('missing installationId');
  });
});
