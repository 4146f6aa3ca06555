import { useEffect, useLayoutEffect, useRef, useState } from 'react';
import { ErrorBox } from '../common/ErrorBox';
import { formatTime } from '../common/format';
import { MAX_LINES, useLogTail } from './useLogTail';

interface Props {
  jobId: string;
  stage: string;
  attempt: number;
  live: boolean;
  /** Only lines in this time window (ms), when one (stage, attempt) ran in several rounds. */
  window?: { from: number; to: number | null } | undefined;
}

const STREAM_LABEL = { connecting: 'connecting…', open: 'tailing', reconnecting: 'reconnecting…', closed: 'stopped' } as const;

/** An attempt's output with a live tail; follows the end unless scrolled up. */
export function LogView({ jobId, stage, attempt, live, window }: Props) {
  const tail = useLogTail(jobId, stage, attempt, live);
  const box = useRef<HTMLDivElement>(null);
  const [follow, setFollow] = useState(true);
  const lines = window
    ? tail.lines.filter((l) => {
        const t = Date.parse(l.at);
        return t >= window.from - 1000 && (window.to === null || t <= window.to + 5000);
      })
    : tail.lines;

  useLayoutEffect(() => {
    if (follow && box.current) box.current.scrollTop = box.current.scrollHeight;
  }, [lines.length, follow]);

  useEffect(() => setFollow(true), [jobId, stage, attempt]);

  const onScroll = () => {
    const el = box.current;
    if (!el) return;
    const atEnd = el.scrollHeight - el.scrollTop - el.clientHeight < 24;
    if (atEnd !== follow) setFollow(atEnd);
  };

  return (
    <div className="logs" data-testid="logs" data-stage={stage} data-attempt={attempt} data-lines={lines.length} data-streaming={tail.stream === 'open' ? 'true' : 'false'}>
      <div className="logs-head">
        <span className="small">
          {lines.length} line{lines.length === 1 ? '' : 's'}
          {tail.dropped ? ` (the first ${tail.dropped} dropped: only the last ${MAX_LINES} are kept here)` : ''}
        </span>
        <span className="small muted" role="status">
          {tail.loading ? 'loading…' : tail.stream ? STREAM_LABEL[tail.stream] : live ? '' : 'finished'}
        </span>
        <label className="small">
          <input type="checkbox" checked={follow} onChange={(e) => setFollow(e.target.checked)} /> follow
        </label>
      </div>
      <ErrorBox error={tail.error} what="Logs" />
      <div className="log-lines" ref={box} onScroll={onScroll} role="log" aria-label={`Output of ${stage} attempt ${attempt}`} tabIndex={0}>
        {lines.length === 0 && !tail.loading ? <p className="muted small log-empty">No output{live ? ' yet' : ''}.</p> : null}
        {lines.map((l) => (
          <div key={l.id} className={`log-line log-${l.stream}`} data-testid="log-line">
            <time className="log-time" dateTime={l.at}>
              {formatTime(l.at)}
            </time>
            <span className="log-stream">{l.stream === 'stdout' ? '' : l.stream}</span>
            <span className="log-text">{l.text}</span>
          </div>
        ))}
      </div>
    </div>
  );
}
