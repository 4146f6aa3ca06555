import type {
  CodeResult,
  Issue,
  JobWorkspace,
  PlanResult,
  PullRequestResult,
  ReviewResult,
  Stage,
  StageUsage,
} from '../lifecycle/job.types';
import type { ProcessInfo, ToolLine } from '../tools/tool.port';

export type { CodeResult, FileChange, PlanResult, PullRequestResult, ReviewResult } from '../lifecycle/job.types';

/** What the agent knows about the job it works on. */
export interface AgentJobContext {
  jobId: string;
  tenantId: string;
  repositoryId: string;
  issue: Issue;
  /** 1-based review round the call belongs to (1 until the first rejection). */
  reviewRound: number;
  /** The job's workspace as recorded by an earlier stage (null before the first one prepared it). */
  workspace: JobWorkspace | null;
  /** The last committed code result (an earlier review round's), null before the first. */
  lastCode: CodeResult | null;
}

/**
 * Receives what a call does besides its result, for the job's record: usage (the budget counts
 * it, also for failed calls), the workspace once prepared, the processes it starts (pid and host
 * on the stage attempt, for heartbeats and orphan reaping) and their output lines (the job's logs).
 * Every method is optional to call and must not throw.
 */
export interface AgentCallObserver {
  /** Adds usage spent by this call; may be called several times (e.g. agent run + agent review). */
  usage(usage: StageUsage): void;
  /** The job's workspace, when this call prepared it (recorded on the job with the stage's commit). */
  workspace(workspace: JobWorkspace): void;
  /** A subprocess started. */
  processStarted(info: ProcessInfo): void;
  /** That subprocess (and its process group) is gone. */
  processEnded(info: ProcessInfo, exit: { exitCode: number | null; signal: string | null; durationMs: number }): void;
  /** One output line of a subprocess, or a line the agent writes about what it does (stream `stdout`). */
  line(line: ToolLine): void;
}

/** Options of every agent call. */
export interface AgentCallOptions {
  /** Fires when the job is cancelled or the stage times out; the call must stop and reject. */
  signal: AbortSignal;
  /**
   * `<jobId>:<stage>:<attempt>` (plus `:r<round>` for coding/reviewing). Agent calls run at least
   * once (a restored snapshot restarts its invocation, a stalled queue job is redelivered), so a
   * real agent should dedupe side effects on this key.
   */
  idempotencyKey: string;
  /** 1-based attempt of this stage. */
  attempt: number;
  /** Where usage, processes and log lines go (the stage attempt's record). */
  observer?: AgentCallObserver;
}

/**
 * The "Brain" port: the AI coding agent. Implementations throw {@link AgentError} (or any error,
 * treated as transient) to fail a call.
 */
export interface Agent {
  plan(ctx: AgentJobContext, opts: AgentCallOptions): Promise<PlanResult>;
  /** `feedback` holds the previous review's comments (empty on the first round). */
  code(ctx: AgentJobContext, plan: PlanResult, feedback: string[], opts: AgentCallOptions): Promise<CodeResult>;
  review(ctx: AgentJobContext, plan: PlanResult, code: CodeResult, opts: AgentCallOptions): Promise<ReviewResult>;
}

/** DI token of the {@link Agent}. */
export const AGENT = Symbol('AGENT');

/** What a pull request is made of: the stage results so far (the review holds the checks' result). */
export interface PullRequestInput {
  plan: PlanResult;
  code: CodeResult;
  review: ReviewResult | null;
}

/**
 * Opens pull requests (PR_GATEWAY): `mock` (simulated, the MockAgent), `git` (pushes the branch
 * and records a compare reference) or `github` (pushes and opens a pull request with Octokit).
 * Must be idempotent: a retried or redelivered call never makes a second pull request or branch.
 */
export interface PullRequestGateway {
  open(ctx: AgentJobContext, input: PullRequestInput, opts: AgentCallOptions): Promise<PullRequestResult>;
}

/** DI token of the {@link PullRequestGateway}. */
export const PULL_REQUEST_GATEWAY = Symbol('PULL_REQUEST_GATEWAY');

/**
 * An agent failure. `retryable: false` makes it permanent: the stage goes to FAILED without
 * spending further attempts. `code` is stable and machine-readable (stored on the job).
 */
export class AgentError extends Error {
  constructor(
    readonly code: string,
    message: string,
    readonly retryable: boolean,
    readonly stage?: Stage,
    /** For a transient failure: wait at least this long before the next attempt, ms. */
    readonly retryAfterMs?: number,
  ) {
    super(message);
    this.name = 'AgentError';
  }
}
