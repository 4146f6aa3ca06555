/**
 * PR_GATEWAY=github: pushes the job's branch, then opens a pull request with `@octokit/rest`
 * (`POST /repos/{owner}/{repo}/pulls`, "Create a pull request", docs.github.com/en/rest/pulls/pulls).
 * Plain class, no Nest: the agent wiring constructs it.
 *
 * Idempotency — one job never makes two pull requests or two branches, whatever is retried or
 * redelivered. The branch name is the job's. First `GET /repos/{owner}/{repo}/pulls?head=<owner>:
 * <branch>&state=all` ("List pull requests") looks for an open pull request from the branch into
 * the base, else one carrying this job's marker in any state: a closed or merged one (a person
 * closed it) is returned as is — nothing pushed (its branch may have been deleted on merge),
 * nothing created. Then the branch is pushed (skipped when the remote already has the head), and
 * the found pull request returned or a new one created. When a concurrent run created one between
 * our lookup and our create, GitHub answers 422 "A pull request already exists for
 * <owner>:<branch>." and the open one is listed (`state=open&base=<base>`) and returned.
 */
import type { AgentCallOptions, AgentJobContext, PullRequestGateway, PullRequestInput, PullRequestResult } from '../agents/agent.port';
import { pushJobBranch, type BranchPushWorkspaces, type PrepareWorkspace } from './branch-push';
import { SILENT_LOGGER, type GatewayLogger } from './gateway-logger';
import { createGithubClient, type Octokit } from './github-client';
import { classifyGithubError, isHttpFailure, isPullRequestAlreadyExists } from './github-errors';
import type { GithubTokenProvider } from './github-token';
import { permanent, transient, toAgentError } from './pull-request-errors';
import { hasJobMarker, pullRequestBody, pullRequestTitle } from './pull-request-text';

export interface GithubPullRequestGatewayOptions {
  /** Prepares the job's worktree on this host at `input.code.commitSha`. */
  prepare: PrepareWorkspace;
  /** The WorkspaceManager (its `push` and `remoteBranchHead`); give it the same `tokens` as `token`. */
  workspaces: BranchPushWorkspaces;
  /** GitHub credentials, asked before every request (null: unauthenticated, only for tests). */
  tokens: GithubTokenProvider | null;
  /** GITHUB_API_URL. Default https://api.github.com. */
  baseUrl?: string;
  /** The fetch Octokit uses (tests inject a fake GitHub). Default: global fetch. */
  fetch?: typeof fetch;
  userAgent?: string;
  /** PR_DRAFT: open pull requests as drafts. Default false. */
  draft?: boolean;
  logger?: GatewayLogger;
}

/** The fields of GitHub's pull request object read here (`components.schemas["pull-request"]`). */
interface PullRequestData {
  number: number;
  html_url: string;
  state: string;
  body?: string | null;
  head: { ref: string; sha: string };
  base: { ref: string };
}

const REPOSITORY_ID = /^([A-Za-z0-9][A-Za-z0-9-]*)\/([A-Za-z0-9_.-]+)$/;

/** `{ owner, repo }` of `owner/name`. @throws AgentError `PR_INVALID_INPUT` (permanent). */
export function parseRepositoryId(repositoryId: string): { owner: string; repo: string } {
  const m = REPOSITORY_ID.exec(repositoryId);
  if (!m || m[2] === '.' || m[2] === '..') throw permanent('PR_INVALID_INPUT', `repository id must be "owner/name", got ${JSON.stringify(repositoryId.slice(0, 200))}`);
  return { owner: m[1], repo: m[2].replace(/\.git$/, '') };
}

/** The issue number in `id` (`"7"`, `"#7"`). @throws AgentError `PR_INVALID_INPUT` (permanent). */
export function parseIssueNumber(id: string): number {
  const n = /^#?(\d{1,15})$/.exec(id.trim())?.[1];
  if (!n || Number(n) <= 0) throw permanent('PR_INVALID_INPUT', `issue id must be a positive issue number, got ${JSON.stringify(id.slice(0, 100))}`);
  return Number(n);
}

export class GithubPullRequestGateway implements PullRequestGateway {
  private readonly github: Octokit;
  private readonly logger: GatewayLogger;

  constructor(private readonly options: GithubPullRequestGatewayOptions) {
    this.logger = options.logger ?? SILENT_LOGGER;
    this.github = createGithubClient({ tokens: options.tokens, baseUrl: options.baseUrl, fetch: options.fetch, userAgent: options.userAgent, logger: this.logger });
  }

  /**
   * Pushes the branch and returns its pull request `{ url: html_url, number, branch, headSha }`,
   * created (title `Fix #<n>: <issue title>`, body from `pull-request-text.ts`, `draft` from the
   * options) or found (see the module comment; for a closed one `headSha` is GitHub's `head.sha`).
   * @throws AgentError (stage `pr-open`), permanent: `PR_INVALID_INPUT`, `PR_WORKSPACE_MISMATCH`,
   *   `PR_HEAD_MISMATCH`, `PR_NO_COMMITS`, `GITHUB_AUTH_FAILED` (401/403), `GITHUB_NOT_FOUND` (404),
   *   `GITHUB_VALIDATION_FAILED` (other 422, GitHub's message kept), `GITHUB_REQUEST_FAILED`;
   *   transient: `GITHUB_RATE_LIMITED` (with `retryAfterMs`), `GITHUB_UNAVAILABLE` (5xx, network),
   *   `PR_NOT_FOUND`, `PR_PUSH_FAILED`; the workspace's codes with its permanence (`GIT_*`).
   *   Rejects with the signal's reason when `opts.signal` fires.
   */
  async open(ctx: AgentJobContext, input: PullRequestInput, opts: AgentCallOptions): Promise<PullRequestResult> {
    const { signal } = opts;
    try {
      const { owner, repo } = parseRepositoryId(ctx.repositoryId);
      const issueNumber = parseIssueNumber(ctx.issue.id);
      const recorded = ctx.workspace;
      if (!recorded) throw permanent('PR_WORKSPACE_MISMATCH', `job ${ctx.jobId} has no recorded workspace: no branch to propose`);
      const before = await this.findOwn(owner, repo, recorded.branch, recorded.baseBranch, ctx.jobId, signal);
      if (before && before.state !== 'open') {
        // Closed or merged by a person: neither reopened, duplicated, nor its deleted branch pushed again.
        this.logger.warn(`the job's pull request #${before.number} is ${before.state}; not pushing or opening another`, { jobId: ctx.jobId, number: before.number });
        return this.report(before, 'found (closed)', recorded.branch, before.head.sha, opts);
      }
      const pushed = await pushJobBranch(this.options.prepare, this.options.workspaces, ctx, input, signal);
      if (before) return this.report(before, 'found', pushed.branch, pushed.headSha, opts);
      const title = pullRequestTitle(issueNumber, ctx.issue.title);
      const body = pullRequestBody(ctx.jobId, issueNumber, input);
      const [pr, how] = await this.create({ owner, repo, title, body, head: pushed.branch, base: pushed.baseBranch }, signal);
      return this.report(pr, how, pushed.branch, pushed.headSha, opts);
    } catch (e) {
      throw toAgentError(e, signal, (err) => (isHttpFailure(err) ? classifyGithubError(err, 'opening the pull request') : transient('PR_PUSH_FAILED', `opening the pull request failed: ${err instanceof Error ? err.message : String(err)}`)));
    }
  }

  private report(pr: PullRequestData, how: string, branch: string, headSha: string, opts: AgentCallOptions): PullRequestResult {
    this.logger.debug(`pull request #${pr.number} ${how}`, { number: pr.number, branch });
    opts.observer?.line({ stream: 'stdout', text: `pull request #${pr.number} ${how}: ${pr.html_url} (${branch} at ${headSha})`, at: Date.now() });
    return { url: pr.html_url, number: pr.number, branch, headSha };
  }

  /** The open pull request from `branch` into `base`, else one with the job's marker in any state, else null. */
  private async findOwn(owner: string, repo: string, branch: string, base: string, jobId: string, signal: AbortSignal): Promise<PullRequestData | null> {
    const all = await this.list(owner, repo, branch, 'all', signal);
    return all.find((p) => p.state === 'open' && p.base.ref === base) ?? all.find((p) => hasJobMarker(p.body, jobId)) ?? null;
  }

  private async list(owner: string, repo: string, branch: string, state: 'open' | 'all', signal: AbortSignal, base?: string): Promise<PullRequestData[]> {
    try {
      const { data } = await this.github.rest.pulls.list({ owner, repo, head: `${owner}:${branch}`, ...(base ? { base } : {}), state, per_page: 100, request: { signal } });
      return data as PullRequestData[];
    } catch (e) {
      throw toAgentError(e, signal, (err) => classifyGithubError(err, `listing the pull requests of ${owner}:${branch}`));
    }
  }

  /** Creates the pull request; on "already exists" returns the open one. @returns it and how it was had. */
  private async create(
    req: { owner: string; repo: string; title: string; body: string; head: string; base: string },
    signal: AbortSignal,
  ): Promise<[PullRequestData, string]> {
    try {
      const { data } = await this.github.rest.pulls.create({ ...req, draft: this.options.draft ?? false, request: { signal } });
      return [data as PullRequestData, 'created'];
    } catch (e) {
      if (signal.aborted || !isHttpFailure(e) || !isPullRequestAlreadyExists(e)) {
        throw toAgentError(e, signal, (err) => classifyGithubError(err, 'creating the pull request'));
      }
    }
    const open = await this.list(req.owner, req.repo, req.head, 'open', signal, req.base);
    if (!open.length) throw transient('PR_NOT_FOUND', `GitHub reported an open pull request for ${req.owner}:${req.head} but none is listed (closed meanwhile?)`);
    return [open[0], 'already existed'];
  }
}
