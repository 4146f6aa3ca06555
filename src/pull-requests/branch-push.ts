/**
 * Pushing a job's branch, shared by both gateways: the job's worktree is prepared on this host
 * (by the caller's `prepare`, which restores it at the code stage's commit), checked against what
 * the job recorded, and its branch is pushed to the remote with the WorkspaceManager (forced: the
 * branch belongs to the job; the token reaches git only through askpass).
 *
 * Idempotent: when the remote branch already points at the head (a retried or redelivered call),
 * nothing is pushed. Known limit: the push is forced, so commits someone else pushed onto the
 * job's branch are replaced by the job's head when the head differs.
 */
import type { AgentJobContext, PullRequestInput } from '../agents/agent.port';
import type { Workspace, WorkspaceManager } from '../workspaces';
import { permanent } from './pull-request-errors';

/**
 * Prepares the job's worktree on this host at `input.code.commitSha` (restoring the orchestrator
 * commits when the branch is not here) and returns it. Provided by the agent wiring.
 */
export type PrepareWorkspace = (ctx: AgentJobContext, input: PullRequestInput, signal: AbortSignal) => Promise<Workspace>;

/** The WorkspaceManager operations a gateway uses. */
export type BranchPushWorkspaces = Pick<WorkspaceManager, 'push' | 'remoteBranchHead'>;

/** The pushed branch. */
export interface PushedBranch {
  /** `aicd/<issue>-<jobId[0..8]>`. */
  branch: string;
  baseBranch: string;
  /** The branch's head on the remote (40 hex). */
  headSha: string;
  /** The remote the branch went to (never carries credentials). */
  remoteUrl: string;
  /** False when the remote already had this head (nothing was pushed). */
  pushed: boolean;
}

/**
 * Prepares, checks and pushes the job's branch.
 * @throws AgentError (permanent) `PR_WORKSPACE_MISMATCH` when `ctx.workspace` is missing or names
 *   another branch or base; `PR_HEAD_MISMATCH` when the worktree's head is not
 *   `input.code.commitSha`; `PR_NO_COMMITS` when the head is the base commit.
 * @throws WorkspaceError from `prepare`, `remoteBranchHead` or `push` (`GIT_AUTH_FAILED`,
 *   `GIT_FAILED`, `GIT_TIMEOUT`, `ABORTED`, …); the gateways turn them into AgentErrors.
 */
export async function pushJobBranch(
  prepare: PrepareWorkspace,
  workspaces: BranchPushWorkspaces,
  ctx: AgentJobContext,
  input: PullRequestInput,
  signal: AbortSignal,
): Promise<PushedBranch> {
  const recorded = ctx.workspace;
  if (!recorded) throw permanent('PR_WORKSPACE_MISMATCH', `job ${ctx.jobId} has no recorded workspace: no branch to propose`);
  const ws = await prepare(ctx, input, signal);
  if (ws.branch !== recorded.branch || ws.baseBranch !== recorded.baseBranch) {
    throw permanent('PR_WORKSPACE_MISMATCH', `the prepared worktree is on ${ws.branch} (base ${ws.baseBranch}), the job recorded ${recorded.branch} (base ${recorded.baseBranch})`);
  }
  const wanted = input.code.commitSha;
  if (wanted && ws.head !== wanted) {
    throw permanent('PR_HEAD_MISMATCH', `the worktree of ${ws.branch} is at ${ws.head}, not at the reviewed commit ${wanted}`);
  }
  if (ws.head === ws.baseCommit || ws.head === recorded.baseCommit) {
    throw permanent('PR_NO_COMMITS', `${ws.branch} has no commit beyond its base ${ws.baseCommit}: nothing to propose`);
  }
  const remoteHead = await workspaces.remoteBranchHead(ws, { signal });
  if (remoteHead === ws.head) return { branch: ws.branch, baseBranch: ws.baseBranch, headSha: ws.head, remoteUrl: ws.remoteUrl, pushed: false };
  const result = await workspaces.push(ws, { signal });
  return { branch: ws.branch, baseBranch: ws.baseBranch, headSha: result.sha, remoteUrl: ws.remoteUrl, pushed: true };
}
