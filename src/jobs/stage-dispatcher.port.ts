import type { Stage } from '../lifecycle/job.types';
import type { JobRecord } from './job.record';

/** A message asking a stage worker to advance a job that is at `version`. */
export interface StageMessage {
  jobId: string;
  tenantId: string;
  stage: Stage;
  /** The job's version when the message was sent; a worker drops it if the job moved on. */
  version: number;
  /**
   * Attempts of this stage already made in process before the message was sent (a stage run by
   * continuation that failed transiently, see src/runtime/stage-runner.ts); absent = 0. The message's own BullMQ
   * attempts are the rest: attempt numbers and the machine's attempts-left guard count both.
   */
  attemptsBefore?: number;
}

/** How to send one stage message. */
export interface DispatchOptions {
  /** See {@link StageMessage.attemptsBefore}; the message gets `STAGE_ATTEMPTS - attemptsBefore` attempts. */
  attemptsBefore?: number;
  /** Delay before the message can run, ms (a retry's backoff). */
  delayMs?: number;
  /**
   * Appended to the message id (`<jobId>-<stage>-<version>-<suffix>`): a second message for the
   * same version, while the first one is still held by a worker that is presumed dead (a
   * heartbeat rescue, see Sweeper). Idempotent per suffix.
   */
  idSuffix?: string;
}

/**
 * Port through which the domain asks for a stage to run. The BullMQ adapter sends at most one
 * message per (job, stage, version): the message id is `<jobId>-<stage>-<version>`.
 */
export abstract class StageDispatcher {
  /**
   * Sends the message for the stage `job` waits for, if any (none in final states, FAILED or a
   * PR waiting for MARK_COMPLETED). Idempotent. @throws DependencyUnavailableError.
   */
  abstract dispatch(job: JobRecord, options?: DispatchOptions): Promise<StageMessage | null>;
  /**
   * Schedules the job's deadline check at `at` (kept in Redis as a delayed message, so it fires
   * when a worker is back even if none was alive at that moment). Idempotent per job.
   * @throws DependencyUnavailableError.
   */
  abstract scheduleDeadline(job: Pick<JobRecord, 'id' | 'tenantId'>, at: Date): Promise<void>;
  /** Resolves when the queue's Redis answers. @throws when it does not. */
  abstract ping(): Promise<void>;
}

/** The message of the deadline queue. */
export interface DeadlineMessage {
  jobId: string;
  tenantId: string;
}

/** Port to abort a job's running agent call in whichever process runs it. */
export abstract class CancellationBus {
  /**
   * Announces that `jobId` was cancelled (or failed from outside) by the commit that created
   * `version`: calls running on an earlier version are aborted, including ones that start later.
   */
  abstract publish(jobId: string, version: number): Promise<void>;
}
