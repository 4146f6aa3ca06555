import type {
  CodeResult,
  Issue,
  PlanResult,
  PullRequestResult,
  ReviewResult,
  Stage,
} from '../lifecycle/job.types';

export type { CodeResult, FileChange, PlanResult, PullRequestResult, ReviewResult } from '../lifecycle/job.types';

/** What the agent knows about the job it works on. */
export interface AgentJobContext {
  jobId: string;
  tenantId: string;
  repositoryId: string;
  issue: Issue;
  /** 1-based review round the call belongs to (1 until the first rejection). */
  reviewRound: number;
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

/** Opens pull requests. The default gateway is simulated. */
export interface PullRequestGateway {
  open(
    ctx: AgentJobContext,
    plan: PlanResult,
    code: CodeResult,
    opts: AgentCallOptions,
  ): Promise<PullRequestResult>;
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
  ) {
    super(message);
    this.name = 'AgentError';
  }
}
