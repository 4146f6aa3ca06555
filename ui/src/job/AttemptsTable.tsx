import type { StageAttempt } from '../api/types';
import { Empty } from '../common/Empty';
import { between, formatDateTime, formatDuration, formatInt, formatTime, formatUsd } from '../common/format';
import { StateBadge } from '../common/StateBadge';
import { keyString, type AttemptKey } from './timeline';

/** What the attempt panel shows: a record, or a (stage, attempt) known only from the history. */
export interface Selection {
  key: AttemptKey;
  record: StageAttempt | null;
}

interface Props {
  attempts: StageAttempt[];
  /** Stage attempts without a record (short in-process calls write none). */
  unrecorded: AttemptKey[];
  selected: Selection | null;
  onSelect: (s: Selection) => void;
  now: number;
}

function RecordRow({ a, selected, onSelect, now }: { a: StageAttempt; selected: boolean; onSelect: (s: Selection) => void; now: number }) {
  const select = () => onSelect({ key: { stage: a.stage, attempt: a.attempt }, record: a });
  const dur = a.durationMs ?? (a.status === 'running' ? now - Date.parse(a.startedAt) : between(a.startedAt, a.endedAt ?? a.heartbeatAt));
  return (
    <tr
      className={selected ? 'selected' : undefined}
      onClick={select}
      data-testid="attempt"
      data-status={a.status}
      data-stage={a.stage}
      data-attempt={a.attempt}
      data-attempt-id={a.id}
      aria-selected={selected}
    >
      <td>
        <button type="button" className="link-button" onClick={(e) => (e.stopPropagation(), select())}>
          {a.stage}
        </button>
      </td>
      <td className="num">{a.attempt}</td>
      <td>
        <StateBadge state={a.status} />
        {a.reaped ? <span className="muted small" title={`reaped ${formatDateTime(a.reaped.at)} on ${a.reaped.host}`}> reaped</span> : null}
      </td>
      <td className="mono">{a.tool}</td>
      <td className="mono small" title={a.workerId}>
        {a.host}
      </td>
      <td className="nowrap" title={formatDateTime(a.startedAt)}>
        {formatTime(a.startedAt)}
      </td>
      <td className="num">{formatDuration(dur)}</td>
      <td className="num">{a.usage ? `${formatInt(a.usage.inputTokens)} / ${formatInt(a.usage.outputTokens)}` : '—'}</td>
      <td className="num">{a.usage?.costUsd !== undefined ? formatUsd(a.usage.costUsd) : '—'}</td>
      <td className="mono small" title={a.error?.message}>
        {a.error?.code ?? ''}
      </td>
    </tr>
  );
}

function UnrecordedRow({ k, selected, onSelect }: { k: AttemptKey; selected: boolean; onSelect: (s: Selection) => void }) {
  const select = () => onSelect({ key: k, record: null });
  return (
    <tr className={selected ? 'selected' : undefined} onClick={select} data-testid="attempt-unrecorded" data-stage={k.stage} data-attempt={k.attempt} aria-selected={selected}>
      <td>
        <button type="button" className="link-button" onClick={(e) => (e.stopPropagation(), select())}>
          {k.stage}
        </button>
      </td>
      <td className="num">{k.attempt}</td>
      <td colSpan={8} className="muted small">
        no attempt record (a short in-process call)
      </td>
    </tr>
  );
}

/** Every stage attempt: worker, host, status, duration, usage, error. A row selects it. */
export function AttemptsTable({ attempts, unrecorded, selected, onSelect, now }: Props) {
  if (attempts.length === 0 && unrecorded.length === 0) return <Empty>No stage has run yet.</Empty>;
  // Records by start; attempts without a record by the time the history names them.
  const rows: ({ record: StageAttempt; t: number } | { key: AttemptKey; t: number })[] = [
    ...attempts.map((record) => ({ record, t: Date.parse(record.startedAt) })),
    ...unrecorded.map((key) => ({ key, t: key.at ? Date.parse(key.at) : Number.POSITIVE_INFINITY })),
  ].sort((x, y) => x.t - y.t);
  return (
    <table className="table table-click" data-testid="attempts">
      <thead>
        <tr>
          <th scope="col">Stage</th>
          <th scope="col">#</th>
          <th scope="col">Status</th>
          <th scope="col">Tool</th>
          <th scope="col">Worker</th>
          <th scope="col">Started</th>
          <th scope="col">Duration</th>
          <th scope="col">Tokens in / out</th>
          <th scope="col">Cost</th>
          <th scope="col">Error</th>
        </tr>
      </thead>
      <tbody>
        {rows.map((row) =>
          'key' in row ? (
            <UnrecordedRow key={keyString(row.key)} k={row.key} selected={!selected?.record && !!selected && keyString(selected.key) === keyString(row.key)} onSelect={onSelect} />
          ) : (
            <RecordRow key={row.record.id} a={row.record} selected={selected?.record?.id === row.record.id} onSelect={onSelect} now={now} />
          ),
        )}
      </tbody>
    </table>
  );
}
