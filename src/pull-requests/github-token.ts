/**
 * Where GitHub credentials come from. ONE provider serves both consumers, so they always use the
 * same (possibly rotated) token:
 *
 *   const tokens = createGithubTokenProvider({ token: GITHUB_TOKEN, app: … });   // github-credentials.ts
 *   new WorkspaceManager({ root, token: () => tokens.token() });    // git, via GIT_ASKPASS
 *   new GithubPullRequestGateway({ …, tokens });                     // Octokit, `Authorization`
 *
 * The token never goes into a URL, an argv, a log line or an error message.
 */

/** A source of GitHub tokens; may return a different token on each call (rotation). */
export interface GithubTokenProvider {
  /**
   * A token valid for at least the next request.
   * @throws AgentError (`GITHUB_AUTH_FAILED`, `GITHUB_UNAVAILABLE`, …) when none can be had.
   */
  token(): Promise<string>;
}

/** A fixed token: a personal access token, or an installation token minted elsewhere. */
export class StaticTokenProvider implements GithubTokenProvider {
  readonly #token: string;

  /** @throws Error for an empty token. */
  constructor(token: string) {
    const t = token.trim();
    if (!t) throw new Error('StaticTokenProvider: empty token');
    this.#token = t;
  }

  token(): Promise<string> {
    return Promise.resolve(this.#token);
  }

  /** Never shows the token (console.log, util.inspect, JSON). */
  toJSON(): string {
    return 'StaticTokenProvider([redacted])';
  }
}
