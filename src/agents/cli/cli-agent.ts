import type { ArtifactStore } from '../../artifacts/artifact.store';
import type { CodeCommit, CodeResult, JobWorkspace, PlanResult, ReviewResult, Stage } from '../../lifecycle/job.types';
import { reviewCommandFor } from '../../tenants/tenant.types';
import type { TenantRepository } from '../../tenants/tenant.repository';
import { pickEnv } from '../../tools/child-env';
import type { ToolBreakers } from '../../tools/tool-breakers';
import type { CliMode, ToolAdapter } from '../../tools/tool.port';
import type { Workspace } from '../../workspaces';
import { AgentError, type Agent, type AgentCallOptions, type AgentJobContext } from '../agent.port';
import { planFromMessage, verdictFromMessage } from './agent-text';
import type { JobWorkspaces } from './job-workspaces';
import type { PromptTemplates } from './prompt-templates';
import { runChecks } from './review-checks';
import { messageOrThrow, runTool } from './tool-call';

/** Settings of the {@link CliAgent} (from config, see README "Configuration"). */
export interface CliAgentOptions {
  /** The adapter's name: `claude`, `codex`, `gemini`, `aider` or the custom CLI's name. */
  cli: string;
  /** Environment variables the CLI gets from the worker: its own (API keys…) plus AGENT_CLI_ENV. */
  cliEnvNames: readonly string[];
  /** Turn limit for CLIs that have one (0 = the CLI's default). */
  maxTurns: number;
  /** No output for this long kills a CLI run or the checks, ms (TOOL_IDLE_TIMEOUT_MS). */
  idleTimeoutMs: number;
  authorName: string;
  authorEmail: string;
  /** MAX_DIFF_BYTES. */
  maxDiffBytes: number;
  /** WORKSPACE_MAX_BYTES. */
  workspaceMaxBytes: number;
  /** REVIEW_COMMAND (a tenant's setting wins); empty = no checks. */
  reviewCommand: string;
  /** Environment variables the checks get from the worker (REVIEW_COMMAND_ENV). */
  reviewEnvNames: readonly string[];
  /** REVIEW_TIMEOUT_MS. */
  reviewTimeoutMs: number;
  /** REVIEW_AGENT: ask the CLI for a review after passing checks. */
  reviewAgent: boolean;
  /** Secret values to redact from every output line. */
  redact: readonly string[];
}

/** Collaborators of the {@link CliAgent}. */
export interface CliAgentDeps {
  workspaces: JobWorkspaces;
  adapters: ReadonlyMap<string, ToolAdapter>;
  breakers: ToolBreakers;
  artifacts: ArtifactStore;
  tenants: TenantRepository;
  prompts: PromptTemplates;
}

/**
 * The `Agent` that drives a coding-agent CLI (AGENT=cli) in a git worktree per job:
 * - plan: prepares the workspace (recorded on the job), runs the CLI read-only with the plan
 *   prompt; its final message is the plan (steps = its `- ` lines), kept as an artifact;
 * - code: resets the worktree to the last committed code result (or the base commit), runs the
 *   CLI with the plan and the review feedback, then the orchestrator — not the agent — commits
 *   what changed (see WorkspaceManager.commitChanges: .gitignore honoured, paths outside the
 *   worktree refused, NO_CHANGES, DIFF_TOO_LARGE) and checks WORKSPACE_MAX_BYTES; the diff is an
 *   artifact with its SHA-256;
 * - review: runs the repository's checks (REVIEW_COMMAND or the tenant's); failing checks reject
 *   with the tail of their output as the next round's feedback; passing checks approve, or ask
 *   the CLI for a verdict when REVIEW_AGENT is on.
 * Every CLI call gets the stage's idempotency key in AICD_IDEMPOTENCY_KEY. An exit code never
 * decides alone: the CLI's parser does (src/tools/cli).
 */
export class CliAgent implements Agent {
  constructor(
    private readonly options: CliAgentOptions,
    private readonly deps: CliAgentDeps,
  ) {}

  private adapter(name: string): ToolAdapter {
    const a = this.deps.adapters.get(name);
    if (!a) throw new AgentError('TOOL_NOT_CONFIGURED', `no tool adapter named ${name} (AGENT_CLI)`, false);
    return a;
  }

  /** Runs the CLI once with `prompt`; @returns its final message. @throws AgentError for a failed run. */
  private async runCli(stage: Stage, ws: Workspace, prompt: string, mode: CliMode, opts: AgentCallOptions): Promise<string> {
    const result = await runTool(
      this.deps.breakers,
      this.adapter(this.options.cli),
      {
        cwd: ws.path,
        task: { prompt, stage, mode, ...(this.options.maxTurns > 0 ? { maxTurns: this.options.maxTurns } : {}) },
        env: { ...pickEnv(this.options.cliEnvNames), AICD_IDEMPOTENCY_KEY: opts.idempotencyKey },
        idleTimeoutMs: this.options.idleTimeoutMs,
        signal: opts.signal,
        redact: [...this.options.redact],
      },
      stage,
      opts.observer,
    );
    return messageOrThrow(result, stage);
  }

  private view(ctx: AgentJobContext, extra: Record<string, unknown> = {}) {
    return { repository: ctx.repositoryId, issue: ctx.issue, reviewRound: ctx.reviewRound, ...extra };
  }

  private note(opts: AgentCallOptions, text: string): void {
    opts.observer?.line({ stream: 'stdout', text: `[aicd] ${text}`, at: Date.now() });
  }

  async plan(ctx: AgentJobContext, opts: AgentCallOptions): Promise<PlanResult> {
    const ws = await this.deps.workspaces.ensure(ctx, null, 'planning', opts.signal);
    const recorded: JobWorkspace = { branch: ws.branch, baseBranch: ws.baseBranch, baseCommit: ws.baseCommit };
    opts.observer?.workspace(recorded);
    this.note(opts, `workspace ${ws.path} on ${ws.branch} from ${ws.baseBranch}@${ws.baseCommit.slice(0, 12)}`);
    const message = await this.runCli('planning', ws, this.deps.prompts.render('plan', this.view(ctx)), 'read-only', opts);
    const artifact = await this.deps.artifacts.put({ jobId: ctx.jobId, tenantId: ctx.tenantId, stage: 'planning', attempt: opts.attempt, name: 'plan.md', contentType: 'text/markdown; charset=utf-8', content: message });
    return { ...planFromMessage(message), artifact: refOf(artifact) };
  }

  async code(ctx: AgentJobContext, plan: PlanResult, feedback: string[], opts: AgentCallOptions): Promise<CodeResult> {
    const previous = ctx.lastCode;
    const ws = await this.deps.workspaces.ensure(ctx, previous, 'coding', opts.signal);
    const start = previous?.commitSha ?? ws.baseCommit;
    // A retried attempt (or the next round) starts from the last committed result, not from what an earlier try left.
    await this.deps.workspaces.guard('coding', () => this.deps.workspaces.manager.resetTo(ws, start, opts.signal));
    this.note(opts, `worktree reset to ${start.slice(0, 12)} (round ${ctx.reviewRound})`);
    const prompt = this.deps.prompts.render('code', this.view(ctx, { plan, feedback, hasFeedback: feedback.length > 0 }));
    const summary = await this.runCli('coding', ws, prompt, 'edit', opts);
    await this.deps.workspaces.guard('coding', () => this.deps.workspaces.manager.assertWithinLimit(ws, this.options.workspaceMaxBytes));
    const message = `Fix #${ctx.issue.id}: ${ctx.issue.title}${ctx.reviewRound > 1 ? ` (review round ${ctx.reviewRound})` : ''}\n\n${plan.summary}\n\nJob ${ctx.jobId}, attempt ${opts.attempt}.`;
    const date = new Date().toISOString().replace(/\.\d{3}Z$/, 'Z');
    const commit = await this.deps.workspaces.guard('coding', () =>
      this.deps.workspaces.manager.commitChanges(ws, {
        startCommit: start,
        message,
        authorName: this.options.authorName,
        authorEmail: this.options.authorEmail,
        date,
        maxDiffBytes: this.options.maxDiffBytes,
        signal: opts.signal,
      }),
    );
    this.note(opts, `committed ${commit.sha.slice(0, 12)}: ${commit.files.length} file(s), ${commit.diffBytes} bytes of diff`);
    const diff = refOf(await this.deps.artifacts.put({ jobId: ctx.jobId, tenantId: ctx.tenantId, stage: 'coding', attempt: opts.attempt, name: 'diff.patch', contentType: 'text/x-diff; charset=utf-8', content: commit.diff }));
    const own: CodeCommit = { sha: commit.sha, parentSha: start, message, authorName: this.options.authorName, authorEmail: this.options.authorEmail, date, diff };
    return {
      changes: commit.files.map((f) => ({ path: f.path, status: f.status, additions: f.additions, deletions: f.deletions, commitMessage: message.split('\n')[0] })),
      commitSha: commit.sha,
      diff,
      diffStat: commit.stat,
      commits: [...(previous?.commits ?? []), own],
      summary: summary.slice(0, 4000),
    };
  }

  async review(ctx: AgentJobContext, plan: PlanResult, code: CodeResult, opts: AgentCallOptions): Promise<ReviewResult> {
    const ws = await this.deps.workspaces.ensure(ctx, code, 'reviewing', opts.signal);
    if (code.commitSha) await this.deps.workspaces.guard('reviewing', () => this.deps.workspaces.manager.resetTo(ws, code.commitSha!, opts.signal));
    const tenant = await this.deps.tenants.findById(ctx.tenantId);
    const command = tenant ? reviewCommandFor(tenant.settings, ctx.repositoryId, this.options.reviewCommand) : this.options.reviewCommand;
    let checks: ReviewResult['checks'];
    if (command.trim()) {
      this.note(opts, `running the checks: ${command}`);
      const run = await runChecks(
        this.adapter('shell'),
        {
          command,
          cwd: ws.path,
          env: { ...pickEnv(this.options.reviewEnvNames), AICD_IDEMPOTENCY_KEY: opts.idempotencyKey },
          timeoutMs: this.options.reviewTimeoutMs,
          idleTimeoutMs: this.options.idleTimeoutMs,
          signal: opts.signal,
          redact: this.options.redact,
          stage: 'reviewing',
        },
        opts.observer,
      );
      if (opts.signal.aborted) throw opts.signal.reason ?? new Error('aborted');
      const output = refOf(await this.deps.artifacts.put({ jobId: ctx.jobId, tenantId: ctx.tenantId, stage: 'reviewing', attempt: opts.attempt, name: 'checks.log', contentType: 'text/plain; charset=utf-8', content: run.output }));
      checks = { ...run.check, output };
      if (!checks.passed) {
        return { approved: false, comments: [`The repository's checks failed: \`${command}\` ${checks.outputTail.split('\n')[0]}. Their output ends with:`, checks.outputTail.split('\n').slice(1).join('\n')], checks };
      }
    }
    if (!this.options.reviewAgent) {
      return { approved: true, comments: [checks ? `The repository's checks passed: \`${command}\` (${checks.durationMs} ms).` : 'No checks are configured (REVIEW_COMMAND): approved without checks.'], ...(checks ? { checks } : {}) };
    }
    const diff = code.diff ? (await this.deps.artifacts.get(code.diff.id)).content.toString('utf8') : '';
    const prompt = this.deps.prompts.render('review', this.view(ctx, { plan, diff: diff.slice(0, this.options.maxDiffBytes), checks: checks ?? null }));
    const verdict = verdictFromMessage(await this.runCli('reviewing', ws, prompt, 'read-only', opts));
    return { ...verdict, ...(checks ? { checks } : {}) };
  }
}

function refOf(a: { id: string; name: string; contentType: string; sha256: string; bytes: number }) {
  return { id: a.id, name: a.name, contentType: a.contentType, sha256: a.sha256, bytes: a.bytes };
}
