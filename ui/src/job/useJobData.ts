import { useCallback } from 'react';
import { api } from '../api/endpoints';
import { stageOfState, type Artifact, type JobDetail, type StageAttempt } from '../api/types';
import { useDebounced, useResource, useThrottled, type Resource } from '../common/useResource';
import { useLiveEvents } from '../live/LiveEvents';
import { useSettleReloads } from '../common/useSettleReloads';

export interface JobData {
  detail: Resource<JobDetail>;
  chart: Resource<string>;
  attempts: Resource<StageAttempt[]>;
  artifacts: Resource<Artifact[]>;
  /** Reloads everything (debounced). */
  refresh: () => void;
}

/**
 * Everything the job page shows, reloaded when a live `job` event for this job arrives (the
 * statechart too); a live log line of an attempt not listed yet reloads the attempts. An attempt
 * still `running` in a stage the job has left (its record is finished just after the commit, e.g.
 * the aborted attempt after CANCEL) gets follow-up reloads until it settles (useSettleReloads).
 */
export function useJobData(id: string, onLogKey?: (stage: string, attempt: number) => void): JobData {
  const detail = useResource((s) => api.getJob(id, s), id);
  const chart = useResource(async (s) => (await api.statechart(id, s)).text, id);
  const attempts = useResource((s) => api.attempts(id, s), id);
  const artifacts = useResource((s) => api.artifacts(id, s), id);

  const refresh = useDebounced(() => {
    detail.reload();
    chart.reload();
    attempts.reload();
    artifacts.reload();
  }, 150);
  // Log lines keep coming while an attempt runs: at most one reload a second.
  const refreshAttempts = useThrottled(attempts.reload, 1000);

  const known = useCallback(
    (stage: string, attempt: number) => attempts.data?.some((a) => a.stage === stage && a.attempt === attempt) ?? false,
    [attempts.data],
  );

  const job = detail.data;
  const lagging = !!job && !!attempts.data && !attempts.loading && attempts.data.some((a) => a.status === 'running' && a.stage !== stageOfState(job.state));
  const settle = useSettleReloads(lagging, attempts.data, attempts.reload);

  useLiveEvents((e) => {
    if (e.kind === 'run' || e.jobId !== id) return;
    if (e.kind === 'job') {
      settle();
      refresh();
    } else {
      onLogKey?.(e.line.stage, e.line.attempt);
      if (!known(e.line.stage, e.line.attempt)) refreshAttempts();
    }
  }, refresh);

  return { detail, chart, attempts, artifacts, refresh };
}
