import { useCallback } from 'react';
import { api } from '../api/endpoints';
import type { PipelineRun, RunArtifacts, RunAuditEvent, StepAttemptRecord, TemplateVersion } from '../api/types';
import { useDebounced, useResource, type Resource } from '../common/useResource';
import { useLiveEvents } from '../live/LiveEvents';
import { useSettleReloads } from '../common/useSettleReloads';
import { attemptsUnsettled } from './steps';

export interface RunData {
  run: Resource<PipelineRun>;
  chart: Resource<string>;
  events: Resource<RunAuditEvent[]>;
  attempts: Resource<StepAttemptRecord[]>;
  artifacts: Resource<RunArtifacts>;
  /** The run's template version (its steps' needs draw the DAG); null until the run is known. */
  template: Resource<TemplateVersion | null>;
  /** Reloads everything (debounced). */
  refresh: () => void;
}

/**
 * Everything the run page shows, reloaded when a live `run` event of this run arrives on the
 * tenant's stream (the statechart too). Attempt records are written by the workers beside the
 * run's commits (an aborted attempt's record lands just after the CANCEL commit): while they lag
 * the run, the attempts are reloaded a few more times after the event, then left alone.
 */
export function useRunData(id: string): RunData {
  const run = useResource((s) => api.getRun(id, s), id);
  const chart = useResource(async (s) => (await api.runStatechart(id, s)).text, id);
  const events = useResource((s) => api.runEvents(id, s), id);
  const attempts = useResource((s) => api.runAttempts(id, s), id);
  const artifacts = useResource((s) => api.runArtifacts(id, s), id);
  const t = run.data?.template;
  const templateKey = t ? `${t.name}@${t.version}` : '';
  const template = useResource((s) => (t ? api.template(t.name, t.version, s) : Promise.resolve(null)), templateKey);

  const refresh = useDebounced(() => {
    run.reload();
    chart.reload();
    events.reload();
    attempts.reload();
    artifacts.reload();
  }, 150);

  const lagging = !!run.data && !!attempts.data && !attempts.loading && attemptsUnsettled(run.data, attempts.data);
  const { reload: reloadAttempts } = attempts;
  const { reload: reloadArtifacts } = artifacts;
  const settle = useSettleReloads(
    lagging,
    attempts.data,
    useCallback(() => {
      reloadAttempts();
      reloadArtifacts();
    }, [reloadAttempts, reloadArtifacts]),
  );

  useLiveEvents(
    (e) => {
      if (e.kind !== 'run' || e.runId !== id) return;
      settle();
      refresh();
    },
    refresh,
  );

  return { run, chart, events, attempts, artifacts, template, refresh };
}
