/**
 * Pull request gateways (PR_GATEWAY): `git` pushes the job's branch and records a compare
 * reference; `github` pushes and opens a pull request with Octokit. Plain classes, no Nest; both
 * take a `prepare` function (the job's worktree on this host) and the WorkspaceManager.
 * Credentials: one {@link GithubTokenProvider} for Octokit and git's askpass alike.
 */
export { GitPullRequestGateway, type GitPullRequestGatewayOptions } from './git-pull-request.gateway';
export { GithubPullRequestGateway, parseIssueNumber, parseRepositoryId, type GithubPullRequestGatewayOptions } from './github-pull-request.gateway';
export { pushJobBranch, type PrepareWorkspace, type PushedBranch, type BranchPushWorkspaces } from './branch-push';
export { compareReference, githubRepositoryOf, DEFAULT_GITHUB_HOSTS } from './compare-reference';
export { pullRequestTitle, pullRequestBody, jobMarker, hasJobMarker, MAX_TITLE_CHARS, MAX_BODY_CHARS } from './pull-request-text';
export { type GithubTokenProvider, StaticTokenProvider } from './github-token';
export { GithubAppTokenProvider, type GithubAppCredentials, type GithubAppTokenOptions } from './github-app-token';
export { createGithubTokenProvider, type GithubTokenOptions } from './github-credentials';
export { createGithubClient, GITHUB_API_VERSION, DEFAULT_USER_AGENT, type GithubClientOptions } from './github-client';
export { SILENT_LOGGER, type GatewayLogger } from './gateway-logger';
export { classifyGithubError, isPullRequestAlreadyExists, rateLimitWaitMs } from './github-errors';
export { PULL_REQUEST_ERROR_CODES, scrubSecrets, type PullRequestErrorCode } from './pull-request-errors';
