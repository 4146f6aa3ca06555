/**
 * What every processor of a persisted machine's messages does with one BullMQ delivery, shared by
 * the job stages (src/queues/job-stage-work.ts) and the pipeline step worker
 * (src/runs/step-work.ts): put a message back without spending an attempt, and run the work
 * under one AbortController that a cancel (any process, through RunningCalls and the cancellation
 * bus), the worker's own shutdown and BullMQ's abort signal all reach.
 */
import { DelayedError, type Job } from 'bullmq';

/**
 * Where a process keeps its running deliveries' AbortControllers by key (RunningCalls in
 * src/queues/cancellation.ts): a cancel aborts them, shutdown aborts them all.
 */
export interface AbortRegistry {
  track(key: string, controller: AbortController, version?: number): () => void;
  causeOf(controller: AbortController): string | undefined;
}

/**
 * Moves the message back to the delayed set for `delayMs` without spending an attempt (BullMQ's
 * "manually delayed" pattern: `moveToDelayed` then throw `DelayedError`).
 * @throws DelayedError always (the processor must let it through).
 */
export async function waitWithoutAttempt(job: Job, token: string | undefined, delayMs: number, reason: string): Promise<never> {
  if (token) await job.moveToDelayed(Date.now() + Math.max(0, delayMs), token);
  throw new DelayedError(reason);
}

/** One delivery's abort: see {@link trackDelivery}. */
export interface TrackedDelivery {
  controller: AbortController;
  /** Why it was aborted from outside (`cancelled`, `shutdown`, `lost`), if it was. */
  cause(): string | undefined;
  /** True when the worker is shutting down or BullMQ aborted the job: the message should be released, not failed. */
  releasing(): boolean;
  /** Unregisters (call in `finally`). */
  done(): void;
}

/**
 * Registers a delivery's AbortController under `key` (a job or run id) at `version` in the
 * registry — so a cancel committed after `version` aborts it, even one seen before it
 * registered — and ties it to BullMQ's `outer` signal.
 */
export function trackDelivery(running: AbortRegistry, key: string, version: number, outer?: AbortSignal): TrackedDelivery {
  const controller = new AbortController();
  const onOuter = () => controller.abort(outer?.reason ?? new Error('worker aborted the job'));
  outer?.addEventListener('abort', onOuter, { once: true });
  const untrack = running.track(key, controller, version);
  return {
    controller,
    cause: () => running.causeOf(controller),
    releasing: () => running.causeOf(controller) === 'shutdown' || (outer?.aborted ?? false),
    done: () => {
      untrack();
      outer?.removeEventListener('abort', onOuter);
    },
  };
}
