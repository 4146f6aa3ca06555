import type { ArtifactStore } from '../artifacts/artifact.store';
import type { AppConfig } from '../config/config';
import { createGithubTokenProvider, GithubPullRequestGateway, GitPullRequestGateway, type GithubTokenProvider } from '../pull-requests';
import type { TenantRepository } from '../tenants/tenant.repository';
import type { WorkspaceManager } from '../workspaces';
import type { PullRequestGateway } from './agent.port';
import { JobWorkspaces } from './cli/job-workspaces';

/** DI token of the git token provider (askpass and, for PR_GATEWAY=github, Octokit). */
export const GIT_TOKEN_PROVIDER = Symbol('GIT_TOKEN_PROVIDER');

/** Where git (through askpass) and Octokit get their token; null when none is configured. */
export interface GitTokenProvider {
  token(): Promise<string | null>;
  /** The GitHub provider behind it (App or token), for Octokit. */
  readonly github: GithubTokenProvider | null;
}

/**
 * GIT_TOKEN for git when set; else the GitHub credentials (GITHUB_APP_* installation tokens,
 * refreshed before they expire, or GITHUB_TOKEN) serve git and Octokit alike; else none (public
 * or local remotes).
 * @throws Error when the GitHub App is only partly configured.
 */
export function gitTokenProvider(config: AppConfig): GitTokenProvider {
  const github = createGithubTokenProvider({
    token: config.GITHUB_TOKEN || null,
    app: { appId: config.GITHUB_APP_ID, privateKey: config.GITHUB_APP_PRIVATE_KEY, installationId: config.GITHUB_APP_INSTALLATION_ID },
    baseUrl: config.GITHUB_API_URL,
  });
  return {
    github,
    token: async () => config.GIT_TOKEN || (github ? await github.token() : null),
  };
}

/**
 * The PR_GATEWAY=git or =github gateway. Both push the job's branch from a worktree prepared on
 * this host at the last code commit (recreated from the recorded commits if this host has none).
 */
export function createPullRequestGateway(
  config: AppConfig,
  deps: { manager: WorkspaceManager; artifacts: ArtifactStore; tenants: TenantRepository; token: GitTokenProvider },
): PullRequestGateway {
  const workspaces = new JobWorkspaces(deps.manager, deps.artifacts, deps.tenants, config.GIT_URL_TEMPLATE);
  const prepare = (ctx: Parameters<JobWorkspaces['ensure']>[0], input: { code: Parameters<JobWorkspaces['ensure']>[1] }, signal: AbortSignal) =>
    workspaces.ensure(ctx, input.code, 'pr-open', signal);
  if (config.PR_GATEWAY === 'git') return new GitPullRequestGateway({ prepare, workspaces: deps.manager });
  return new GithubPullRequestGateway({ prepare, workspaces: deps.manager, tokens: deps.token.github, baseUrl: config.GITHUB_API_URL, draft: config.PR_DRAFT });
}
