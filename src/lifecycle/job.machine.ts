import { assign, setup } from 'xstate';
import type {
  CodeResult,
  JobContext,
  JobError,
  JobEvent,
  JobInput,
  PlanResult,
  PullRequestResult,
  ReviewResult,
  Stage,
  StageOutput,
} from './job.types';
import { asFault, parkedStageActor, stageInput, type FaultEvent } from './stage-actors';
import { addUsage, NO_USAGE, overBudget } from './usage';

export { addUsage, NO_USAGE, overBudget, parkedStageActor };

/**
 * Version of the statechart definition; stored beside every persisted snapshot.
 * 2: usage, budget guard (BUDGET_EXCEEDED) and workspace (migration from 1 in snapshot-migrations.ts).
 */
export const JOB_MACHINE_VERSION = '2';


/** The two onError transitions of a stage: stay for a queue retry, or go to FAILED. */
function onStageError(stage: Stage) {
  return [
    {
      guard: { type: 'isRetryableFault', params: { stage } },
      actions: { type: 'recordFault', params: { stage } },
    },
    { target: '#job.FAILED', actions: { type: 'recordStageFailure', params: { stage } } },
  ] as const;
}

type DoneEvent<T> = { type: string; output: StageOutput<T> };

/** What every stage's done event records: the attempt, the usage and the workspace it reports. */
function doneBookkeeping(context: JobContext, event: DoneEvent<unknown>, stage: Stage) {
  return {
    attempts: { ...context.attempts, [stage]: event.output.attempt },
    usage: addUsage(context.usage, event.output.usage),
    workspace: event.output.workspace ?? context.workspace,
    lastFault: null,
  };
}

/**
 * The first branch of every stage's done event that leads to another stage: when the job's usage
 * with this visit's is over its budget, the result is kept and the job goes to FAILED with
 * BUDGET_EXCEEDED instead of starting the next stage; RETRY resumes there (with a raised budget).
 */
function budgetBranch(stage: Stage) {
  return {
    guard: { type: 'isOverBudget', params: { stage } },
    target: '#job.FAILED',
    actions: { type: 'recordBudgetExceeded', params: { stage } },
  } as const;
}

/** The stage a job goes on to after `stage` produced `output` (for a BUDGET_EXCEEDED failure). */
function nextStage(stage: Stage, output: StageOutput<unknown>): Stage {
  if (stage === 'planning') return 'coding';
  if (stage === 'coding') return 'reviewing';
  return (output.result as ReviewResult).approved ? 'pr-open' : 'coding';
}

const RESULT_FIELD = { planning: 'plan', coding: 'code', reviewing: 'review', 'pr-open': 'prUrl' } as const;

/** Every non-final state accepts MARK_CANCELLED. */
const cancellable = {
  MARK_CANCELLED: { target: '#job.CANCELLED' },
} as const;

/** Working states accept MARK_FAILED (deadline watchdog, exhausted attempts outside the agent). */
function failable(stage: Stage) {
  return {
    MARK_FAILED: { target: '#job.FAILED', actions: { type: 'recordMarkedFailure', params: { stage } } },
  } as const;
}

/**
 * The job lifecycle statechart (XState v5).
 *
 * QUEUED → PLANNING → CODING → REVIEWING → PR_OPEN → COMPLETED, REVIEWING → CODING on rejection,
 * FAILED from every working state (RETRY resumes the failed stage), CANCELLED from every
 * non-final state. PLANNING, CODING, REVIEWING and PR_OPEN invoke the actors `plan`, `code`,
 * `review` and `openPullRequest` (explicit ids). Timeouts are not modelled with `after`
 * (delays are not persisted, statelyai/xstate#4860); they live in the queue.
 */
export const jobMachine = setup({
  types: {
    context: {} as JobContext,
    events: {} as JobEvent,
    input: {} as JobInput,
  },
  actors: {
    plan: parkedStageActor<PlanResult>(),
    code: parkedStageActor<CodeResult>(),
    review: parkedStageActor<ReviewResult>(),
    openPullRequest: parkedStageActor<PullRequestResult>(),
  },
  actions: {
    /** Keeps a transient fault while the queue retries the stage (the state does not change). */
    recordFault: assign({
      lastFault: ({ event }, params: { stage: Stage }) => asFault(event as unknown as FaultEvent, params.stage),
    }),
    /** Keeps the stage's result and usage, and fails the job with BUDGET_EXCEEDED before the next stage. */
    recordBudgetExceeded: assign(({ context, event }, params: { stage: Stage }) => {
      const done = event as unknown as DoneEvent<unknown>;
      const bookkeeping = doneBookkeeping(context, done, params.stage);
      const failedStage = nextStage(params.stage, done.output);
      const u = bookkeeping.usage;
      const b = context.limits.budget;
      const error: JobError = {
        code: 'BUDGET_EXCEEDED',
        message: `usage ${u.inputTokens + u.outputTokens} tokens / $${u.costUsd} is over the budget (${b.tokens ?? 'no'} token limit / ${b.usd === null ? 'no' : `$${b.usd}`} USD limit); ${failedStage} did not start`,
        stage: params.stage,
      };
      const review = params.stage === 'reviewing' ? { reviewRounds: context.reviewRounds + 1 } : {};
      return { ...bookkeeping, ...review, [RESULT_FIELD[params.stage]]: done.output.result, error, failedStage };
    }),
    /** Records the stage's fault as the job's error, and the usage the failed call spent. */
    recordStageFailure: assign(({ context, event }, params: { stage: Stage }) => {
      const fault = asFault(event as unknown as FaultEvent, params.stage);
      const error: JobError = { code: fault.code, message: fault.message, stage: params.stage };
      return { error, failedStage: params.stage, lastFault: null, usage: addUsage(context.usage, fault.usage) };
    }),
    /** Records the error carried by MARK_FAILED. */
    recordMarkedFailure: assign(({ event }, params: { stage: Stage }) => {
      const e = event as { type: string; error?: JobError };
      const error: JobError = e.error ?? { code: 'FAILED', message: 'marked failed', stage: params.stage };
      return { error, failedStage: params.stage, lastFault: null };
    }),
    /**
     * Clears the failure before resuming the failed stage; a review-rounds failure gets a fresh
     * round budget; RETRY's `budgetUsd` / `budgetTokens` replace the spending limits.
     */
    resume: assign(({ context, event }) => {
      const e = event as { budgetUsd?: number | null; budgetTokens?: number | null };
      const budget = { ...context.limits.budget };
      if (e.budgetUsd !== undefined) budget.usd = e.budgetUsd;
      if (e.budgetTokens !== undefined) budget.tokens = e.budgetTokens;
      return {
        error: null,
        failedStage: null,
        lastFault: null,
        reviewRounds: context.error?.code === 'REVIEW_ROUNDS_EXCEEDED' ? 0 : context.reviewRounds,
        limits: { ...context.limits, budget },
      };
    }),
  },
  guards: {
    /**
     * The job's usage, with what this stage visit reports, is over its budget (USD or tokens):
     * the next stage must not start.
     */
    isOverBudget: ({ context, event }, _params: { stage: Stage }) =>
      overBudget(addUsage(context.usage, (event as unknown as DoneEvent<unknown>).output?.usage), context.limits.budget),
    /** The fault is transient and attempts remain: stay in the stage, the queue retries. */
    isRetryableFault: ({ event }, params: { stage: Stage }) => {
      const f = asFault(event as FaultEvent, params.stage);
      return f.retryable && f.attempt < f.maxAttempts;
    },
    /** The review approved the change. */
    isApproved: ({ event }) =>
      (event as unknown as { output: StageOutput<ReviewResult> }).output.result.approved === true,
    /** A rejected review may go back to CODING: fewer than `maxReviewRounds` reviews done. */
    canReviseAgain: ({ context }) => context.reviewRounds + 1 < context.limits.maxReviewRounds,
    /** PR_OPEN completes on its own once the PR is open. */
    isAutoComplete: ({ context }) => context.limits.autoComplete,
    /** A PR exists, so the job can be marked completed. */
    hasPullRequest: ({ context }) => context.prUrl !== null,
    /** The job failed in the given stage (so RETRY / START_<STAGE> resumes there). */
    failedIn: ({ context }, params: { stage: Stage }) => context.failedStage === params.stage,
  },
}).createMachine({
  id: 'job',
  version: JOB_MACHINE_VERSION,
  context: ({ input }) => ({
    ...input,
    plan: null,
    code: null,
    review: null,
    feedback: [],
    prUrl: null,
    attempts: { planning: 0, coding: 0, reviewing: 0, 'pr-open': 0 },
    reviewRounds: 0,
    error: null,
    failedStage: null,
    lastFault: null,
    usage: NO_USAGE,
    workspace: null,
  }),
  initial: 'QUEUED',
  states: {
    QUEUED: {
      description: 'Accepted and persisted; waiting for a planning worker.',
      on: {
        START_PLANNING: { target: 'PLANNING' },
        ...cancellable,
        ...failable('planning'),
      },
    },
    PLANNING: {
      description: 'The agent plans the change (invokes `plan` → Agent.plan).',
      invoke: {
        id: 'plan',
        src: 'plan',
        input: stageInput('planning'),
        // xstate.done.actor.plan stands for the seed's PLAN_SUCCEEDED.
        onDone: [
          budgetBranch('planning'),
          {
            target: 'CODING',
            actions: assign(({ context, event }) => ({ ...doneBookkeeping(context, event, 'planning'), plan: event.output.result })),
          },
        ],
        // xstate.error.actor.plan stands for the seed's PLAN_FAILED.
        onError: onStageError('planning'),
      },
      on: { ...cancellable, ...failable('planning') },
    },
    CODING: {
      description:
        'The agent writes the change (invokes `code` → Agent.code), with review feedback if any.',
      invoke: {
        id: 'code',
        src: 'code',
        input: stageInput('coding'),
        // xstate.done.actor.code stands for the seed's CODE_SUCCEEDED.
        onDone: [
          budgetBranch('coding'),
          {
            target: 'REVIEWING',
            actions: assign(({ context, event }) => ({ ...doneBookkeeping(context, event, 'coding'), code: event.output.result })),
          },
        ],
        // xstate.error.actor.code stands for the seed's CODE_FAILED.
        onError: onStageError('coding'),
      },
      on: { ...cancellable, ...failable('coding') },
    },
    REVIEWING: {
      description:
        'The agent reviews the change (invokes `review` → Agent.review); rejection loops to CODING.',
      invoke: {
        id: 'review',
        src: 'review',
        input: stageInput('reviewing'),
        // xstate.done.actor.review stands for REVIEW_APPROVED or REVIEW_REJECTED.
        onDone: [
          budgetBranch('reviewing'),
          {
            guard: 'isApproved',
            target: 'PR_OPEN',
            actions: assign(({ context, event }) => ({
              ...doneBookkeeping(context, event, 'reviewing'),
              review: event.output.result,
              reviewRounds: context.reviewRounds + 1,
              feedback: [],
            })),
          },
          {
            guard: 'canReviseAgain',
            target: 'CODING',
            actions: assign(({ context, event }) => ({
              ...doneBookkeeping(context, event, 'reviewing'),
              review: event.output.result,
              reviewRounds: context.reviewRounds + 1,
              feedback: event.output.result.comments,
            })),
          },
          {
            target: 'FAILED',
            actions: assign(({ context, event }) => ({
              ...doneBookkeeping(context, event, 'reviewing'),
              review: event.output.result,
              reviewRounds: context.reviewRounds + 1,
              feedback: event.output.result.comments,
              error: {
                code: 'REVIEW_ROUNDS_EXCEEDED',
                message: `review rejected ${context.reviewRounds + 1} time(s); limit is ${context.limits.maxReviewRounds}`,
                stage: 'reviewing' as const,
              },
              // A retry goes back to coding with the last comments and a fresh round budget.
              failedStage: 'coding' as const,
              lastFault: null,
            })),
          },
        ],
        // xstate.error.actor.review stands for the seed's REVIEW_FAILED.
        onError: onStageError('reviewing'),
      },
      on: { ...cancellable, ...failable('reviewing') },
    },
    PR_OPEN: {
      description:
        'A pull request is opened (invokes `openPullRequest` → PullRequestGateway); completes on MARK_COMPLETED (merged) or automatically.',
      invoke: {
        id: 'openPullRequest',
        src: 'openPullRequest',
        input: stageInput('pr-open'),
        // xstate.done.actor.openPullRequest stands for the seed's PR_OPENED.
        onDone: [
          {
            guard: 'isAutoComplete',
            target: 'COMPLETED',
            actions: assign(({ context, event }) => ({ ...doneBookkeeping(context, event, 'pr-open'), prUrl: event.output.result.url })),
          },
          {
            actions: assign(({ context, event }) => ({ ...doneBookkeeping(context, event, 'pr-open'), prUrl: event.output.result.url })),
          },
        ],
        // xstate.error.actor.openPullRequest stands for the seed's PR_FAILED.
        onError: onStageError('pr-open'),
      },
      on: {
        MARK_COMPLETED: { guard: 'hasPullRequest', target: 'COMPLETED' },
        ...cancellable,
        ...failable('pr-open'),
      },
    },
    COMPLETED: {
      description: 'The pull request is open and accepted; nothing more happens.',
      type: 'final',
    },
    FAILED: {
      description:
        'A stage failed permanently, ran out of attempts or review rounds; RETRY resumes the failed stage.',
      on: {
        RETRY: [
          { guard: { type: 'failedIn', params: { stage: 'planning' } }, target: 'PLANNING', actions: 'resume' },
          { guard: { type: 'failedIn', params: { stage: 'coding' } }, target: 'CODING', actions: 'resume' },
          { guard: { type: 'failedIn', params: { stage: 'reviewing' } }, target: 'REVIEWING', actions: 'resume' },
          { guard: { type: 'failedIn', params: { stage: 'pr-open' } }, target: 'PR_OPEN', actions: 'resume' },
        ],
        START_PLANNING: {
          guard: { type: 'failedIn', params: { stage: 'planning' } },
          target: 'PLANNING',
          actions: 'resume',
        },
        START_CODING: {
          guard: { type: 'failedIn', params: { stage: 'coding' } },
          target: 'CODING',
          actions: 'resume',
        },
        START_REVIEWING: {
          guard: { type: 'failedIn', params: { stage: 'reviewing' } },
          target: 'REVIEWING',
          actions: 'resume',
        },
        ...cancellable,
      },
    },
    CANCELLED: {
      description: 'Cancelled on request; any running agent call was aborted and its result discarded.',
      type: 'final',
    },
  },
});

export type JobMachine = typeof jobMachine;
