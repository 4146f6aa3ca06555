import type { JobEvent, LiveEvent, LogEvent, RunChangeEvent } from '../api/types';

/**
 * An SSE message of `GET /events/stream` as a {@link LiveEvent}: `job`, `log` and `run`; any
 * other kind, and a malformed event, is null (skipped).
 */
export function parseLiveEvent(type: string, data: string): LiveEvent | null {
  try {
    const value = JSON.parse(data) as { jobId?: unknown; line?: unknown; runId?: unknown; events?: unknown };
    if (type === 'job' && typeof value.jobId === 'string') return { ...(value as Omit<JobEvent, 'kind'>), kind: 'job' };
    if (type === 'log' && typeof value.jobId === 'string' && value.line) return { ...(value as Omit<LogEvent, 'kind'>), kind: 'log' };
    if (type === 'run' && typeof value.runId === 'string') {
      const events = Array.isArray(value.events) ? (value.events as RunChangeEvent['events']) : [];
      return { ...(value as Omit<RunChangeEvent, 'kind' | 'events'>), events, kind: 'run' };
    }
  } catch {
    // a malformed event is skipped
  }
  return null;
}
