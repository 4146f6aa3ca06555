/**
 * GitHub App authentication without a dependency: an RS256 JWT signed with the App's private key
 * (node:crypto) is exchanged for an installation access token, cached until shortly before it
 * expires. (Written when @octokit/request was held at 10.0.14 for Node 20, which @octokit/auth-app
 * 8.3.1 could not use; the exchange is two documented steps, so it stays without the dependency.)
 *
 * Sources (docs.github.com/en/apps/creating-github-apps/authenticating-with-a-github-app/):
 * - "Generating a JSON Web Token (JWT) for a GitHub App": header `alg: RS256`; claims `iat`
 *   (recommended 60 s in the past, against clock drift), `exp` (no more than 10 minutes into the
 *   future), `iss` (the App's client ID or application ID); sent as `Authorization: Bearer <jwt>`.
 * - "Generating an installation access token for a GitHub App" and the REST reference "Create an
 *   installation access token for an app": `POST /app/installations/{installation_id}/access_tokens`
 *   answers 201 `{ token, expires_at (ISO-8601), permissions, repository_selection }`
 *   (`components.schemas["installation-token"]`); the token expires after one hour.
 */
import { createPrivateKey, sign, type KeyObject } from 'node:crypto';
import { createGithubClient, type Octokit } from './github-client';
import { classifyGithubError } from './github-errors';
import { permanent } from './pull-request-errors';
import type { GithubTokenProvider } from './github-token';

export interface GithubAppCredentials {
  /** The App's id (numeric) or client ID (`Iv1.…`): the JWT's `iss`. */
  appId: string;
  /** The App's private key, PEM (PKCS#1 or PKCS#8); `\n` escapes (as in env files) are accepted. */
  privateKey: string;
  /** The installation to act as (numeric). */
  installationId: string;
}

export interface GithubAppTokenOptions extends GithubAppCredentials {
  /** REST API base URL. Default https://api.github.com. */
  baseUrl?: string;
  fetch?: typeof fetch;
  userAgent?: string;
  /** A cached token is replaced this long before its `expires_at`, ms. Default 300 000 (5 min). */
  refreshBeforeMs?: number;
  /** Clock, epoch ms (tests). Default Date.now. */
  now?: () => number;
}

/** Seconds the JWT's `iat` is set in the past (GitHub's recommendation). */
export const JWT_BACKDATE_S = 60;
/** Seconds from now the JWT expires: 9 min, under GitHub's 10 min cap even with a fast clock. */
export const JWT_LIFETIME_S = 540;

const base64url = (data: string | Buffer) => Buffer.from(data).toString('base64url');

/** Mints and caches installation access tokens of one App installation. */
export class GithubAppTokenProvider implements GithubTokenProvider {
  readonly #key: KeyObject;
  readonly #iss: string | number;
  readonly #installationId: string;
  readonly #refreshBeforeMs: number;
  readonly #now: () => number;
  readonly #client: Octokit;
  #cached: { token: string; expiresAtMs: number } | null = null;
  #pending: Promise<string> | null = null;

  /** @throws Error when a credential is malformed (the message never shows the key). */
  constructor(opts: GithubAppTokenOptions) {
    const appId = opts.appId.trim();
    if (!/^(\d+|[A-Za-z0-9._-]+)$/.test(appId)) throw new Error('GitHub App id must be the numeric App id or the client ID');
    this.#iss = /^\d+$/.test(appId) ? Number(appId) : appId;
    const installationId = String(opts.installationId).trim();
    if (!/^\d+$/.test(installationId)) throw new Error('GitHub App installation id must be numeric');
    this.#installationId = installationId;
    const pem = opts.privateKey.includes('\n') ? opts.privateKey : opts.privateKey.replace(/\\n/g, '\n');
    try {
      this.#key = createPrivateKey(pem);
    } catch {
      throw new Error('GitHub App private key is not a valid PEM private key');
    }
    if (this.#key.asymmetricKeyType !== 'rsa') throw new Error('GitHub App private key must be an RSA key (RS256)');
    this.#refreshBeforeMs = opts.refreshBeforeMs ?? 300_000;
    this.#now = opts.now ?? Date.now;
    this.#client = createGithubClient({ tokens: { token: async () => this.appJwt() }, baseUrl: opts.baseUrl, fetch: opts.fetch, userAgent: opts.userAgent });
  }

  /**
   * A valid installation token: the cached one while it has more than `refreshBeforeMs` left,
   * else a new one (concurrent callers share one exchange).
   * @throws AgentError `GITHUB_AUTH_FAILED` (JWT refused: wrong App id or key), `GITHUB_NOT_FOUND`
   *   (no such installation), `GITHUB_RATE_LIMITED`, `GITHUB_UNAVAILABLE`, `GITHUB_REQUEST_FAILED`.
   */
  token(): Promise<string> {
    const cached = this.#cached;
    if (cached && cached.expiresAtMs - this.#refreshBeforeMs > this.#now()) return Promise.resolve(cached.token);
    this.#pending ??= this.#mint().finally(() => (this.#pending = null));
    return this.#pending;
  }

  /** The App's JWT for `now` (epoch ms): RS256 over `{ iat, exp, iss }`. */
  appJwt(now: number = this.#now()): string {
    const seconds = Math.floor(now / 1000);
    const header = base64url(JSON.stringify({ alg: 'RS256', typ: 'JWT' }));
    const payload = base64url(JSON.stringify({ iat: seconds - JWT_BACKDATE_S, exp: seconds + JWT_LIFETIME_S, iss: this.#iss }));
    const signature = sign('RSA-SHA256', Buffer.from(`${header}.${payload}`), this.#key);
    return `${header}.${payload}.${base64url(signature)}`;
  }

  async #mint(): Promise<string> {
    let data: unknown;
    try {
      const res = await this.#client.request('POST /app/installations/{installation_id}/access_tokens', { installation_id: Number(this.#installationId) });
      data = res.data;
    } catch (e) {
      throw classifyGithubError(e, `creating an access token for installation ${this.#installationId}`);
    }
    const { token, expires_at } = (data ?? {}) as { token?: unknown; expires_at?: unknown };
    const expiresAtMs = typeof expires_at === 'string' ? Date.parse(expires_at) : NaN;
    if (typeof token !== 'string' || !token || !Number.isFinite(expiresAtMs)) {
      throw permanent('GITHUB_REQUEST_FAILED', 'GitHub answered the installation token request without `token` and `expires_at`');
    }
    this.#cached = { token, expiresAtMs };
    return token;
  }

  /** Never shows a token or the key (console.log, util.inspect, JSON). */
  toJSON(): string {
    return `GithubAppTokenProvider(installation ${this.#installationId})`;
  }
}
