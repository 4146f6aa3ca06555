import type { JobContext } from '../lifecycle/job.types';
import type { JobEventType } from '../lifecycle/job.types';
import type { JobRecord } from './job.record';
import type { JobDetailDto, JobSummaryDto } from './dto/job.dto';

/** The statechart context of a stored job. */
export function contextOf(job: JobRecord): JobContext {
  return job.snapshot.context;
}

/** The list view of a job. */
export function toSummary(job: JobRecord): JobSummaryDto {
  const ctx = contextOf(job);
  return {
    id: job.id,
    tenantId: job.tenantId,
    repositoryId: job.repositoryId,
    branch: job.branch ?? null,
    state: job.state,
    version: job.version,
    machineVersion: job.machineVersion,
    issue: ctx.issue,
    error: job.error,
    createdAt: job.createdAt.toISOString(),
    updatedAt: job.updatedAt.toISOString(),
  };
}

/** The detail view: summary, a context summary, accepted events and the history. */
export function toDetail(job: JobRecord, acceptedEvents: JobEventType[]): JobDetailDto {
  const ctx = contextOf(job);
  return {
    ...toSummary(job),
    context: {
      plan: ctx.plan?.steps ?? null,
      changedFiles: ctx.code?.changes.map((c) => c.path) ?? null,
      reviewApproved: ctx.review?.approved ?? null,
      reviewComments: ctx.review?.comments ?? [],
      reviewRounds: ctx.reviewRounds,
      prUrl: ctx.prUrl,
      attempts: ctx.attempts,
      failedStage: ctx.failedStage,
      usage: ctx.usage ?? { inputTokens: 0, outputTokens: 0, costUsd: 0 },
      budget: ctx.limits.budget ?? { usd: null, tokens: null },
      workspace: ctx.workspace ?? null,
      planSummary: ctx.plan?.summary ?? null,
      commitSha: ctx.code?.commitSha ?? null,
      diffStat: ctx.code?.diffStat ?? null,
      diff: ctx.code?.diff ?? null,
      checks: ctx.review?.checks ?? null,
    },
    acceptedEvents,
    history: job.history,
  };
}
