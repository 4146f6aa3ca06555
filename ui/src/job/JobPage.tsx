import { useCallback, useMemo, useState } from 'react';
import { Link, useParams, useSearchParams } from 'react-router';
import { ApiError } from '../api/client';
import { FINAL_STATES } from '../api/types';
import { ErrorBox } from '../common/ErrorBox';
import { shortId } from '../common/format';
import { StateBadge } from '../common/StateBadge';
import { useNow } from '../common/useResource';
import { ArtifactList } from './ArtifactList';
import { AttemptPanel } from './AttemptPanel';
import { AttemptsTable, type Selection } from './AttemptsTable';
import { JobActions } from './JobActions';
import { JobDetails } from './JobDetails';
import { Statechart } from './Statechart';
import { Timeline } from './Timeline';
import { attemptKeys, defaultKey, keyString, parseKey, recordOf, type AttemptKey } from './timeline';
import { useJobData } from './useJobData';

/** `#/jobs/:id`: actions, details, statechart, timeline, attempts with logs and artifacts. */
export function JobPage() {
  const { id = '' } = useParams();
  // A fresh view per job: no state carries over from the previous one.
  return <JobView key={id} id={id} />;
}

function JobView({ id }: { id: string }) {
  const [params, setParams] = useSearchParams();
  const [logKeys, setLogKeys] = useState<AttemptKey[]>([]);
  const onLogKey = useCallback((stage: string, attempt: number) => {
    setLogKeys((keys) => (keys.some((k) => k.stage === stage && k.attempt === attempt) ? keys : [...keys, { stage: stage as AttemptKey['stage'], attempt }]));
  }, []);
  const { detail, chart, attempts, artifacts, refresh } = useJobData(id, onLogKey);
  const job = detail.data;
  const records = useMemo(() => attempts.data ?? [], [attempts.data]);
  const now = useNow(1000, records.some((a) => a.status === 'running'));

  const keys = useMemo(() => (job ? attemptKeys(job, records, logKeys) : []), [job, records, logKeys]);
  const unrecorded = keys.filter((k) => !records.some((a) => a.stage === k.stage && a.attempt === k.attempt));
  const selection = useMemo<Selection | null>(() => {
    const sel = params.get('attempt');
    const byId = sel ? records.find((a) => a.id === sel) : undefined;
    if (byId) return { key: { stage: byId.stage, attempt: byId.attempt }, record: byId };
    const key = parseKey(sel) ?? defaultKey(keys, records);
    return key ? { key, record: recordOf(records, key) ?? null } : null;
  }, [params, records, keys]);

  const select = (s: Selection) =>
    setParams((p) => {
      const next = new URLSearchParams(p);
      next.set('attempt', s.record ? s.record.id : keyString(s.key));
      return next;
    }, { replace: true });

  if (!job) {
    const notFound = detail.error instanceof ApiError && detail.error.status === 404;
    return (
      <section className="panel">
        <p>
          <Link to="/jobs">← Jobs</Link>
        </p>
        {notFound ? <p data-testid="job-not-found">There is no job {id} for this tenant.</p> : <ErrorBox error={detail.error} what="Job" />}
        {detail.loading ? <p className="muted">Loading…</p> : null}
      </section>
    );
  }

  return (
    <div className="job-page" data-testid="job-page" data-job-id={job.id}>
      <header className="panel job-head">
        <nav className="crumbs small" aria-label="Breadcrumb">
          <Link to="/jobs">Jobs</Link> / <span className="mono">{shortId(job.id)}</span>
        </nav>
        <div className="job-title">
          <h1>{job.issue.title}</h1>
          <StateBadge state={job.state} testId="job-state" title={FINAL_STATES.includes(job.state) ? 'final state' : undefined} />
          <span className="mono small muted">{job.repositoryId}</span>
        </div>
        <JobActions
          job={job}
          onDone={(updated) => {
            detail.setData(updated);
            refresh();
          }}
          onRefused={refresh}
        />
        <ErrorBox error={detail.error} what="Reload" />
      </header>

      <div className="job-grid">
        <section className="panel" aria-labelledby="details-title">
          <h2 id="details-title">Details</h2>
          <JobDetails job={job} />
        </section>
        <section className="panel" aria-labelledby="timeline-title">
          <h2 id="timeline-title">Timeline</h2>
          <ErrorBox error={attempts.error} what="Attempts" />
          <Timeline job={job} attempts={records} selectedId={selection?.record?.id ?? null} onSelect={(a) => select({ key: { stage: a.stage, attempt: a.attempt }, record: a })} />
        </section>
      </div>

      <section className="panel" aria-labelledby="chart-title">
        <h2 id="chart-title">Statechart</h2>
        <ErrorBox error={chart.error} what="Statechart" />
        <Statechart text={chart.data} />
      </section>

      <section className="panel" aria-labelledby="attempts-title">
        <h2 id="attempts-title">Attempts</h2>
        <AttemptsTable attempts={records} unrecorded={unrecorded} selected={selection} onSelect={select} now={now} />
      </section>

      {selection ? (
        <AttemptPanel
          job={job}
          selection={selection}
          attempts={records}
          artifacts={artifacts.data ?? []}
          latest={!!keys.length && keyString(keys[keys.length - 1]!) === keyString(selection.key)}
        />
      ) : null}

      <section className="panel" aria-labelledby="artifacts-title">
        <h2 id="artifacts-title">All artifacts</h2>
        <ErrorBox error={artifacts.error} what="Artifacts" />
        <ArtifactList jobId={job.id} artifacts={artifacts.data ?? []} empty="No artifacts yet (the CLI agent stores plans, diffs and check logs)." />
      </section>
    </div>
  );
}
