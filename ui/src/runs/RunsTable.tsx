import { Link } from 'react-router';
import { Empty } from '../common/Empty';
import { formatDateTime, formatTime, shortId } from '../common/format';
import { StateBadge } from '../common/StateBadge';
import type { RunRow } from './runList';

/** A percent bar with its figures, coloured by the run's status. */
export function ProgressBar({ done, total, percent, status, testId }: { done: number; total: number; percent: number; status: string; testId?: string }) {
  return (
    <span className={`progress progress-${status.toLowerCase()}`} data-testid={testId} data-percent={percent} title={`${done} of ${total} steps done`}>
      <span className="progress-track" aria-hidden="true">
        <span className="progress-fill" style={{ width: `${Math.min(100, Math.max(0, percent))}%` }} />
      </span>
      <span className="small num">
        {done}/{total} · {percent} %
      </span>
    </span>
  );
}

export function RunsTable({ rows }: { rows: RunRow[] }) {
  if (rows.length === 0) return <Empty>No runs match these filters.</Empty>;
  return (
    <table className="table" data-testid="runs-table">
      <thead>
        <tr>
          <th scope="col">Run</th>
          <th scope="col">Template</th>
          <th scope="col">Status</th>
          <th scope="col">Progress</th>
          <th scope="col">Created</th>
          <th scope="col">Updated</th>
        </tr>
      </thead>
      <tbody>
        {rows.map((r) => (
          <tr key={r.id} data-testid="run-row" data-run-id={r.id} data-status={r.status}>
            <td className="mono">
              <Link to={`/runs/${encodeURIComponent(r.id)}`} title={r.id} data-testid="run-link">
                {shortId(r.id.replace(/^run_/, ''))}
              </Link>
            </td>
            <td className="mono">
              {r.template.name}@{r.template.version}
            </td>
            <td>
              <StateBadge state={r.status} />
            </td>
            <td>
              <ProgressBar {...r.progress} status={r.status} />
            </td>
            <td className="nowrap" title={formatDateTime(r.createdAt)}>
              {r.createdAt ? <time dateTime={r.createdAt}>{formatTime(r.createdAt)}</time> : '—'}
            </td>
            <td className="nowrap" title={formatDateTime(r.updatedAt)}>
              <time dateTime={r.updatedAt}>{formatTime(r.updatedAt)}</time>
            </td>
          </tr>
        ))}
      </tbody>
    </table>
  );
}
