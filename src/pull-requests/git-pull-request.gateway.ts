/**
 * PR_GATEWAY=git: pushes the job's branch and records a compare reference instead of opening a
 * pull request (for remotes without a pull request API, or when people open it themselves).
 * Plain class, no Nest: the agent wiring constructs it.
 */
import type { AgentCallOptions, AgentJobContext, PullRequestGateway, PullRequestInput, PullRequestResult } from '../agents/agent.port';
import { pushJobBranch, type BranchPushWorkspaces, type PrepareWorkspace } from './branch-push';
import { compareReference, DEFAULT_GITHUB_HOSTS } from './compare-reference';
import { SILENT_LOGGER, type GatewayLogger } from './gateway-logger';
import { transient, toAgentError } from './pull-request-errors';

export interface GitPullRequestGatewayOptions {
  /** Prepares the job's worktree on this host at `input.code.commitSha`. */
  prepare: PrepareWorkspace;
  /** The WorkspaceManager (its `push` and `remoteBranchHead`). */
  workspaces: BranchPushWorkspaces;
  /** Hosts whose remotes get a real GitHub compare URL. Default `['github.com']`. */
  githubHosts?: readonly string[];
  logger?: GatewayLogger;
}

export class GitPullRequestGateway implements PullRequestGateway {
  private readonly logger: GatewayLogger;

  constructor(private readonly options: GitPullRequestGatewayOptions) {
    this.logger = options.logger ?? SILENT_LOGGER;
  }

  /**
   * Pushes the branch (a no-op when the remote already has its head) and returns
   * `{ url: <compare reference>, number: null, branch, headSha }`; see `compare-reference.ts`.
   * @throws AgentError (stage `pr-open`): `PR_WORKSPACE_MISMATCH`, `PR_HEAD_MISMATCH`,
   *   `PR_NO_COMMITS` (permanent); the workspace's codes with its permanence (`GIT_AUTH_FAILED`,
   *   `GIT_FAILED`, `GIT_TIMEOUT`, `REMOTE_URL_HAS_CREDENTIALS`, …). Rejects with the signal's
   *   reason when `opts.signal` fires.
   */
  async open(ctx: AgentJobContext, input: PullRequestInput, opts: AgentCallOptions): Promise<PullRequestResult> {
    try {
      const pushed = await pushJobBranch(this.options.prepare, this.options.workspaces, ctx, input, opts.signal);
      const url = compareReference(pushed.remoteUrl, pushed.baseBranch, pushed.branch, this.options.githubHosts ?? DEFAULT_GITHUB_HOSTS);
      const what = pushed.pushed ? 'pushed' : 'already on the remote:';
      this.logger.debug(`pull request branch ${what} ${pushed.branch}`, { jobId: ctx.jobId, branch: pushed.branch, headSha: pushed.headSha });
      opts.observer?.line({ stream: 'stdout', text: `${what} ${pushed.branch} at ${pushed.headSha}; compare: ${url}`, at: Date.now() });
      return { url, number: null, branch: pushed.branch, headSha: pushed.headSha };
    } catch (e) {
      throw toAgentError(e, opts.signal, (err) => transient('PR_PUSH_FAILED', `pushing the branch failed: ${err instanceof Error ? err.message : String(err)}`));
    }
  }
}
