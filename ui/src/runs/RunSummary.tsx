import type { PipelineRun } from '../api/types';
import { STEP_STATUSES } from '../api/types';
import { formatDateTime, formatDuration } from '../common/format';
import { ProgressBar } from './RunsTable';

/** Progress (percent, steps by status, elapsed — growing while the run goes on — and the ETA). */
export function RunProgressView({ run, now }: { run: PipelineRun; now: number }) {
  const p = run.progress;
  const ongoing = run.status === 'running' || run.status === 'pending';
  // Grows with the clock while the run goes on; a quarantined run (no end yet) stopped at its last change.
  const end = run.endedAt ? Date.parse(run.endedAt) : ongoing ? now : Date.parse(run.updatedAt);
  const elapsed = run.startedAt ? end - Date.parse(run.startedAt) : p.elapsedMs;
  return (
    <div className="run-progress">
      <ProgressBar done={p.done} total={p.total} percent={p.percent} status={run.status} testId="run-progress" />
      <div className="chips" aria-label="Steps per status">
        {STEP_STATUSES.filter((s) => p.counts[s]).map((s) => (
          <span key={s} className={`chip chip-static dag-key-${s}`} data-testid={`progress-count-${s}`} data-count={p.counts[s]}>
            {s} <span className="chip-n">{p.counts[s]}</span>
          </span>
        ))}
      </div>
      <dl className="facts">
        <dt>Elapsed</dt>
        <dd data-testid="run-elapsed">{formatDuration(Math.max(0, elapsed))}</dd>
        <dt>ETA</dt>
        <dd data-testid="run-eta" title="the median past duration of each remaining step, summed, divided by maxParallel">
          {!ongoing ? 'ended' : p.etaMs === null ? 'unknown (a remaining step has no past duration)' : `about ${formatDuration(p.etaMs)}`}
        </dd>
      </dl>
    </div>
  );
}

/** The run's facts: template, inputs (immutable), times, version, error. */
export function RunDetails({ run }: { run: PipelineRun }) {
  return (
    <dl className="facts" data-testid="run-details">
      <dt>Run</dt>
      <dd className="mono">{run.id}</dd>
      <dt>Template</dt>
      <dd className="mono">
        {run.template.name}@{run.template.version}
      </dd>
      <dt>Created</dt>
      <dd>{formatDateTime(run.createdAt)}</dd>
      <dt>Started</dt>
      <dd>{formatDateTime(run.startedAt)}</dd>
      <dt>Ended</dt>
      <dd>{formatDateTime(run.endedAt)}</dd>
      <dt>Version</dt>
      <dd title="compare-and-set version: one per commit">{run.version}</dd>
      <dt>Inputs</dt>
      <dd>{Object.keys(run.inputs).length === 0 ? <span className="muted">none</span> : <pre className="prose-pre">{JSON.stringify(run.inputs, null, 2)}</pre>}</dd>
    </dl>
  );
}
