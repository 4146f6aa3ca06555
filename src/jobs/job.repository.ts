import type { JobState } from '../lifecycle/job.types';
import type { JobCommit, JobListFilter, JobListQuery, JobPage, JobRecord } from './job.record';

/** The filters of a count: those of a listing, without state and paging. */
export type JobCountQuery = Omit<JobListFilter, 'state'>;

/**
 * Persistence port for jobs (abstract class used as DI token). Every state change goes through
 * {@link JobRepository.commit}, a compare-and-set on `version` that writes state, snapshot and the
 * whole history in one single-document update, so state and history never disagree (no
 * transactions needed). Nothing else ever writes a job document after it is created.
 */
export abstract class JobRepository {
  /**
   * Inserts a new job unless (tenantId, idempotencyKey) exists: a job with that key, or with
   * the job's id (a keyed submission's id derives from the tenant and key, see `newJobId`).
   * @returns the stored job and whether this call created it.
   */
  abstract create(job: JobRecord): Promise<{ job: JobRecord; created: boolean }>;

  /** Any tenant's job: for workers only. */
  abstract findById(id: string): Promise<JobRecord | null>;

  /** The job working on `branch` of repository `owner/name` (pull request webhooks), or null. */
  abstract findByBranch(repositoryId: string, branch: string): Promise<JobRecord | null>;

  /** A job of this tenant, or null (another tenant's job is invisible). */
  abstract findForTenant(tenantId: string, id: string): Promise<JobRecord | null>;

  /** Newest-updated first, filtered. @throws InvalidCursorError for a malformed cursor. */
  abstract list(tenantId: string, query: JobListQuery): Promise<JobPage>;

  /** The tenant's jobs matching the filters, counted per state (states with none are absent). */
  abstract countByState(tenantId: string, query: JobCountQuery): Promise<Partial<Record<JobState, number>>>;

  /**
   * Compare-and-set: applies `change` to the job only if it is still at `current.version`; the
   * new version is `current.version + 1` and the new history `current.history` + `change.transitions`.
   * Exactly one of any number of concurrent commits on the same version wins.
   * @returns the new record, or null when another writer won (nothing was written).
   */
  abstract commit(current: JobRecord, change: JobCommit): Promise<JobRecord | null>;

  /**
   * Finishes commits whose writer stopped between winning the version and writing the job (their
   * claim is older than `olderThanMs`), at most `limit`. For the sweeper.
   * @returns how many were applied.
   */
  abstract rollForwardStale(olderThanMs: number, limit: number): Promise<number>;

  /** Jobs in `states` (some of SWEPT_JOB_STATES) not updated since `before`, oldest first (for the sweeper). */
  abstract findStale(states: JobState[], before: Date, limit: number): Promise<JobRecord[]>;

  /**
   * The tenant's jobs holding an active-job slot: in one of ACTIVE_JOB_STATES, or QUEUED and
   * admitted. A count, no lock: the caller serialises admissions.
   */
  abstract countActive(tenantId: string): Promise<number>;

  /**
   * Records that planning admitted the job (kept beside the job, not in its document: the
   * version does not change, so no stage message goes stale, and no write races a commit).
   */
  abstract markAdmitted(job: Pick<JobRecord, 'id' | 'tenantId'>): Promise<void>;

  /** Whether {@link markAdmitted} was recorded for the job. */
  abstract isAdmitted(id: string): Promise<boolean>;

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
