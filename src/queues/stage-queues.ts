import type { Stage } from '../lifecycle/job.types';

/** BullMQ queue name of each stage (one queue per stage). */
export const STAGE_QUEUE: Record<Stage, string> = {
  planning: 'planning',
  coding: 'coding',
  reviewing: 'reviewing',
  'pr-open': 'pr-open',
};

/** Deterministic BullMQ job id of a stage message: a duplicate enqueue is dropped by BullMQ. */
export function stageMessageId(jobId: string, stage: Stage, version: number): string {
  return `${jobId}-${stage}-${version}`;
}

/** Queue of per-job deadline checks (delayed messages, one per job: `<jobId>-deadline`). */
export const DEADLINE_QUEUE = 'deadlines';
