import type { RunAuditEvent } from '../api/types';
import { Empty } from '../common/Empty';
import { formatDateTime, formatDuration, formatTime } from '../common/format';
import { StateBadge } from '../common/StateBadge';
import { actorText } from './runText';

/**
 * The run's audit (`GET /runs/:id/events`): every run and step transition, oldest first, with
 * the event that caused it, why, and who moved it ("by api key:3f9a1c02", "by worker vm:1553").
 */
export function RunTimeline({ events, since }: { events: RunAuditEvent[]; since: string }) {
  if (events.length === 0) return <Empty>No run events yet.</Empty>;
  const t0 = Date.parse(since);
  return (
    <div className="run-timeline-wrap">
      <table className="table table-compact" data-testid="run-timeline">
        <thead>
          <tr>
            <th scope="col">#</th>
            <th scope="col">At</th>
            <th scope="col">What</th>
            <th scope="col">From → to</th>
            <th scope="col">Event</th>
            <th scope="col">Why</th>
            <th scope="col">By</th>
          </tr>
        </thead>
        <tbody>
          {events.map((e) => (
            <tr key={e.seq} className={e.kind === 'run' ? 'run-event-run' : undefined} data-testid="run-event" data-kind={e.kind} data-step={e.step} data-to={e.to}>
              <td className="num muted">{e.seq}</td>
              <td className="nowrap" title={formatDateTime(e.at)}>
                <time dateTime={e.at}>{formatTime(e.at)}</time> <span className="muted small">+{formatDuration(Date.parse(e.at) - t0)}</span>
              </td>
              <td className="mono">
                {e.kind === 'run' ? <strong>run</strong> : e.step}
                {e.visit && e.visit > 1 ? <span className="muted"> v{e.visit}</span> : null}
                {e.parentStepId ? <span className="muted small"> (spawned by {e.parentStepId})</span> : null}
              </td>
              <td className="nowrap">
                {e.from === 'none' ? <span className="muted">—</span> : <StateBadge state={e.from} />} → <StateBadge state={e.to} />
              </td>
              <td className="mono small">{e.event}</td>
              <td className="small ellipsis" title={e.detail}>
                {e.detail ?? ''}
              </td>
              <td className="small nowrap" data-testid="run-event-actor" data-actor-kind={e.actor?.kind}>
                by {actorText(e.actor)}
              </td>
            </tr>
          ))}
        </tbody>
      </table>
    </div>
  );
}
