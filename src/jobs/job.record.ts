import type { JobError, JobState, TransitionRecord } from '../lifecycle/job.types';
import type { PersistedJobSnapshot } from '../lifecycle/job.runtime';

/** A job as the domain sees it: the persisted statechart snapshot plus its bookkeeping. */
export interface JobRecord {
  id: string;
  tenantId: string;
  /** Caller-chosen key; a repeat submission with the same key returns the existing job. */
  idempotencyKey: string;
  repositoryId: string;
  /**
   * The git branch the job works on (`aicd/<issue number>-<first 8 of id>`), named at submission
   * when the issue id is a number; a pull request webhook finds the job by it.
   */
  branch?: string | null;
  state: JobState;
  /** Incremented by every commit; the compare-and-set token. */
  version: number;
  /** `JOB_MACHINE_VERSION` of the machine that wrote `snapshot`. */
  machineVersion: string;
  snapshot: PersistedJobSnapshot;
  /** Every committed transition, oldest first; appended in the same update as the state. */
  history: TransitionRecord[];
  error: JobError | null;
  createdAt: Date;
  updatedAt: Date;
}

/**
 * States in which a job counts against its tenant's active-job limit (TENANT_MAX_ACTIVE_JOBS);
 * a QUEUED job counts once admitted (JobRepository.markAdmitted).
 */
export const ACTIVE_JOB_STATES = ['PLANNING', 'CODING', 'REVIEWING', 'PR_OPEN'] as const satisfies readonly JobState[];

/** The states the sweeper watches (a job in them must be moving): QUEUED and the active ones. FAILED, COMPLETED and CANCELLED are at rest. */
export const SWEPT_JOB_STATES = ['QUEUED', ...ACTIVE_JOB_STATES] as const satisfies readonly JobState[];

/** One compare-and-set commit of a job's statechart. */
export interface JobCommit {
  state: JobState;
  snapshot: PersistedJobSnapshot;
  machineVersion: string;
  error: JobError | null;
  transitions: TransitionRecord[];
}

/** Filters of a listing (all optional; time bounds inclusive). */
export interface JobListFilter {
  state?: JobState;
  /** Exact `owner/name`. */
  repositoryId?: string;
  createdFrom?: Date;
  createdTo?: Date;
  updatedFrom?: Date;
  updatedTo?: Date;
}

/** Listing filter and page. */
export interface JobListQuery extends JobListFilter {
  /** 1..100 */
  limit: number;
  /** Opaque cursor from a previous page's `nextCursor`. */
  cursor?: string;
}

export interface JobPage {
  items: JobRecord[];
  nextCursor: string | null;
}
