import { useLiveStatus } from './LiveEvents';

const LABEL = { live: 'live', connecting: 'connecting', reconnecting: 'reconnecting', off: 'offline' } as const;

/** The event stream's state: a dot and a word. */
export function LiveDot() {
  const { status, problem } = useLiveStatus();
  const live = status === 'live';
  return (
    <span
      className={`live-dot live-${status}`}
      data-testid="live"
      data-live={live ? 'true' : 'false'}
      title={problem ?? (live ? 'Live updates are on' : 'Live updates are reconnecting')}
      role="status"
      aria-live="polite"
    >
      <span className="dot" aria-hidden="true" />
      {LABEL[status]}
    </span>
  );
}
