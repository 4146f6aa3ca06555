import type { QueueInfo } from '../api/types';
import { Empty } from '../common/Empty';
import { formatInt } from '../common/format';

const COLUMNS = ['waiting', 'active', 'delayed', 'prioritized', 'failed', 'completed'] as const;

/** The BullMQ queues (the stages' and the deadlines'), their message counts, and whether paused. */
export function QueuesTable({ queues }: { queues: QueueInfo[] }) {
  if (queues.length === 0) return <Empty>No queues.</Empty>;
  return (
    <table className="table" data-testid="queues">
      <thead>
        <tr>
          <th scope="col">Queue</th>
          <th scope="col">Stage</th>
          {COLUMNS.map((c) => (
            <th key={c} scope="col" className="num">
              {c}
            </th>
          ))}
        </tr>
      </thead>
      <tbody>
        {queues.map((q) => (
          <tr key={q.name} data-testid="queue-row" data-queue={q.name}>
            <td className="mono">
              {q.name} {q.paused || (q.counts.paused ?? 0) > 0 ? <span className="badge badge-paused" data-testid="queue-paused">paused</span> : null}
            </td>
            <td>{q.stage ?? <span className="muted">—</span>}</td>
            {COLUMNS.map((c) => (
              <td key={c} className={`num ${c === 'failed' && q.counts[c] > 0 ? 'text-bad' : ''}`} data-count={c}>
                {formatInt(q.counts[c])}
              </td>
            ))}
          </tr>
        ))}
      </tbody>
    </table>
  );
}
