import { FINAL_STATES, stageOfState, type Artifact, type JobDetail, type StageAttempt } from '../api/types';
import { between, formatDateTime, formatDuration, formatInt, formatUsd } from '../common/format';
import { StateBadge } from '../common/StateBadge';
import { ArtifactList } from './ArtifactList';
import type { Selection } from './AttemptsTable';
import { LogView } from './LogView';

function Processes({ record }: { record: StageAttempt }) {
  if (record.processes.length === 0) return null;
  return (
    <table className="table table-compact" data-testid="processes">
      <caption>Processes</caption>
      <thead>
        <tr>
          <th scope="col">Tool</th>
          <th scope="col">PID</th>
          <th scope="col">PGID</th>
          <th scope="col">Host</th>
          <th scope="col">Started</th>
          <th scope="col">Duration</th>
          <th scope="col">Exit</th>
        </tr>
      </thead>
      <tbody>
        {record.processes.map((p) => (
          <tr key={`${p.host}-${p.pid}-${p.startedAt}`}>
            <td className="mono">{p.tool}</td>
            <td className="num">{p.pid}</td>
            <td className="num">{p.pgid ?? '—'}</td>
            <td className="mono small">{p.host}</td>
            <td className="nowrap">{formatDateTime(p.startedAt)}</td>
            <td className="num">{formatDuration(p.durationMs)}</td>
            <td className="mono">{p.endedAt ? (p.signal ?? p.exitCode ?? '—') : 'running'}</td>
          </tr>
        ))}
      </tbody>
    </table>
  );
}

interface Props {
  job: JobDetail;
  selection: Selection;
  attempts: StageAttempt[];
  artifacts: Artifact[];
  /** The attempt the job is on now (the newest known), when it has no record yet. */
  latest: boolean;
}

/** One stage attempt: outcome, usage and cost, error, processes, artifacts and its log. */
export function AttemptPanel({ job, selection, attempts, artifacts, latest }: Props) {
  const { key, record } = selection;
  // Without a record: tail the newest attempt of a job at work (its commit, hence the job's state,
  // comes only when the stage ends), or the attempt of the stage the job is in.
  const working = !FINAL_STATES.includes(job.state) && job.state !== 'FAILED';
  const live = record ? record.status === 'running' : working && (latest || stageOfState(job.state) === key.stage);
  // A (stage, attempt) that ran in several rounds (e.g. coding after a rejected review): this record's lines only.
  const siblings = attempts.filter((a) => a.stage === key.stage && a.attempt === key.attempt);
  const window =
    record && siblings.length > 1 ? { from: Date.parse(record.startedAt), to: record.endedAt ? Date.parse(record.endedAt) : null } : undefined;
  const own = artifacts.filter((a) => a.stage === key.stage && a.attempt === key.attempt);
  return (
    <section className="panel attempt-panel" aria-labelledby="attempt-title" data-testid="attempt-panel" data-stage={key.stage} data-attempt={key.attempt}>
      <div className="section-head">
        <h2 id="attempt-title">
          {key.stage} · attempt {key.attempt}
        </h2>
        {record ? <StateBadge state={record.status} /> : <span className="muted small">no attempt record</span>}
      </div>
      {record ? (
        <dl className="facts">
          <dt>Tool</dt>
          <dd className="mono">{record.tool}</dd>
          <dt>Worker</dt>
          <dd className="mono small">
            {record.host} · {record.workerId}
          </dd>
          <dt>Job version</dt>
          <dd>{record.version}</dd>
          <dt>Started</dt>
          <dd>{formatDateTime(record.startedAt)}</dd>
          <dt>{record.endedAt ? 'Ended' : 'Heartbeat'}</dt>
          <dd>{formatDateTime(record.endedAt ?? record.heartbeatAt)}</dd>
          <dt>Duration</dt>
          <dd>{record.durationMs !== null ? formatDuration(record.durationMs) : record.status === 'running' ? `${formatDuration(between(record.startedAt))} so far` : '—'}</dd>
          <dt>Tokens</dt>
          <dd data-testid="attempt-usage">{record.usage ? `${formatInt(record.usage.inputTokens)} in · ${formatInt(record.usage.outputTokens)} out` : '—'}</dd>
          <dt>Cost</dt>
          <dd>{record.usage?.costUsd !== undefined ? formatUsd(record.usage.costUsd) : '—'}</dd>
          {record.reaped ? (
            <>
              <dt>Reaped</dt>
              <dd>
                {formatDateTime(record.reaped.at)} on {record.reaped.host}: found {record.reaped.found}, killed {record.reaped.killed}, remaining {record.reaped.remaining}
              </dd>
            </>
          ) : null}
        </dl>
      ) : null}
      {record?.error ? (
        <div className="error-box" data-testid="attempt-error">
          <strong className="mono">{record.error.code}</strong> {record.error.message}
        </div>
      ) : null}
      {record ? <Processes record={record} /> : null}
      <h3>Artifacts</h3>
      <ArtifactList jobId={job.id} artifacts={own} empty="This attempt stored no artifacts." />
      <h3>Log</h3>
      <LogView jobId={job.id} stage={key.stage} attempt={key.attempt} live={live} window={window} />
    </section>
  );
}
