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
   * @throws DependencyUnavailableError when the store or Redis is down while the jobs are listed.
   *   An outage while sending stops the action: the job it hit is skipped with its code (its
   *   outcome unknown), the jobs not started yet are skipped as NOT_ATTEMPTED.
   */
  async send(tenantId: string, filter: JobListFilter, event: JobEvent, limit: number, actor: TransitionActor): Promise<BulkOutcome> {
    // Keyed by id: a job whose updatedAt moved backwards (clocks of two hosts) could be listed twice.
    const found = new Map<string, JobState>();
    let cursor: string | undefined;
    do {
      const page = await this.jobs.list(tenantId, { ...filter, limit: Math.min(PAGE, limit + 1 - found.size), ...(cursor ? { cursor } : {}) });
      for (const j of page.items) if (!found.has(j.id)) found.set(j.id, j.state);
      cursor = page.nextCursor ?? undefined;
    } while (cursor && found.size <= limit);
    const more = found.size > limit;
    const matched = [...found].slice(0, limit).map(([id, state]) => ({ id, state }));

    const outcome: BulkOutcome = { matched: matched.length, applied: [], skipped: [], more };
    let next = 0;
    /** The first unexpected error (a store or Redis outage): no job is started after it. */
    let stopped: { code: string; message: string } | undefined;
    const worker = async () => {
      while (next < matched.length) {
        const { id, state } = matched[next++];
        if (stopped) {
          outcome.skipped.push({ jobId: id, state, code: 'NOT_ATTEMPTED', message: `not attempted: another job failed with ${stopped.code} (${stopped.message})` });
          continue;
        }
        try {
          const job = await this.jobs.send(tenantId, id, event, actor);
          outcome.applied.push({ jobId: id, state: job.state });
        } catch (e) {
          if (e instanceof IllegalEventError) outcome.skipped.push({ jobId: id, state: e.state, code: e.code, message: e.message });
          else if (e instanceof ConcurrentUpdateError || e instanceof JobNotFoundError || e instanceof UnknownMachineVersionError) {
            outcome.skipped.push({ jobId: id, state, code: e.code, message: e.message });
          } else {
            // Its commit may or may not have happened (e.g. the commit won, then the stage message
            // could not be queued: the sweeper repairs that). Said as such; the rest are not started.
            const code = (e as { code?: unknown }).code;
            stopped = { code: typeof code === 'string' ? code : 'ERROR', message: e instanceof Error ? e.message : String(e) };
            outcome.skipped.push({ jobId: id, state, code: stopped.code, message: `outcome unknown: ${stopped.message}; read the job to see whether the event took effect` });
          }
        }
      }
    };
    await Promise.all(Array.from({ length: Math.min(PARALLEL, matched.length) }, worker));
    return outcome;
  }
}
