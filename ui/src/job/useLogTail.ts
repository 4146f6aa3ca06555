import { useEffect, useRef, useState } from 'react';
import { authHeaders, reportUnauthorized } from '../api/client';
import { api, paths } from '../api/endpoints';
import type { LogLine } from '../api/types';
import { connectSse, type SseStatus } from '../sse/connect';

/** Lines kept in memory per view; older ones are dropped (and counted). */
export const MAX_LINES = 10_000;

export interface LogTail {
  lines: LogLine[];
  /** Lines dropped from the start to stay under MAX_LINES. */
  dropped: number;
  loading: boolean;
  error: unknown;
  /** The live stream's state; null when not tailing. */
  stream: SseStatus | null;
}

/**
 * An attempt's log: the backlog through `GET /jobs/:id/logs` (paged with `after`), then, while
 * `live`, the tail through `GET /jobs/:id/logs/stream` (fetch-based SSE) resuming after the
 * last line it has (`Last-Event-ID`), reconnecting after drops. When the tail ends (the attempt
 * finished) the lines written meanwhile are fetched once more.
 */
export function useLogTail(jobId: string, stage: string, attempt: number, live: boolean): LogTail {
  const [state, setState] = useState<LogTail>({ lines: [], dropped: 0, loading: true, error: null, stream: null });
  const lastId = useRef('');
  /** The attempt (`job|stage|attempt`) whose backlog has been read: the tail starts after it. */
  const [backlogFor, setBacklogFor] = useState<string | null>(null);
  const pending = useRef<LogLine[]>([]);
  const frame = useRef<number | null>(null);

  const append = (lines: LogLine[]) => {
    const fresh = lines.filter((l) => l.id > lastId.current);
    if (!fresh.length) return;
    lastId.current = fresh[fresh.length - 1]!.id;
    pending.current.push(...fresh);
    if (frame.current !== null) return;
    // Batches bursts into one render per frame.
    frame.current = requestAnimationFrame(() => {
      frame.current = null;
      const batch = pending.current.splice(0);
      setState((s) => {
        const all = s.lines.concat(batch);
        const over = Math.max(0, all.length - MAX_LINES);
        return { ...s, lines: over ? all.slice(over) : all, dropped: s.dropped + over };
      });
    });
  };
  const appendRef = useRef(append);
  appendRef.current = append;

  async function fetchAfter(signal: AbortSignal): Promise<void> {
    let after: string | undefined = lastId.current || undefined;
    for (;;) {
      const page = await api.logs(jobId, { stage, attempt, after, limit: 1000 }, signal);
      appendRef.current(page.lines);
      if (!page.nextCursor || signal.aborted) return;
      after = page.nextCursor;
    }
  }
  const fetchAfterRef = useRef(fetchAfter);
  fetchAfterRef.current = fetchAfter;
  const current = `${jobId}|${stage}|${attempt}`;
  const currentRef = useRef(current);
  currentRef.current = current;

  // The backlog, whenever the attempt changes.
  useEffect(() => {
    const controller = new AbortController();
    lastId.current = '';
    pending.current = [];
    setBacklogFor(null);
    setState({ lines: [], dropped: 0, loading: true, error: null, stream: null });
    fetchAfterRef
      .current(controller.signal)
      .then(() => setState((s) => ({ ...s, loading: false })))
      .catch((e: unknown) => !controller.signal.aborted && setState((s) => ({ ...s, loading: false, error: e })))
      .finally(() => !controller.signal.aborted && setBacklogFor(`${jobId}|${stage}|${attempt}`));
    return () => {
      controller.abort();
      if (frame.current !== null) cancelAnimationFrame(frame.current);
      frame.current = null;
    };
  }, [jobId, stage, attempt]);

  // The live tail, after the backlog, while the attempt runs.
  useEffect(() => {
    if (!live || backlogFor !== `${jobId}|${stage}|${attempt}`) return;
    const conn = connectSse({
      url: paths.logStream(jobId, { stage, attempt }),
      headers: () => authHeaders(),
      lastEventId: lastId.current,
      onMessage: (m) => {
        if (m.type !== 'log') return;
        try {
          appendRef.current([JSON.parse(m.data) as LogLine]);
        } catch {
          // a malformed line is skipped
        }
      },
      onStatus: (s) => setState((st) => ({ ...st, stream: s === 'closed' ? null : s })),
      onRefused: (code, message) => {
        if (code === 401) reportUnauthorized(message);
        setState((st) => ({ ...st, error: new Error(`The log stream was refused (${code}): ${message}`) }));
      },
    });
    return () => {
      conn.close();
      setState((st) => ({ ...st, stream: null }));
      // Lines written between the last event and the end of the attempt.
      const tailed = `${jobId}|${stage}|${attempt}`;
      setTimeout(() => {
        if (currentRef.current === tailed) void fetchAfterRef.current(new AbortController().signal).catch(() => undefined);
      }, 500);
    };
  }, [jobId, stage, attempt, live, backlogFor]);

  return state;
}
