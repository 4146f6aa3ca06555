import { Injectable, Logger } from '@nestjs/common';
import type { JobCommit, JobListQuery, JobPage, JobRecord } from './job.record';
import { JobRepository, type JobCountQuery } from './job.repository';
import type { JobState } from '../lifecycle/job.types';

/**
 * Something that wants to know about every job change as it is stored: the live event stream,
 * metrics. Called after the write succeeded, in the writing process; must not throw or block
 * (a listener that throws is logged and skipped).
 */
export interface JobRecordListener {
  /** A new job was stored (not called for a repeat submission that found the existing one). */
  created?(job: JobRecord): void;
  /** A compare-and-set commit won: `after` is the stored record, `change.transitions` what it added. */
  committed?(before: JobRecord, after: JobRecord, change: JobCommit): void;
  /** A compare-and-set commit lost: another writer had committed that version first. */
  conflict?(current: JobRecord, change: JobCommit): void;
}

/** The listeners of this process (modules add theirs at init). */
@Injectable()
export class JobRecordListeners {
  private readonly log = new Logger(JobRecordListeners.name);
  private readonly listeners: JobRecordListener[] = [];

  add(listener: JobRecordListener): void {
    this.listeners.push(listener);
  }

  notify<K extends keyof JobRecordListener>(kind: K, ...args: Parameters<NonNullable<JobRecordListener[K]>>): void {
    for (const l of this.listeners) {
      const fn = l[kind] as ((...a: unknown[]) => void) | undefined;
      if (!fn) continue;
      try {
        fn.apply(l, args);
      } catch (e) {
        this.log.warn(`job record listener failed on ${kind}: ${e instanceof Error ? e.message : String(e)}`);
      }
    }
  }
}

/**
 * The {@link JobRepository} the app uses: the MongoDB one, telling the {@link JobRecordListeners}
 * about every created job and every commit won or lost. Every job write goes through `create` and
 * `commit`, so this is the one seam that sees them all.
 */
export class ObservedJobRepository extends JobRepository {
  constructor(
    private readonly inner: JobRepository,
    private readonly listeners: JobRecordListeners,
  ) {
    super();
  }

  async create(job: JobRecord): Promise<{ job: JobRecord; created: boolean }> {
    const r = await this.inner.create(job);
    if (r.created) this.listeners.notify('created', r.job);
    return r;
  }

  async commit(current: JobRecord, change: JobCommit): Promise<JobRecord | null> {
    const after = await this.inner.commit(current, change);
    if (after) this.listeners.notify('committed', current, after, change);
    else this.listeners.notify('conflict', current, change);
    return after;
  }

  findById(id: string): Promise<JobRecord | null> {
    return this.inner.findById(id);
  }
  findByBranch(repositoryId: string, branch: string): Promise<JobRecord | null> {
    return this.inner.findByBranch(repositoryId, branch);
  }
  findForTenant(tenantId: string, id: string): Promise<JobRecord | null> {
    return this.inner.findForTenant(tenantId, id);
  }
  list(tenantId: string, query: JobListQuery): Promise<JobPage> {
    return this.inner.list(tenantId, query);
  }
  countByState(tenantId: string, query: JobCountQuery): Promise<Partial<Record<JobState, number>>> {
    return this.inner.countByState(tenantId, query);
  }
  rollForwardStale(olderThanMs: number, limit: number): Promise<number> {
    return this.inner.rollForwardStale(olderThanMs, limit);
  }
  findStale(states: JobState[], before: Date, limit: number): Promise<JobRecord[]> {
    return this.inner.findStale(states, before, limit);
  }
  countActive(tenantId: string): Promise<number> {
    return this.inner.countActive(tenantId);
  }
  markAdmitted(job: Pick<JobRecord, 'id' | 'tenantId'>): Promise<void> {
    return this.inner.markAdmitted(job);
  }
  isAdmitted(id: string): Promise<boolean> {
    return this.inner.isAdmitted(id);
  }
  ping(): Promise<void> {
    return this.inner.ping();
  }
}
