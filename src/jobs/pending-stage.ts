import { STAGE_ACTOR_ID, STAGE_STATE, STAGES, type Stage } from '../lifecycle/job.types';
import type { JobRecord } from './job.record';

/**
 * The stage a job waits for: `planning` in QUEUED, else the stage of its state when that
 * stage's invoked actor is still active in the snapshot (it is not for a PR waiting for
 * MARK_COMPLETED). Null in COMPLETED, FAILED and CANCELLED.
 */
export function pendingStage(job: Pick<JobRecord, 'state' | 'snapshot'>): Stage | null {
  if (job.state === 'QUEUED') return 'planning';
  const stage = STAGES.find((s) => STAGE_STATE[s] === job.state);
  if (!stage) return null;
  const children = job.snapshot.children ?? {};
  return children[STAGE_ACTOR_ID[stage]]?.snapshot?.status === 'active' ? stage : null;
}
