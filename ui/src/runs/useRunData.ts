import { useEffect, useRef } from 'react';
import { api } from '../api/endpoints';
import type { PipelineRun, RunArtifacts, RunAuditEvent, StepAttemptRecord, TemplateVersion } from '../api/types';
import { useDebounced, useResource, type Resource } from '../common/useResource';
import { useLiveEvents } from '../live/LiveEvents';
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

/** Follow-up reloads of the attempts after a live event while they lag the run (see attemptsUnsettled). */
const SETTLE_DELAYS_MS = [250, 500, 1000, 2000, 4000];

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

  const settled = useRef(0);
  const refresh = useDebounced(() => {
    run.reload();
    chart.reload();
    events.reload();
    attempts.reload();
    artifacts.reload();
  }, 150);

  useLiveEvents(
    (e) => {
      if (e.kind !== 'run' || e.runId !== id) return;
      settled.current = 0;
      refresh();
    },
    refresh,
  );

  const lagging = run.data && attempts.data && !attempts.loading ? attemptsUnsettled(run.data, attempts.data) : false;
  useEffect(() => {
    if (!lagging || settled.current >= SETTLE_DELAYS_MS.length) return;
    const timer = setTimeout(() => {
      settled.current++;
      attempts.reload();
      artifacts.reload();
    }, SETTLE_DELAYS_MS[settled.current]);
    return () => clearTimeout(timer);
  }, [lagging, attempts.data, attempts.reload, artifacts.reload]);

  return { run, chart, events, attempts, artifacts, template, refresh };
}
