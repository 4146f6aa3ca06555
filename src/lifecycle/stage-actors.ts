import { fromPromise } from 'xstate';
import type { JobContext, Stage, StageFault, StageInput, StageOutput } from './job.types';

/** The invoked stage actors' defaults and inputs, and how their errors read as faults. Pure. */

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
export function stageInput(stage: Stage) {
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

/** An invoked actor's error event as the machine receives it. */
export type FaultEvent = { type: string; error: unknown };

/** The {@link StageFault} an error event carries (defaults for what it lacks: a transient AGENT_ERROR, attempt 1 of 1). */
export function asFault(event: FaultEvent, stage: Stage): StageFault {
  const e = event.error as Partial<StageFault> & { message?: string };
  return {
    code: typeof e?.code === 'string' ? e.code : 'AGENT_ERROR',
    message: typeof e?.message === 'string' ? e.message : String(event.error),
    stage,
    attempt: typeof e?.attempt === 'number' ? e.attempt : 1,
    maxAttempts: typeof e?.maxAttempts === 'number' ? e.maxAttempts : 1,
    retryable: e?.retryable === true,
    ...(e?.usage ? { usage: e.usage } : {}),
    ...(typeof e?.retryAfterMs === 'number' ? { retryAfterMs: e.retryAfterMs } : {}),
  };
}
