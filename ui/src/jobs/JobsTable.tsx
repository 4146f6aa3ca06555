import { Link } from 'react-router';
import { Empty } from '../common/Empty';
import { formatDateTime, formatTime, shortId } from '../common/format';
import { StateBadge } from '../common/StateBadge';
import type { JobRow } from './filters';

export function JobsTable({ rows }: { rows: JobRow[] }) {
  if (rows.length === 0) return <Empty>No jobs match these filters.</Empty>;
  return (
    <table className="table" data-testid="jobs-table">
      <thead>
        <tr>
          <th scope="col">Job</th>
          <th scope="col">Repository</th>
          <th scope="col">Issue</th>
          <th scope="col">State</th>
          <th scope="col">Updated</th>
        </tr>
      </thead>
      <tbody>
        {rows.map((r) => (
          <tr key={r.id} data-testid="job-row" data-job-id={r.id} data-state={r.state}>
            <td className="mono">
              <Link to={`/jobs/${encodeURIComponent(r.id)}`} title={r.id} data-testid="job-link">
                {shortId(r.id)}
              </Link>
            </td>
            <td className="mono">{r.repositoryId}</td>
            <td className="ellipsis" title={r.title}>
              {r.title}
            </td>
            <td>
              <StateBadge state={r.state} />
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
