/**
 * The Octokit client the pull request gateway and the App token exchange use: `@octokit/rest` 22
 * (ESM-only; loaded with `require(esm)`, which Node 24 does, transformed for Jest), with
 * - `request.fetch` injectable (Octokit's own tests inject `request: { fetch }`; nock < 14 cannot
 *   intercept fetch), `baseUrl` (GitHub Enterprise: `https://<host>/api/v3`), a user agent;
 * - authentication through a {@link GithubTokenProvider} asked before EVERY request (so a rotated
 *   installation token is picked up), sent as `Authorization: Bearer <token>` — GitHub accepts
 *   `Bearer` for every token kind and requires it for JWTs ("Authenticating to the REST API",
 *   docs.github.com). This is an Octokit `authStrategy` shaped like `@octokit/auth-token`'s
 *   (`hook(request, route, parameters)` sets the header on `request.endpoint.merge(…)`);
 * - `X-GitHub-Api-Version: 2022-11-28` on every request ("API Versions", docs.github.com);
 * - no retry or throttling plugin: the stage's queue retries transient failures.
 */
import { Octokit } from '@octokit/rest';
import { SILENT_LOGGER, type GatewayLogger } from './gateway-logger';
import type { GithubTokenProvider } from './github-token';

/** GitHub's REST API version these gateways were written against. */
export const GITHUB_API_VERSION = '2022-11-28';

/** Default user agent (GitHub requires one; "Getting started with the REST API", docs.github.com). */
export const DEFAULT_USER_AGENT = 'aicd-orchestrator';

export interface GithubClientOptions {
  /** Asked before every request; null = unauthenticated requests. */
  tokens: GithubTokenProvider | null;
  /** REST API base URL. Default https://api.github.com. */
  baseUrl?: string;
  /** The fetch implementation. Default: the global fetch. */
  fetch?: typeof fetch;
  /** Prepended to Octokit's own user agent. Default {@link DEFAULT_USER_AGENT}. */
  userAgent?: string;
  /** Receives Octokit's debug/warn lines (e.g. endpoint deprecations). Default: silent. */
  logger?: GatewayLogger;
}

/** The request function an Octokit auth hook receives (the parts used here). */
interface HookRequest {
  (options: unknown): Promise<unknown>;
  endpoint: { merge(route: unknown, parameters?: unknown): { headers: Record<string, unknown> } };
}

/** An Octokit `authStrategy` asking `tokens` for the token of each request. */
function providerAuthStrategy(tokens: GithubTokenProvider) {
  return () =>
    Object.assign(async () => ({ type: 'token', tokenType: 'provider' }), {
      hook: async (request: HookRequest, route: unknown, parameters?: unknown) => {
        const endpoint = request.endpoint.merge(route, parameters);
        endpoint.headers.authorization = `Bearer ${await tokens.token()}`;
        return request(endpoint);
      },
    });
}

/** A configured Octokit (see the module comment). */
export function createGithubClient(opts: GithubClientOptions): Octokit {
  const logger = opts.logger ?? SILENT_LOGGER;
  const octokit = new Octokit({
    baseUrl: (opts.baseUrl ?? 'https://api.github.com').replace(/\/+$/, ''),
    userAgent: opts.userAgent ?? DEFAULT_USER_AGENT,
    request: opts.fetch ? { fetch: opts.fetch } : {},
    log: {
      debug: (m: string) => logger.debug(m),
      info: (m: string) => logger.debug(m),
      warn: (m: string) => logger.warn(m),
      error: (m: string) => logger.warn(m),
    },
    ...(opts.tokens ? { authStrategy: providerAuthStrategy(opts.tokens) } : {}),
  });
  octokit.hook.before('request', (options) => {
    options.headers['x-github-api-version'] ??= GITHUB_API_VERSION;
  });
  return octokit;
}

export type { Octokit };
