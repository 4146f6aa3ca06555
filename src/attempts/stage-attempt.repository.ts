import type { Stage, StageUsage } from '../lifecycle/job.types';
import type { AttemptEnd, AttemptProcess, StageAttemptRecord } from './stage-attempt.record';

/**
 * Persistence port for stage attempts (abstract class used as DI token). Every write touches one
 * document. An attempt has one writer (the worker running it) until it ends, except
 * {@link markDead}, which the sweeper uses on an attempt whose heartbeat stopped.
 */
export abstract class StageAttemptRepository {
  /** Inserts the record (idempotent on its id). */
  abstract insert(record: StageAttemptRecord): Promise<void>;

  /**
   * Writes the heartbeat and the process list of a running attempt.
   * @returns false when the attempt is no longer `running` (the sweeper declared it dead): the
   *   worker must stop it.
   */
  abstract heartbeat(id: string, at: Date, processes: AttemptProcess[]): Promise<boolean>;

  /** Records how the attempt ended (also when it was declared dead meanwhile: the truth wins). */
  abstract finish(id: string, end: AttemptEnd & { endedAt: Date; durationMs: number; processes: AttemptProcess[] }): Promise<void>;

  /** Running attempts whose heartbeat is older than `before`, oldest first, at most `limit`. */
  abstract findStale(before: Date, limit: number): Promise<StageAttemptRecord[]>;

  /**
   * Declares a stale running attempt dead, if it still is running with that heartbeat.
   * @returns whether this call did it.
   */
  abstract markDead(id: string, heartbeatAt: Date, at: Date): Promise<boolean>;

  /** Every attempt of a job, oldest first. */
  abstract listForJob(jobId: string): Promise<StageAttemptRecord[]>;

  /**
   * Attempts of the job that may have left processes behind: `running` or `dead`, with processes
   * not yet reaped. For orphan reaping before a stage runs again.
   */
  abstract unreaped(jobId: string): Promise<StageAttemptRecord[]>;

  /** Records that the attempt's processes were reaped (killed or proven gone), and how. */
  abstract markReaped(id: string, report: { at: Date; host: string; found: number; killed: number; remaining: number }): Promise<void>;

  /**
   * Usage of the failed attempts of `stage` on `version` (their usage was not committed: a
   * transient fault keeps the job in its stage). The next successful attempt adds it to its own.
   */
  abstract failedUsage(jobId: string, stage: Stage, version: number): Promise<StageUsage | null>;

  /** A live (`running`, heartbeat newer than `freshAfter`) attempt of the job at `version`, other than `exceptId`. */
  abstract findLive(jobId: string, version: number, freshAfter: Date, exceptId?: string): Promise<StageAttemptRecord | null>;
}
