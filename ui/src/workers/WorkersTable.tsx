import type { WorkerInfo } from '../api/types';
import { Empty } from '../common/Empty';
import { formatAgo, formatDateTime } from '../common/format';
import { StateBadge } from '../common/StateBadge';

/** Workers, alive by their heartbeat, with one chip per tool breaker (highlighted unless closed). */
export function WorkersTable({ workers }: { workers: WorkerInfo[] }) {
  if (workers.length === 0) return <Empty>No worker has announced itself.</Empty>;
  const rows = [...workers].sort((a, b) => Number(b.alive) - Number(a.alive) || a.host.localeCompare(b.host) || a.pid - b.pid);
  return (
    <table className="table" data-testid="workers">
      <thead>
        <tr>
          <th scope="col">Worker</th>
          <th scope="col">Host</th>
          <th scope="col">PID</th>
          <th scope="col">Stages</th>
          <th scope="col">Started</th>
          <th scope="col">Heartbeat</th>
          <th scope="col">Alive</th>
          <th scope="col">Circuit breakers</th>
        </tr>
      </thead>
      <tbody>
        {rows.map((w) => {
          const breakers = Object.entries(w.breakers ?? {});
          const tripped = breakers.some(([, s]) => s !== 'closed');
          return (
            <tr key={w.id} className={tripped ? 'row-warn' : w.alive ? undefined : 'row-dead'} data-testid="worker-row" data-worker-id={w.id} data-alive={w.alive ? 'true' : 'false'}>
              <td className="mono small" title={w.id}>
                {w.id.length > 24 ? `${w.id.slice(0, 24)}…` : w.id}
              </td>
              <td className="mono">{w.host}</td>
              <td className="num">{w.pid}</td>
              <td className="small">{w.stages.join(', ') || '—'}</td>
              <td className="nowrap" title={formatDateTime(w.startedAt)}>
                {formatAgo(w.startedAt)}
              </td>
              <td className="nowrap" title={formatDateTime(w.heartbeatAt)}>
                {formatAgo(w.heartbeatAt)}
              </td>
              <td>{w.alive ? <StateBadge state="alive" /> : <StateBadge state="dead" />}</td>
              <td>
                {breakers.length === 0 ? <span className="muted small">none yet</span> : null}
                {breakers.map(([tool, state]) => (
                  <span key={tool} className={`breaker breaker-${state}`} data-testid="breaker" data-tool={tool} data-state={state} title={`${tool}: ${state}`}>
                    {tool} <strong>{state}</strong>
                  </span>
                ))}
              </td>
            </tr>
          );
        })}
      </tbody>
    </table>
  );
}
