import type { ArtifactStore } from '../artifacts/artifact.store';
import type { AppConfig } from '../config/config';
import type { TenantRepository } from '../tenants/tenant.repository';
import type { WorkspaceManager } from '../workspaces';
import type { PullRequestGateway } from './agent.port';

/** DI token of the git token provider (askpass and, for PR_GATEWAY=github, Octokit). */
export const GIT_TOKEN_PROVIDER = Symbol('GIT_TOKEN_PROVIDER');

/** Where git (through askpass) and Octokit get their token. */
export interface GitTokenProvider {
  /** The token, or null when none is configured (public or local repositories). */
  token(): Promise<string | null>;
}

/** GIT_TOKEN, else GITHUB_TOKEN, else none. */
export function gitTokenProvider(config: AppConfig): GitTokenProvider {
  const token = config.GIT_TOKEN || config.GITHUB_TOKEN || null;
  return { token: async () => token };
}

/** The `git` or `github` gateway. */
export function createPullRequestGateway(
  config: AppConfig,
  _deps: { manager: WorkspaceManager; artifacts: ArtifactStore; tenants: TenantRepository; token: GitTokenProvider },
): PullRequestGateway {
  throw new Error(`PR_GATEWAY=${config.PR_GATEWAY} is not wired yet`);
}
