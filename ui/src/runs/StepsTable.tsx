import { Empty } from '../common/Empty';
import { formatDateTime, formatDuration } from '../common/format';
import { StateBadge } from '../common/StateBadge';
import { retryable, type StepRow } from './steps';

interface Props {
  rows: StepRow[];
  now: number;
  /** Whether the run accepts RETRY_STEP now. */
  canRetry: boolean;
  busy: boolean;
  onRetry: (step: string) => void;
}

/** Every step: its needs, status, visit, attempts and duration; "Retry from here" on a failed or skipped step. */
export function StepsTable({ rows, now, canRetry, busy, onRetry }: Props) {
  if (rows.length === 0) return <Empty>The run has no steps.</Empty>;
  return (
    <table className="table" data-testid="steps-table">
      <thead>
        <tr>
          <th scope="col">Step</th>
          <th scope="col">Needs</th>
          <th scope="col">Status</th>
          <th scope="col">Visit</th>
          <th scope="col">Attempts</th>
          <th scope="col">Duration</th>
          <th scope="col">Why</th>
          <th scope="col">
            <span className="visually-hidden">Actions</span>
          </th>
        </tr>
      </thead>
      <tbody>
        {rows.map((r) => {
          const dur = r.span ? (r.span.to ? Date.parse(r.span.to) : r.status === 'running' || r.status === 'awaitingSpawn' ? now : null) : null;
          return (
            <tr key={r.step} data-testid="step-row" data-step={r.step} data-status={r.status} data-visit={r.visit}>
              <td className="mono">{r.step}</td>
              <td className="small">
                {r.parentStepId ? (
                  <span className="muted">spawned by {r.parentStepId}</span>
                ) : r.needs.length === 0 ? (
                  <span className="muted">—</span>
                ) : (
                  r.needs.map((n) => `${n.step}${n.on === 'success' ? '' : ` (${n.on})`}`).join(', ')
                )}
              </td>
              <td>
                <StateBadge state={r.status} />
              </td>
              <td className="num">{r.visit}</td>
              <td className="num">{r.attempts}</td>
              <td className="num" title={r.span ? `${formatDateTime(r.span.from)} → ${r.span.to ? formatDateTime(r.span.to) : 'now'}` : undefined}>
                {r.span && dur !== null ? `${formatDuration(dur - Date.parse(r.span.from))}${r.span.to ? '' : ' so far'}` : '—'}
              </td>
              <td className="small ellipsis" title={r.error ? `${r.error.code}: ${r.error.message}` : r.reason}>
                {r.error ? (
                  <>
                    <span className="text-bad mono">{r.error.code}</span> {r.error.message}
                  </>
                ) : (
                  <span className="muted">{r.reason ?? ''}</span>
                )}
              </td>
              <td>
                {retryable(r) ? (
                  <button
                    type="button"
                    className="btn btn-small"
                    disabled={!canRetry || busy}
                    onClick={() => onRetry(r.step)}
                    title={canRetry ? `POST /runs/:id/steps/${r.step}/retry — rerun ${r.step} and what depends on it` : 'The run does not accept RETRY_STEP now (only a failed or quarantined run does).'}
                    data-testid="step-retry"
                    data-step={r.step}
                  >
                    Retry from here
                  </button>
                ) : null}
              </td>
            </tr>
          );
        })}
      </tbody>
    </table>
  );
}
