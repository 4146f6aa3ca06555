import { fromPromise } from 'xstate';
import { jobMachine } from '../../src/lifecycle/job.machine';
import { applyEvent, createJobSnapshot, runStage, type PersistedJobSnapshot } from '../../src/lifecycle/job.runtime';
import type { JobInput, JobLimits, JobState, Stage, StageFault, StageUsage } from '../../src/lifecycle/job.types';

export const input = (limits: Partial<JobLimits> = {}): JobInput => ({
  jobId: 'job-1',
  tenantId: 'acme',
  repositoryId: 'acme/widgets',
  issue: { id: '1', title: 'Fix it', body: '', url: 'https://example.test/1' },
  limits: { maxReviewRounds: 3, autoComplete: true, budget: { usd: null, tokens: null }, ...limits },
});

export type StageBehaviour = { ok: unknown } | { okWithUsage: { ok: unknown; usage: StageUsage } } | { fault: Partial<StageFault> };

/** The job machine with `stage`'s actor resolving `ok` or rejecting `fault` (attempt 1 of 3 unless given). */
export function machineFor(stage: Stage, behaviour: StageBehaviour) {
  const id = { planning: 'plan', coding: 'code', reviewing: 'review', 'pr-open': 'openPullRequest' }[stage];
  return jobMachine.provide({
    actors: {
      [id]: fromPromise(async () => {
        if ('ok' in behaviour) return { result: behaviour.ok, attempt: 1 };
        if ('okWithUsage' in behaviour) return { result: behaviour.okWithUsage.ok, attempt: 1, usage: behaviour.okWithUsage.usage };
        throw { code: 'X', message: 'boom', stage, attempt: 1, maxAttempts: 3, retryable: false, ...behaviour.fault };
      }),
    },
  });
}

export const ok = {
  planning: { ok: { steps: ['a'], summary: 's' } },
  coding: { ok: { changes: [{ path: 'a.ts', patch: '+1', commitMessage: 'm' }] } },
  approve: { ok: { approved: true, comments: ['fine'] } },
  reject: { ok: { approved: false, comments: ['add a test'] } },
  pr: { ok: { url: 'https://github.com/acme/widgets/pull/1', number: 1 } },
} as const;

/** Runs a stage with a behaviour and returns the committed-style result (throws on 'retry'). */
export async function step(snapshot: PersistedJobSnapshot, stage: Stage, behaviour: StageBehaviour) {
  const run = await runStage(machineFor(stage, behaviour), snapshot, stage);
  if (run.kind !== 'advanced') throw new Error(`stage ${stage} asked for a retry: ${run.fault.message}`);
  return run;
}

/** A persisted snapshot in each of the eight states (PR_OPEN: PR opened, waiting for MARK_COMPLETED). */
export async function snapshotsOfEveryState(): Promise<Record<JobState, PersistedJobSnapshot>> {
  const queued = createJobSnapshot(input({ autoComplete: false })).snapshot;
  const planning = applyEvent(queued, { type: 'START_PLANNING' }).snapshot;
  const coding = (await step(queued, 'planning', ok.planning)).snapshot;
  const reviewing = (await step(coding, 'coding', ok.coding)).snapshot;
  const prOpening = (await step(reviewing, 'reviewing', ok.approve)).snapshot;
  const prOpen = (await step(prOpening, 'pr-open', ok.pr)).snapshot;
  const completed = applyEvent(prOpen, { type: 'MARK_COMPLETED' }).snapshot;
  const failed = (await step(coding, 'coding', { fault: { code: 'BROKEN', retryable: false } })).snapshot;
  const cancelled = applyEvent(reviewing, { type: 'MARK_CANCELLED' }).snapshot;
  return {
    QUEUED: queued,
    PLANNING: planning,
    CODING: coding,
    REVIEWING: reviewing,
    PR_OPEN: prOpen,
    COMPLETED: completed,
    FAILED: failed,
    CANCELLED: cancelled,
  };
}
