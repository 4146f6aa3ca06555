import type { Db } from 'mongodb';
import { JOB_STATES, type JobState } from '../lifecycle/job.types';

/**
 * Jobs per state over all tenants, for the `aicd_jobs` gauge, the cheapest way each server allows:
 * - **MongoDB**: one `countDocuments({ state })` per state (8, in parallel), each answered from the
 *   `state_updated` index (`{ state: 1, updatedAt: 1 }`) without reading documents.
 * - **FerretDB v1** (told by `buildInfo.ferretdbVersion`): one `$group` by state. FerretDB 1.24
 *   uses no index and pushes no filter down here — `explain` of both `count` and the driver's
 *   count aggregation on `{ state }` says `filterPushdown: false`, plan `SCAN jobs_…` — so every
 *   count reads the whole collection: one pass instead of eight.
 * Either way a recount is reused for `ttlMs` (METRICS_JOB_COUNTS_TTL_MS), and concurrent scrapes
 * share one recount.
 */
export class JobStateCounts {
  private last?: { at: number; counts: Partial<Record<JobState, number>> };
  private inflight?: Promise<Partial<Record<JobState, number>>>;
  private ferret?: Promise<boolean>;

  /** `mode`: `auto` picks by server (above); `group` / `per-state` force one way (tests). */
  constructor(
    private readonly db: Db,
    private readonly ttlMs: number,
    private readonly mode: 'auto' | 'group' | 'per-state' = 'auto',
  ) {}

  /** Counts per state (every state present, 0 included). @throws when the database fails. */
  read(): Promise<Partial<Record<JobState, number>>> {
    if (this.last && Date.now() - this.last.at < this.ttlMs) return Promise.resolve(this.last.counts);
    this.inflight ??= this.count().finally(() => (this.inflight = undefined));
    return this.inflight;
  }

  private isFerretDb(): Promise<boolean> {
    this.ferret ??= this.db
      .command({ buildInfo: 1 })
      .then((info) => typeof info.ferretdbVersion === 'string')
      .catch((e: unknown) => {
        this.ferret = undefined; // ask again next time
        throw e;
      });
    return this.ferret;
  }

  private async count(): Promise<Partial<Record<JobState, number>>> {
    const jobs = this.db.collection('jobs');
    const counts = Object.fromEntries(JOB_STATES.map((s) => [s, 0])) as Record<JobState, number>;
    if (this.mode === 'group' || (this.mode === 'auto' && (await this.isFerretDb()))) {
      for (const g of await jobs.aggregate<{ _id: JobState; n: number }>([{ $group: { _id: '$state', n: { $sum: 1 } } }]).toArray()) {
        if (g._id in counts) counts[g._id] = g.n;
      }
    } else {
      await Promise.all(JOB_STATES.map(async (state) => (counts[state] = await jobs.countDocuments({ state }))));
    }
    this.last = { at: Date.now(), counts };
    return counts;
  }
}
