import type { ArtifactStore } from '../../artifacts/artifact.store';
import type { CodeResult } from '../../lifecycle/job.types';
import type { TenantRepository } from '../../tenants/tenant.repository';
import { isWorkspaceError, resolveCloneUrl, type RestoreCommit, type Workspace, type WorkspaceManager } from '../../workspaces';
import { AgentError, type AgentJobContext } from '../agent.port';
import type { Stage } from '../../lifecycle/job.types';

/**
 * The job's git workspace for a stage: its clone URL (the tenant's `gitUrlTemplate`, else
 * GIT_URL_TEMPLATE), its worktree on this worker prepared by the {@link WorkspaceManager} — reused
 * when this host has it, else recreated from the pushed branch or from the base commit plus the
 * recorded commits (diffs from the artifact store; same shas) — and WorkspaceErrors as AgentErrors.
 */
export class JobWorkspaces {
  constructor(
    readonly manager: WorkspaceManager,
    private readonly artifacts: ArtifactStore,
    private readonly tenants: TenantRepository,
    private readonly defaultUrlTemplate: string,
  ) {}

  /** The issue number the branch is named after. @throws AgentError ISSUE_NUMBER_REQUIRED (permanent). */
  issueNumber(ctx: AgentJobContext, stage: Stage): number {
    const n = /^\d{1,15}$/.test(ctx.issue.id) ? Number(ctx.issue.id) : NaN;
    if (!(n > 0)) throw new AgentError('ISSUE_NUMBER_REQUIRED', `issue id ${JSON.stringify(ctx.issue.id)} is not an issue number; AGENT=cli names the job's branch aicd/<issue number>-<job id>`, false, stage);
    return n;
  }

  /** The clone URL of the job's repository. @throws AgentError INVALID_REMOTE_URL (permanent). */
  async remoteUrl(ctx: AgentJobContext, stage: Stage): Promise<string> {
    const tenant = await this.tenants.findById(ctx.tenantId);
    return this.guard(stage, async () => resolveCloneUrl(ctx.repositoryId, { tenantTemplate: tenant?.settings.gitUrlTemplate ?? null, defaultTemplate: this.defaultUrlTemplate }));
  }

  /**
   * Prepares the worktree so that it holds `code.commitSha` (the last committed code result), or
   * the base commit for a new job. The recorded commits' diffs are read only when this host's
   * branch lacks the head.
   * @throws AgentError with the WorkspaceError's code (permanent ones are not retried).
   */
  async ensure(ctx: AgentJobContext, code: CodeResult | null, stage: Stage, signal: AbortSignal): Promise<Workspace> {
    const job = { jobId: ctx.jobId, issueNumber: this.issueNumber(ctx, stage) };
    const remoteUrl = await this.remoteUrl(ctx, stage);
    const base = { remoteUrl, baseCommit: ctx.workspace?.baseCommit ?? null, baseBranch: ctx.workspace?.baseBranch ?? null, signal };
    const ws = await this.guard(stage, () => this.manager.ensure(job, base));
    if (!code?.commitSha || ws.head === code.commitSha) return ws;
    const restore = await this.restoreChain(code);
    return this.guard(stage, () => this.manager.ensure(job, { ...base, restore }));
  }

  private async restoreChain(code: CodeResult): Promise<RestoreCommit[]> {
    const chain: RestoreCommit[] = [];
    for (const c of code.commits ?? []) {
      const { content } = await this.artifacts.get(c.diff.id);
      chain.push({ commit: c.sha, diff: content.toString('utf8'), message: c.message, authorName: c.authorName, authorEmail: c.authorEmail, date: c.date });
    }
    return chain;
  }

  /** Runs a workspace operation, turning a WorkspaceError into an AgentError of the same code. */
  async guard<T>(stage: Stage, op: () => Promise<T>): Promise<T> {
    try {
      return await op();
    } catch (e) {
      if (isWorkspaceError(e)) throw new AgentError(e.code, e.message, !e.permanent, stage);
      throw e;
    }
  }
}
