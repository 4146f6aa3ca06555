import { Injectable } from '@nestjs/common';
import { IllegalEventError } from '../lifecycle/job.runtime';
import type { JobEvent, JobState, TransitionActor } from '../lifecycle/job.types';
import { UnknownMachineVersionError } from '../lifecycle/snapshot-migrations';
import { ConcurrentUpdateError, JobNotFoundError } from './job.errors';
import type { JobListFilter } from './job.record';
import { JobsService } from './jobs.service';

/** What a bulk action did: every matched job is either applied or skipped, with the reason. */
export interface BulkOutcome {
  matched: number;
  applied: { jobId: string; state: JobState }[];
  skipped: { jobId: string; state: JobState; code: string; message: string }[];
  /** More jobs matched than the limit. */
  more: boolean;
}

/** Sends at most this many events at once (each is a read and a compare-and-set commit). */
const PARALLEL = 8;
/** Page size of the listing that collects the matched jobs (the listing's own maximum). */
const PAGE = 100;

/**
 * Bulk actions by filter (the dashboard's "cancel / retry every matching job"): collects up to
 * `limit` of the tenant's jobs matching the listing's filter, most recently updated first, then
 * sends the event to each through {@link JobsService.send} — the same statechart check and
 * compare-and-set commit as one job's action, so a job that no longer accepts the event (it
 * finished meanwhile, or a worker committed first five times) is skipped with its code, never
 * half-changed. Repeating the call is safe: a job already moved is skipped or no longer matches.
 */
@Injectable()
export class BulkActions {
  constructor(private readonly jobs: JobsService) {}

  /**
   * @param filter the listing's filter (tenant-scoped by `tenantId`).
   * @param limit at most this many jobs, 1–500.
   * @param actor who asked (`kind: 'bulk'`), recorded on each transition.
   * @throws DependencyUnavailableError when the store or Redis is down (jobs already changed stay changed).
   */
  async send(tenantId: string, filter: JobListFilter, event: JobEvent, limit: number, actor: TransitionActor): Promise<BulkOutcome> {
    const ids: { id: string; state: JobState }[] = [];
    let cursor: string | undefined;
    do {
      const page = await this.jobs.list(tenantId, { ...filter, limit: Math.min(PAGE, limit + 1 - ids.length), ...(cursor ? { cursor } : {}) });
      ids.push(...page.items.map((j) => ({ id: j.id, state: j.state })));
      cursor = page.nextCursor ?? undefined;
    } while (cursor && ids.length <= limit);
    const more = ids.length > limit;
    const matched = ids.slice(0, limit);

    const outcome: BulkOutcome = { matched: matched.length, applied: [], skipped: [], more };
    let next = 0;
    const worker = async () => {
      while (next < matched.length) {
        const { id, state } = matched[next++];
        try {
          const job = await this.jobs.send(tenantId, id, event, actor);
          outcome.applied.push({ jobId: id, state: job.state });
        } catch (e) {
          if (e instanceof IllegalEventError) outcome.skipped.push({ jobId: id, state: e.state, code: e.code, message: e.message });
          else if (e instanceof ConcurrentUpdateError || e instanceof JobNotFoundError || e instanceof UnknownMachineVersionError) {
            outcome.skipped.push({ jobId: id, state, code: e.code, message: e.message });
          } else throw e;
        }
      }
    };
    await Promise.all(Array.from({ length: Math.min(PARALLEL, matched.length) }, worker));
    return outcome;
  }
}
