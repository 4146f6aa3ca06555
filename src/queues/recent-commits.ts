import { Inject, Injectable } from '@nestjs/common';
import { APP_CONFIG, type AppConfig } from '../config/config';
import type { JobRecord } from '../jobs/job.record';

/**
 * The records this process's stage runner committed last, by job id (at most
 * STAGE_RECORD_CACHE_SIZE, oldest evicted; 0 turns it off). When the next stage's message arrives
 * in the same process at the version committed here, the runner uses this record instead of
 * reading the job again: one MongoDB round trip less per stage. The guarantees do not change:
 * the commit is still a compare-and-set on that version, so if anything else changed the job in
 * between (a REST event, a duplicate delivery), the commit is rejected exactly as before. A
 * cancellation evicts the job (see RedisCancellationBus), so a cancelled job does not start its
 * next stage's agent call from a cached record.
 */
@Injectable()
export class RecentCommits {
  private readonly records = new Map<string, JobRecord>();
  private readonly max: number;

  constructor(@Inject(APP_CONFIG) config: AppConfig) {
    this.max = config.STAGE_RECORD_CACHE_SIZE;
  }

  /** Keeps `record` (just committed by this process). */
  remember(record: JobRecord): void {
    if (this.max === 0) return;
    this.records.delete(record.id);
    this.records.set(record.id, record);
    if (this.records.size > this.max) this.records.delete(this.records.keys().next().value!);
  }

  /** The record of `jobId` at exactly `version`, if this process committed it; it is used once. */
  take(jobId: string, version: number): JobRecord | undefined {
    const record = this.records.get(jobId);
    if (record) this.records.delete(jobId);
    return record?.version === version ? record : undefined;
  }

  forget(jobId: string): void {
    this.records.delete(jobId);
  }
}
