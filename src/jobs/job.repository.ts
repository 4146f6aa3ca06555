import type { JobState } from '../lifecycle/job.types';
import type { JobCommit, JobListQuery, JobPage, JobRecord } from './job.record';

/**
 * Persistence port for jobs (abstract class used as DI token). Every state change goes through
 * {@link JobRepository.commit}, a compare-and-set on `version` that appends history in the same
 * single-document update, so state and history never disagree (no transactions needed).
 */
export abstract class JobRepository {
  /**
   * Inserts a new job unless (tenantId, idempotencyKey) exists.
   * @returns the stored job and whether this call created it.
   */
  abstract create(job: JobRecord): Promise<{ job: JobRecord; created: boolean }>;

  /** Any tenant's job: for workers only. */
  abstract findById(id: string): Promise<JobRecord | null>;

  /** A job of this tenant, or null (another tenant's job is invisible). */
  abstract findForTenant(tenantId: string, id: string): Promise<JobRecord | null>;

  /** Newest-updated first. @throws InvalidCursorError for a malformed cursor. */
  abstract list(tenantId: string, query: JobListQuery): Promise<JobPage>;

  /**
   * Compare-and-set: applies `change` only if the stored version is `expectedVersion`, then
   * increments the version. @returns the new record, or null when another writer won.
   */
  abstract commit(id: string, expectedVersion: number, change: JobCommit): Promise<JobRecord | null>;

  /** Jobs in `states` not updated since `before`, oldest first (for the sweeper). */
  abstract findStale(states: JobState[], before: Date, limit: number): Promise<JobRecord[]>;

  /**
   * The tenant's jobs holding an active-job slot: in one of ACTIVE_JOB_STATES, or QUEUED and
   * admitted (`admittedAt`). A count, no lock: the caller serialises admissions.
   */
  abstract countActive(tenantId: string): Promise<number>;

  /**
   * Records that planning admitted the job (sets `admittedAt` if it is still QUEUED). Not a
   * commit: the version does not change, so no stage message goes stale.
   */
  abstract markAdmitted(id: string): Promise<void>;

  /** Resolves when the database answers. @throws when it does not. */
  abstract ping(): Promise<void>;
}

/** A list cursor that could not be decoded. `code` = INVALID_CURSOR. */
export class InvalidCursorError extends Error {
  readonly code = 'INVALID_CURSOR';
  constructor() {
    super('cursor is not a cursor returned by this API');
  }
}
