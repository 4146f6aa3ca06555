/**
 * The token provider the configuration asks for (GITHUB_TOKEN, or GITHUB_APP_ID +
 * GITHUB_APP_PRIVATE_KEY + GITHUB_APP_INSTALLATION_ID). See `github-token.ts` for how one provider
 * serves both git (askpass) and Octokit.
 */
import { GithubAppTokenProvider, type GithubAppCredentials } from './github-app-token';
import { StaticTokenProvider, type GithubTokenProvider } from './github-token';

export interface GithubTokenOptions {
  /** A PAT or installation token (GITHUB_TOKEN); used when no App is configured. */
  token?: string | null;
  /** GitHub App credentials (GITHUB_APP_ID, GITHUB_APP_PRIVATE_KEY, GITHUB_APP_INSTALLATION_ID); win over `token`. */
  app?: Partial<GithubAppCredentials> | null;
  /** REST API base URL for the App's token exchange (GITHUB_API_URL). Default https://api.github.com. */
  baseUrl?: string;
  /** fetch used for the App's token exchange (tests inject one). Default: global fetch. */
  fetch?: typeof fetch;
  userAgent?: string;
}

/**
 * The provider the configuration asks for: a {@link GithubAppTokenProvider} when any App field is
 * set, else a {@link StaticTokenProvider} when `token` is set, else null (no credentials: public
 * remotes over file:// or https without auth).
 * @throws Error when the App is only partly configured (the message names the missing fields).
 */
export function createGithubTokenProvider(opts: GithubTokenOptions): GithubTokenProvider | null {
  const app = opts.app ?? {};
  const fields = { appId: app.appId, privateKey: app.privateKey, installationId: app.installationId };
  const set = Object.entries(fields).filter(([, v]) => v !== undefined && v !== null && String(v).trim() !== '');
  if (set.length > 0) {
    if (set.length < 3) {
      const missing = Object.keys(fields).filter((k) => !set.some(([s]) => s === k));
      throw new Error(`GitHub App authentication is partly configured: missing ${missing.join(', ')}`);
    }
    return new GithubAppTokenProvider({
      appId: String(fields.appId),
      privateKey: String(fields.privateKey),
      installationId: String(fields.installationId),
      baseUrl: opts.baseUrl,
      fetch: opts.fetch,
      userAgent: opts.userAgent,
    });
  }
  return opts.token?.trim() ? new StaticTokenProvider(opts.token) : null;
}
