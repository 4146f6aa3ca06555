/**
 * Types of the job lifecycle statechart. Pure TypeScript: no Nest, BullMQ or MongoDB.
 */

/** Every state of the job statechart (top-level state values). */
export const JOB_STATES = [
  'QUEUED',
  'PLANNING',
  'CODING',
  'REVIEWING',
  'PR_OPEN',
  'COMPLETED',
  'FAILED',
  'CANCELLED',
] as const;
export type JobState = (typeof JOB_STATES)[number];

/** States in which no further transition is possible. */
export const FINAL_STATES: readonly JobState[] = ['COMPLETED', 'CANCELLED'];

/**
 * A working stage: a state whose invoked actor calls the agent (or the PR gateway).
 * Each stage has its own BullMQ queue of the same name.
 */
export const STAGES = ['planning', 'coding', 'reviewing', 'pr-open'] as const;
export type Stage = (typeof STAGES)[number];

/** The state a stage runs in, and back. */
export const STAGE_STATE: Record<Stage, JobState> = {
  planning: 'PLANNING',
  coding: 'CODING',
  reviewing: 'REVIEWING',
  'pr-open': 'PR_OPEN',
};
export function stageOfState(state: JobState): Stage | undefined {
  return STAGES.find((s) => STAGE_STATE[s] === state);
}

/** Explicit ids of the invoked actors, one per stage (no auto-generated dotted ids). */
export const STAGE_ACTOR_ID = {
  planning: 'plan',
  coding: 'code',
  reviewing: 'review',
  'pr-open': 'openPullRequest',
} as const satisfies Record<Stage, string>;
export type StageActorId = (typeof STAGE_ACTOR_ID)[Stage];

/** The issue a job works on (GitHub-shaped). */
export interface Issue {
  /** Issue number or id as given by the source tracker. */
  id: string;
  title: string;
  body: string;
  url: string;
}

/**
 * A stored artifact a stage produced (the plan text, the code diff, the checks' output): its
 * content lives in the artifact store, addressed by `id`; `sha256` (hex) and `bytes` identify it.
 */
export interface ArtifactRef {
  id: string;
  name: string;
  contentType: string;
  sha256: string;
  bytes: number;
}

/** Output of the planning stage. */
export interface PlanResult {
  /** Ordered steps the agent intends to carry out. */
  steps: string[];
  summary: string;
  /** The full plan text (a CLI agent's final message), when stored as an artifact. */
  artifact?: ArtifactRef;
}

/** One file touched by the coding stage. */
export interface FileChange {
  path: string;
  /** Unified diff of this file (MockAgent). A CLI agent leaves it out: the whole diff is `CodeResult.diff`. */
  patch?: string;
  commitMessage: string;
  status?: 'added' | 'modified' | 'deleted' | 'renamed';
  additions?: number;
  deletions?: number;
}

/**
 * One commit the orchestrator made on the job's branch: enough to rebuild it with the same sha on
 * a worker that has no copy of the branch (its parent, diff, message, identity and date).
 */
export interface CodeCommit {
  sha: string;
  parentSha: string;
  /** Exact commit message. */
  message: string;
  authorName: string;
  authorEmail: string;
  /** ISO-8601 author and committer date. */
  date: string;
  /** The unified diff `parentSha..sha`, stored as an artifact. */
  diff: ArtifactRef;
}

/** Output of the coding stage. */
export interface CodeResult {
  changes: FileChange[];
  /** The commit the orchestrator made on the job's branch (CLI agent). */
  commitSha?: string;
  /** This round's diff against the commit it started from, stored as an artifact (CLI agent). */
  diff?: ArtifactRef;
  /** `git diff --stat` of this round's change. */
  diffStat?: string;
  /** Every orchestrator commit of the branch so far, oldest first, this round's last (CLI agent). */
  commits?: CodeCommit[];
  /** The agent's own summary of what it changed (its final message). */
  summary?: string;
}

/** The repository's own checks (REVIEW_COMMAND) as run by the review stage. */
export interface CheckResult {
  command: string;
  /** Exit code, or null when the checks were killed (timeout). */
  exitCode: number | null;
  passed: boolean;
  durationMs: number;
  /** The last lines of the checks' output (stdout and stderr), secrets redacted. */
  outputTail: string;
  /** The whole output, when stored as an artifact. */
  output?: ArtifactRef;
}

/** Output of the review stage. */
export interface ReviewResult {
  approved: boolean;
  /** Reviewer comments; on rejection they become the `feedback` of the next `code` call. */
  comments: string[];
  /** The checks that decided (CLI agent), when any ran. */
  checks?: CheckResult;
}

/** Output of the PR-opening step. */
export interface PullRequestResult {
  /** The pull request's URL, or a compare reference (`<remote>#<base>...<branch>`) for the git gateway. */
  url: string;
  /** The pull request's number; null when no pull request object exists (git gateway). */
  number: number | null;
  /** The pushed branch and its head commit, when a branch was pushed. */
  branch?: string;
  headSha?: string;
}

/**
 * Tokens and money spent by agent calls. Tokens are counts (input + output are budgeted
 * together); `costUsd` is US dollars, 0 when the tool reports tokens only.
 */
export interface Usage {
  inputTokens: number;
  outputTokens: number;
  costUsd: number;
}

/** What a single call reported (`costUsd` absent when the tool reports tokens only). */
export interface StageUsage {
  inputTokens: number;
  outputTokens: number;
  costUsd?: number;
}

/** A job's spending limits; null = no limit. */
export interface JobBudget {
  /** US dollars. */
  usd: number | null;
  /** Input + output tokens. */
  tokens: number | null;
}

/** The git workspace of a job, recorded when the first stage prepared it. */
export interface JobWorkspace {
  /** `aicd/<issue number>-<first 8 of jobId>`. */
  branch: string;
  /** The remote's branch the work starts from (its default branch). */
  baseBranch: string;
  /** The commit the job's branch starts from. */
  baseCommit: string;
}

/** Error recorded on the job when it lands in FAILED. `code` is stable and machine-readable. */
export interface JobError {
  code: string;
  message: string;
  stage: Stage | 'lifecycle';
}

/**
 * What an invoked stage actor rejects with. The stage runner builds it from the agent's error;
 * the machine's guards read `retryable`, `attempt` and `maxAttempts` to decide between
 * "stay and let the queue retry" and FAILED.
 */
export interface StageFault {
  code: string;
  message: string;
  stage: Stage;
  /** 1-based attempt number that failed. */
  attempt: number;
  maxAttempts: number;
  /** False for permanent faults (retrying cannot help), true for transient ones. */
  retryable: boolean;
  /** Usage the failed call spent (counted when the fault is committed, i.e. it fails the job). */
  usage?: StageUsage;
  /** For a transient fault: wait at least this long before the next attempt, ms (e.g. an open circuit breaker). */
  retryAfterMs?: number;
}

/** What an invoked stage actor resolves with: the result and the attempt that produced it. */
export interface StageOutput<T> {
  result: T;
  /** 1-based attempt number that succeeded. */
  attempt: number;
  /** Usage spent by this stage visit (this call and the failed attempts before it); added to the job's. */
  usage?: StageUsage;
  /** The job's workspace, when this stage prepared it (the first stage that ran in a workspace). */
  workspace?: JobWorkspace;
}

/** Per-job limits, fixed at submission and persisted in the snapshot. */
export interface JobLimits {
  /** Reviews allowed before the job fails with REVIEW_ROUNDS_EXCEEDED (default 3). */
  maxReviewRounds: number;
  /** Go PR_OPEN → COMPLETED as soon as the PR is open, instead of waiting for MARK_COMPLETED. */
  autoComplete: boolean;
  /** Spending limits: over them, the job goes to FAILED (BUDGET_EXCEEDED) before its next stage. */
  budget: JobBudget;
}

/** Input given when a job's actor is first created. */
export interface JobInput {
  jobId: string;
  tenantId: string;
  repositoryId: string;
  issue: Issue;
  limits: JobLimits;
}

/** The statechart's context (extended state). Everything here is persisted: keep it JSON. */
export interface JobContext extends JobInput {
  plan: PlanResult | null;
  code: CodeResult | null;
  review: ReviewResult | null;
  /** Review comments carried into the next `code` call after a rejection. */
  feedback: string[];
  prUrl: string | null;
  /** Attempt that produced each stage's latest result (1-based; 0 = not run yet). */
  attempts: Record<Stage, number>;
  /** Completed review rounds (approved or rejected). */
  reviewRounds: number;
  error: JobError | null;
  /** Stage the job failed in; RETRY resumes there. */
  failedStage: Stage | null;
  /** The last transient fault of the current stage, while the queue retries it (not committed). */
  lastFault: StageFault | null;
  /** Usage of every committed stage visit so far. */
  usage: Usage;
  /** The job's git workspace, once a stage prepared it (CLI agent); null with the MockAgent. */
  workspace: JobWorkspace | null;
}

/** Input of every invoked stage actor: the slice of context the agent needs. */
export interface StageInput {
  jobId: string;
  tenantId: string;
  repositoryId: string;
  issue: Issue;
  stage: Stage;
  plan: PlanResult | null;
  code: CodeResult | null;
  feedback: string[];
  reviewRound: number;
}

/**
 * Events sent to the machine from outside (REST, workers, webhooks).
 *
 * The seed's result events (PLAN_SUCCEEDED, PLAN_FAILED, CODE_SUCCEEDED, CODE_FAILED,
 * REVIEW_APPROVED, REVIEW_REJECTED, REVIEW_FAILED, PR_OPENED, PR_FAILED) are not sent by
 * anyone: they arrive as the invoked actors' `xstate.done.actor.<id>` /
 * `xstate.error.actor.<id>` events; see {@link seedEventName}.
 */
export type JobEvent =
  /** QUEUED → PLANNING; also FAILED → PLANNING when planning failed (resume). */
  | { type: 'START_PLANNING' }
  /** FAILED → CODING when coding failed (resume). */
  | { type: 'START_CODING' }
  /** FAILED → REVIEWING when reviewing failed (resume). */
  | { type: 'START_REVIEWING' }
  /**
   * FAILED → the stage that failed, whichever it was. `budgetUsd` / `budgetTokens` replace the
   * job's budget (a job that failed with BUDGET_EXCEEDED resumes with a raised one).
   */
  | { type: 'RETRY'; budgetUsd?: number | null; budgetTokens?: number | null }
  /** PR_OPEN → COMPLETED once the PR is open (e.g. it was merged). */
  | { type: 'MARK_COMPLETED' }
  /** Any non-final state → CANCELLED. */
  | { type: 'MARK_CANCELLED'; reason?: string }
  /** Any working state → FAILED: set by the deadline/attempt watchdogs outside the agent call. */
  | { type: 'MARK_FAILED'; error: JobError };

export type JobEventType = JobEvent['type'];

/** Event types that may be sent from outside (REST `POST /jobs/:id/events`). */
export const EXTERNAL_EVENT_TYPES: readonly JobEventType[] = [
  'START_PLANNING',
  'START_CODING',
  'START_REVIEWING',
  'RETRY',
  'MARK_COMPLETED',
  'MARK_CANCELLED',
];

/** One applied transition, as stored in the job's history. */
export interface TransitionRecord {
  from: JobState;
  to: JobState;
  /** Seed event name (e.g. PLAN_SUCCEEDED), see {@link seedEventName}. */
  event: string;
  /** ISO-8601 time the transition was committed. */
  at: string;
  /** Attempt of the stage that produced it (1-based), 0 for external events. */
  attempt: number;
  /** Guard of the branch taken (`isApproved`, `isOverBudget(coding)`); absent when unguarded. */
  guard?: string;
  /** Who caused it (the audit trail); absent on transitions committed before it was recorded. */
  actor?: TransitionActor;
}

/**
 * Who caused a transition: `api` (a tenant's request: `id` is `key:<first 8 hex of the key's
 * SHA-256>`, or `header` in development mode), `bulk` (the same, through `POST /jobs/bulk`),
 * `worker` (a stage's result: `id` is `<host>:<pid>`), `deadline` (the JOB_DEADLINE_MS watchdog),
 * `webhook` (a GitHub delivery: `id` is its `X-GitHub-Delivery`, or `github`). Never a secret.
 */
export interface TransitionActor {
  kind: 'api' | 'bulk' | 'worker' | 'deadline' | 'webhook';
  id: string;
}

/**
 * Maps a raw XState event type, as processed by the machine, to the seed's event vocabulary.
 * - `xstate.done.actor.plan` → PLAN_SUCCEEDED; `xstate.error.actor.plan` → PLAN_FAILED
 * - `xstate.done.actor.code` → CODE_SUCCEEDED; `xstate.error.actor.code` → CODE_FAILED
 * - `xstate.done.actor.review` → REVIEW_APPROVED or REVIEW_REJECTED (by `output.result.approved`);
 *   `xstate.error.actor.review` → REVIEW_FAILED
 * - `xstate.done.actor.openPullRequest` → PR_OPENED; `xstate.error.actor.openPullRequest` → PR_FAILED
 * - anything else keeps its own type.
 */
export function seedEventName(event: { type: string; output?: unknown }): string {
  const m = /^xstate\.(done|error)\.actor\.(.+)$/.exec(event.type);
  if (!m) return event.type;
  const [, kind, id] = m;
  const ok = kind === 'done';
  switch (id) {
    case 'plan':
      return ok ? 'PLAN_SUCCEEDED' : 'PLAN_FAILED';
    case 'code':
      return ok ? 'CODE_SUCCEEDED' : 'CODE_FAILED';
    case 'review': {
      if (!ok) return 'REVIEW_FAILED';
      const out = event.output as StageOutput<ReviewResult> | undefined;
      return out?.result.approved ? 'REVIEW_APPROVED' : 'REVIEW_REJECTED';
    }
    case 'openPullRequest':
      return ok ? 'PR_OPENED' : 'PR_FAILED';
    default:
      return event.type;
  }
}
