import type { StepAttemptRecord } from '../api/types';
import { Empty } from '../common/Empty';
import { between, formatDateTime, formatDuration, formatInt, formatTime, formatUsd } from '../common/format';
import { StateBadge } from '../common/StateBadge';

function Tail({ label, text, testId }: { label: string; text: string; testId: string }) {
  return (
    <div className="tail">
      <div className="small muted">{label}</div>
      {text ? (
        <pre className="log-lines tail-text" data-testid={testId} tabIndex={0}>
          {text}
        </pre>
      ) : (
        <p className="small muted" data-testid={`${testId}-empty`}>
          (empty)
        </p>
      )}
    </div>
  );
}

function Attempt({ a, now }: { a: StepAttemptRecord; now: number }) {
  const dur = a.durationMs ?? (a.status === 'running' ? now - Date.parse(a.startedAt) : between(a.startedAt, a.endedAt ?? a.heartbeatAt));
  return (
    <details className="attempt" open={a.status === 'running' || a.status === 'failed' || a.status === 'aborted'} data-testid="run-attempt" data-step={a.step} data-status={a.status} data-attempt-id={a.id}>
      <summary>
        <span className="mono">{a.step}</span> <span className="muted">visit {a.visit} · attempt {a.attempt}</span> <StateBadge state={a.status} />{' '}
        <span className="mono small">{a.tool}</span> <span className="small muted">{formatDuration(dur)}</span>
        {a.exitCode !== null ? <span className="small muted"> · exit {a.exitCode}</span> : null}
        {a.error ? <span className="text-bad mono small"> · {a.error.code}</span> : null}
      </summary>
      <dl className="facts small">
        <dt>Ran on</dt>
        <dd className="mono">
          {a.host}
          {a.pid !== null ? ` pid ${a.pid}` : ''}
        </dd>
        <dt>Started</dt>
        <dd title={formatDateTime(a.startedAt)}>
          {formatTime(a.startedAt)}
          {a.endedAt ? ` → ${formatTime(a.endedAt)}` : a.status === 'running' ? ` · heartbeat ${formatTime(a.heartbeatAt)}` : ''}
        </dd>
        {a.router ? (
          <>
            <dt>Router</dt>
            <dd>
              <span className="mono">@{a.router.capability}</span> → <span className="mono">{a.router.tool}</span> ({a.router.strategy}): {a.router.reason}
            </dd>
          </>
        ) : null}
        {a.usage ? (
          <>
            <dt>Usage</dt>
            <dd>
              {formatInt(a.usage.inputTokens)} in / {formatInt(a.usage.outputTokens)} out{a.usage.costUsd !== undefined ? ` · ${formatUsd(a.usage.costUsd)}` : ''}
            </dd>
          </>
        ) : null}
        {a.produced.length ? (
          <>
            <dt>Produced</dt>
            <dd className="mono">{a.produced.map((id) => id.split(':').pop()).join(', ')}</dd>
          </>
        ) : null}
      </dl>
      {a.error ? (
        <p className="error-box" data-testid="attempt-error" data-code={a.error.code}>
          <strong className="mono">{a.error.code}</strong>: {a.error.message}
        </p>
      ) : null}
      <div className="tails">
        <Tail label="stdout (tail)" text={a.stdoutTail} testId="attempt-stdout" />
        <Tail label="stderr (tail)" text={a.stderrTail} testId="attempt-stderr" />
      </div>
    </details>
  );
}

/**
 * The run's step attempts (`GET /runs/:id/attempts`), by step in the step table's order: where
 * each ran, the router's choice, the error with its code, and the output tails (a step's log).
 * Running, failed and aborted attempts are open; succeeded and discarded ones (a late or duplicate
 * execution whose result the run did not take) closed.
 */
export function StepAttempts({ attempts, order, now }: { attempts: StepAttemptRecord[]; order: string[]; now: number }) {
  if (attempts.length === 0) return <Empty>No step has started yet.</Empty>;
  const rank = (step: string) => {
    const i = order.indexOf(step);
    return i < 0 ? order.length : i;
  };
  const sorted = [...attempts].sort((x, y) => rank(x.step) - rank(y.step) || x.visit - y.visit || x.attempt - y.attempt);
  return (
    <div className="attempt-list" data-testid="run-attempts">
      {sorted.map((a) => (
        <Attempt key={a.id} a={a} now={now} />
      ))}
    </div>
  );
}
