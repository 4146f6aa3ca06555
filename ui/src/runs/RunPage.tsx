import { useMemo, useState } from 'react';
import { Link, useParams } from 'react-router';
import { ApiError } from '../api/client';
import { ErrorBox } from '../common/ErrorBox';
import { StateBadge } from '../common/StateBadge';
import { useNow } from '../common/useResource';
import { Statechart } from '../job/Statechart';
import { DagView } from './DagView';
import { RunActions, type RunAction } from './RunActions';
import { RunArtifactsPanel } from './RunArtifactsPanel';
import { RunDetails, RunProgressView } from './RunSummary';
import { RunTimeline } from './RunTimeline';
import { SpawnedSteps } from './SpawnedSteps';
import { StepAttempts } from './StepAttempts';
import { StepsTable } from './StepsTable';
import { stepRows } from './steps';
import { useRunData } from './useRunData';

/** `#/runs/:id`: actions, progress, the DAG and step table, the run's statechart, timeline, spawned steps, attempts (logs), artifacts. */
export function RunPage() {
  const { id = '' } = useParams();
  // A fresh view per run: no state carries over from the previous one.
  return <RunView key={id} id={id} />;
}

function RunView({ id }: { id: string }) {
  const { run: runRes, chart, events, attempts, artifacts, template, refresh } = useRunData(id);
  const [pending, setPending] = useState<RunAction | null>(null);
  const [busy, setBusy] = useState(false);
  const run = runRes.data;
  const steps = template.data?.template.steps ?? null;
  const records = useMemo(() => attempts.data ?? [], [attempts.data]);
  const ongoing = run?.status === 'running' || run?.status === 'pending' || records.some((a) => a.status === 'running');
  const now = useNow(1000, ongoing);
  const rows = useMemo(() => (run ? stepRows(steps, run, events.data ?? [], records) : []), [steps, run, events.data, records]);

  if (!run) {
    const notFound = runRes.error instanceof ApiError && runRes.error.status === 404;
    return (
      <section className="panel">
        <p>
          <Link to="/runs">← Runs</Link>
        </p>
        {notFound ? <p data-testid="run-not-found">There is no run {id} for this tenant.</p> : <ErrorBox error={runRes.error} what="Run" />}
        {runRes.loading ? <p className="muted">Loading…</p> : null}
      </section>
    );
  }

  return (
    <div className="job-page" data-testid="run-page" data-run-id={run.id}>
      <header className="panel job-head">
        <nav className="crumbs small" aria-label="Breadcrumb">
          <Link to="/runs">Runs</Link> / <span className="mono">{run.id}</span>
        </nav>
        <div className="job-title">
          <h1>
            {run.template.name}
            <span className="muted">@{run.template.version}</span>
          </h1>
          <StateBadge state={run.status} testId="run-status" />
          {run.error ? (
            <span className="small" data-testid="run-error" data-code={run.error.code}>
              <span className="text-bad mono">{run.error.code}</span> {run.error.message}
            </span>
          ) : null}
        </div>
        <RunActions
          run={run}
          pending={pending}
          setPending={setPending}
          busy={busy}
          setBusy={setBusy}
          onDone={(updated) => {
            runRes.setData(updated);
            refresh();
          }}
          onRefused={refresh}
        />
        <ErrorBox error={runRes.error} what="Reload" />
      </header>

      <div className="job-grid">
        <section className="panel" aria-labelledby="progress-title">
          <h2 id="progress-title">Progress</h2>
          <RunProgressView run={run} now={now} />
        </section>
        <section className="panel" aria-labelledby="details-title">
          <h2 id="details-title">Details</h2>
          <RunDetails run={run} />
        </section>
      </div>

      <section className="panel" aria-labelledby="steps-title">
        <h2 id="steps-title">Steps</h2>
        <ErrorBox error={template.error} what="Template (the DAG is drawn without its needs)" />
        <DagView steps={steps} run={run} />
        <StepsTable rows={rows} now={now} canRetry={run.acceptedEvents.includes('RETRY_STEP')} busy={busy} onRetry={(step) => setPending({ event: 'RETRY_STEP', step })} />
      </section>

      {run.spawned.length ? (
        <section className="panel" aria-labelledby="spawned-title">
          <h2 id="spawned-title">Spawned steps (regression)</h2>
          <SpawnedSteps spawned={run.spawned} />
        </section>
      ) : null}

      <section className="panel" aria-labelledby="chart-title">
        <h2 id="chart-title">Statechart</h2>
        <ErrorBox error={chart.error} what="Statechart" />
        <Statechart text={chart.data} subject="run" lazy />
      </section>

      <section className="panel" aria-labelledby="timeline-title">
        <h2 id="timeline-title">Timeline</h2>
        <ErrorBox error={events.error} what="Run events" />
        <RunTimeline events={events.data ?? []} since={run.createdAt} />
      </section>

      <section className="panel" aria-labelledby="attempts-title">
        <h2 id="attempts-title">Attempts and output</h2>
        <ErrorBox error={attempts.error} what="Attempts" />
        <StepAttempts attempts={records} order={rows.map((r) => r.step)} now={now} />
      </section>

      <section className="panel" aria-labelledby="artifacts-title">
        <h2 id="artifacts-title">Artifacts</h2>
        <ErrorBox error={artifacts.error} what="Artifacts" />
        {artifacts.data ? <RunArtifactsPanel data={artifacts.data} /> : null}
      </section>
    </div>
  );
}
