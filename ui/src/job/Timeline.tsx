import { FINAL_STATES, type JobDetail, type StageAttempt } from '../api/types';
import { between, formatDateTime, formatDuration, formatTime } from '../common/format';
import { StateBadge } from '../common/StateBadge';
import { useNow } from '../common/useResource';
import { visitIndexOf, visitsOf } from './timeline';

interface Props {
  job: JobDetail;
  attempts: StageAttempt[];
  selectedId: string | null;
  onSelect: (a: StageAttempt) => void;
}

/** A bar's left and width on the job's time axis, in %. */
function place(fromMs: number, toMs: number, start: number, span: number): { left: string; width: string } {
  const left = ((fromMs - start) / span) * 100;
  const width = Math.max(0.4, ((toMs - fromMs) / span) * 100);
  return { left: `${Math.min(99.6, Math.max(0, left))}%`, width: `${Math.min(100 - Math.max(0, left), width)}%` };
}

/**
 * The job's stay in each state (from `history`) on one time axis, with each stage attempt (from
 * `GET /jobs/:id/attempts`) under the visit it belongs to. Ongoing visits and running attempts
 * grow with the clock.
 */
export function Timeline({ job, attempts, selectedId, onSelect }: Props) {
  const final = FINAL_STATES.includes(job.state);
  const running = !final || attempts.some((a) => a.status === 'running');
  const now = useNow(1000, running);
  const visits = visitsOf(job);
  const start = Date.parse(job.createdAt);
  const ends = [
    ...visits.map((v) => (v.to ? Date.parse(v.to) : now)),
    ...attempts.map((a) => (a.endedAt ? Date.parse(a.endedAt) : a.status === 'running' ? now : Date.parse(a.heartbeatAt))),
  ];
  const end = Math.max(start + 1, ...ends);
  const span = end - start;
  const byVisit = new Map<number, StageAttempt[]>();
  for (const a of [...attempts].sort((x, y) => Date.parse(x.startedAt) - Date.parse(y.startedAt))) {
    const i = visitIndexOf(visits, a);
    byVisit.set(i, [...(byVisit.get(i) ?? []), a]);
  }

  return (
    <div className="timeline" data-testid="timeline">
      <div className="timeline-axis muted small" aria-hidden="true">
        <span>{formatTime(job.createdAt)}</span>
        <span>total {formatDuration(span)}</span>
        <span>{final ? formatTime(new Date(end).toISOString()) : 'now'}</span>
      </div>
      <ol className="timeline-rows">
        {visits.map((v, i) => {
          const to = v.to ? Date.parse(v.to) : now;
          const dur = to - Date.parse(v.from);
          const isFinalPoint = v.to === v.from && FINAL_STATES.includes(v.state);
          return (
            <li key={`${v.state}-${v.from}`} className="timeline-visit" data-testid="timeline-visit" data-state={v.state}>
              <div className="timeline-row">
                <div className="timeline-label">
                  <StateBadge state={v.state} />
                  <span className="muted small" title={`entered by ${v.enteredBy}${v.enteredActor ? ` from ${v.enteredActor}` : ''} at ${formatDateTime(v.from)}`} data-actor={v.enteredActor}>
                    {isFinalPoint ? formatTime(v.from) : `${formatDuration(dur)}${v.to ? '' : ' so far'}`}
                    {v.repeats ? ` · ${v.repeats} retr${v.repeats === 1 ? 'y' : 'ies'}` : ''}
                  </span>
                  {v.enteredActor && !v.enteredActor.startsWith('worker ') ? (
                    <span className="muted small" data-testid="timeline-actor">
                      by {v.enteredActor}
                    </span>
                  ) : null}
                </div>
                <div className="timeline-track">
                  <span
                    className={`bar bar-state bar-${v.state.toLowerCase().replace(/_/g, '-')} ${v.to ? '' : 'bar-ongoing'}`}
                    style={place(Date.parse(v.from), to, start, span)}
                    title={`${v.state}: ${formatDateTime(v.from)} → ${v.to ? formatDateTime(v.to) : 'now'}${v.leftBy ? ` (left by ${v.leftBy}${v.guard ? ` [${v.guard}]` : ''})` : ''}`}
                  />
                </div>
              </div>
              {(byVisit.get(i) ?? []).map((a) => {
                const aEnd = a.endedAt ?? (a.status === 'running' ? null : a.heartbeatAt);
                const aDur = a.durationMs ?? between(a.startedAt, aEnd);
                return (
                  <button
                    type="button"
                    key={a.id}
                    className={`timeline-row timeline-attempt ${selectedId === a.id ? 'selected' : ''}`}
                    onClick={() => onSelect(a)}
                    data-testid="timeline-attempt"
                    data-status={a.status}
                    aria-pressed={selectedId === a.id}
                  >
                    <span className="timeline-label" title={`${a.stage} attempt ${a.attempt} (${a.tool}): ${a.status}, ${formatDuration(aDur)}`}>
                      <span className="small">
                        #{a.attempt} {a.tool}
                      </span>
                      <span className={`small status-text-${a.status}`}>{a.status}</span>
                      <span className="muted small">{formatDuration(aDur)}</span>
                    </span>
                    <span className="timeline-track">
                      <span className={`bar bar-attempt status-${a.status}`} style={place(Date.parse(a.startedAt), aEnd ? Date.parse(aEnd) : now, start, span)} />
                    </span>
                  </button>
                );
              })}
            </li>
          );
        })}
      </ol>
    </div>
  );
}
