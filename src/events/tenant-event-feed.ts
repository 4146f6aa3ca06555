import { Injectable, OnModuleInit } from '@nestjs/common';
import { contextOf } from '../jobs/job.presenter';
import type { JobCommit, JobRecord } from '../jobs/job.record';
import { JobRecordListeners } from '../jobs/job-record-listeners';
import { LogBus } from '../logs/log-bus';
import type { JobChangeEvent } from './tenant-event';
import { TenantEventLog } from './tenant-event-log';

/** The event of a job's change: what a dashboard row and a statechart view need to update. */
export function jobChangeEvent(job: JobRecord, transitions: JobCommit['transitions'], created: boolean): JobChangeEvent {
  return {
    kind: 'job',
    jobId: job.id,
    state: job.state,
    version: job.version,
    updatedAt: job.updatedAt.toISOString(),
    repositoryId: job.repositoryId,
    issueTitle: contextOf(job).issue.title,
    transitions,
    created,
    errorCode: job.error?.code ?? null,
  };
}

/**
 * Feeds the tenant event streams from the commits and the logs of this process: every created
 * job, every compare-and-set commit won, every stored batch of log lines. Every process that
 * writes (API, workers, sweeper) runs it, so nothing is polled.
 */
@Injectable()
export class TenantEventFeed implements OnModuleInit {
  constructor(
    private readonly events: TenantEventLog,
    private readonly records: JobRecordListeners,
    private readonly logs: LogBus,
  ) {}

  onModuleInit(): void {
    this.records.add({
      created: (job) => this.events.append(job.tenantId, jobChangeEvent(job, job.history, true)),
      committed: (_before, after, change) => this.events.append(after.tenantId, jobChangeEvent(after, change.transitions, false)),
    });
    this.logs.onPublish((tenantId, jobId, lines) => this.events.append(tenantId, { kind: 'log', jobId, lines }));
  }
}
