import { assign, fromPromise, setup } from 'xstate';
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
  StageFault,
  StageInput,
  StageOutput,
} from './job.types';

/** Version of the statechart definition; stored beside every persisted snapshot. */
export const JOB_MACHINE_VERSION = '1';

/**
 * A stage actor that parks: it never settles on its own and rejects when its actor is stopped.
 * It is the default implementation of every invoked stage actor, so that an actor restored
 * outside a stage worker (REST, sweeper) never calls the agent. A stage worker replaces the one
 * actor of its own stage through `machine.provide({ actors })`; the persisted snapshot keeps the
 * parked child as "active", and restoring it in the right worker restarts the invocation
 * (xstate docs, "Persistence": invocations are restarted).
 */
export function parkedStageActor<T>() {
  return fromPromise<StageOutput<T>, StageInput>(
    ({ signal }) =>
      new Promise<StageOutput<T>>((_resolve, reject) => {
        signal.addEventListener('abort', () => reject(new Error('parked stage actor stopped')), {
          once: true,
        });
      }),
  );
}

/** Builds the slice of context an invoked stage actor receives as `input`. */
function stageInput(stage: Stage) {
  return ({ context }: { context: JobContext }): StageInput => ({
    jobId: context.jobId,
    tenantId: context.tenantId,
    repositoryId: context.repositoryId,
    issue: context.issue,
    stage,
    plan: context.plan,
    code: context.code,
    feedback: context.feedback,
    reviewRound: context.reviewRounds + 1,
  });
}

type FaultEvent = { type: string; error: unknown };

function asFault(event: FaultEvent, stage: Stage): StageFault {
  const e = event.error as Partial<StageFault> & { message?: string };
  return {
    code: typeof e?.code === 'string' ? e.code : 'AGENT_ERROR',
    message: typeof e?.message === 'string' ? e.message : String(event.error),
    stage,
    attempt: typeof e?.attempt === 'number' ? e.attempt : 1,
    maxAttempts: typeof e?.maxAttempts === 'number' ? e.maxAttempts : 1,
    retryable: e?.retryable === true,
  };
}

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
    /** Records the stage's fault as the job's error. */
    recordStageFailure: assign(({ event }, params: { stage: Stage }) => {
      const fault = asFault(event as unknown as FaultEvent, params.stage);
      const error: JobError = { code: fault.code, message: fault.message, stage: params.stage };
      return { error, failedStage: params.stage, lastFault: null };
    }),
    /** Records the error carried by MARK_FAILED. */
    recordMarkedFailure: assign(({ event }, params: { stage: Stage }) => {
      const e = event as { type: string; error?: JobError };
      const error: JobError = e.error ?? { code: 'FAILED', message: 'marked failed', stage: params.stage };
      return { error, failedStage: params.stage, lastFault: null };
    }),
    /** Clears the failure before resuming the failed stage; a review-rounds failure gets a fresh budget. */
    resume: assign(({ context }) => ({
      error: null,
      failedStage: null,
      lastFault: null,
      reviewRounds: context.error?.code === 'REVIEW_ROUNDS_EXCEEDED' ? 0 : context.reviewRounds,
    })),
  },
  guards: {
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
        onDone: {
          target: 'CODING',
          actions: assign(({ context, event }) => ({
            plan: event.output.result,
            attempts: { ...context.attempts, planning: event.output.attempt },
            lastFault: null,
          })),
        },
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
        onDone: {
          target: 'REVIEWING',
          actions: assign(({ context, event }) => ({
            code: event.output.result,
            attempts: { ...context.attempts, coding: event.output.attempt },
            lastFault: null,
          })),
        },
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
          {
            guard: 'isApproved',
            target: 'PR_OPEN',
            actions: assign(({ context, event }) => ({
              review: event.output.result,
              reviewRounds: context.reviewRounds + 1,
              attempts: { ...context.attempts, reviewing: event.output.attempt },
              feedback: [],
              lastFault: null,
            })),
          },
          {
            guard: 'canReviseAgain',
            target: 'CODING',
            actions: assign(({ context, event }) => ({
              review: event.output.result,
              reviewRounds: context.reviewRounds + 1,
              attempts: { ...context.attempts, reviewing: event.output.attempt },
              feedback: event.output.result.comments,
              lastFault: null,
            })),
          },
          {
            target: 'FAILED',
            actions: assign(({ context, event }) => ({
              review: event.output.result,
              reviewRounds: context.reviewRounds + 1,
              attempts: { ...context.attempts, reviewing: event.output.attempt },
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
            actions: assign(({ context, event }) => ({
              prUrl: event.output.result.url,
              attempts: { ...context.attempts, 'pr-open': event.output.attempt },
              lastFault: null,
            })),
          },
          {
            actions: assign(({ context, event }) => ({
              prUrl: event.output.result.url,
              attempts: { ...context.attempts, 'pr-open': event.output.attempt },
              lastFault: null,
            })),
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
