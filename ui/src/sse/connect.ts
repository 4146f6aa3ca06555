import { SseParser, type SseMessage } from './parser';

/**
 * Server-sent events over `fetch` — EventSource cannot send the Authorization header. Reads the
 * body as a stream, parses it with {@link SseParser}, and reconnects after a drop (the server
 * disconnects a client that falls behind) with the `Last-Event-ID` header, backing off from
 * `minDelayMs` to `maxDelayMs` (or the server's `retry:`). A 401 ends it (the key is no longer
 * valid); other 4xx end it too (the request itself is wrong); 5xx and network errors retry.
 * A connection silent for longer than `idleTimeoutMs` (the server sends a comment every 15 s)
 * is treated as dropped.
 */

export type SseStatus = 'connecting' | 'open' | 'reconnecting' | 'closed';

export interface SseConnectOptions {
  url: string;
  /** Headers of each (re)connection; read every time, so a new key is picked up. */
  headers: () => Record<string, string>;
  /** Resume after this event id. */
  lastEventId?: string;
  onMessage: (message: SseMessage) => void;
  onStatus?: (status: SseStatus) => void;
  /**
   * The server refused the `Last-Event-ID` (400: not an id it knows): the connection starts
   * again without it, and events may have been missed.
   */
  onGap?: () => void;
  /** The server refused the request (401, 400, 404…): the connection has stopped. */
  onRefused?: (status: number, message: string) => void;
  minDelayMs?: number;
  maxDelayMs?: number;
  idleTimeoutMs?: number;
}

export interface SseConnection {
  close(): void;
  /** The id to resume after. */
  readonly lastEventId: string;
}

class Refused extends Error {
  constructor(
    readonly status: number,
    message: string,
  ) {
    super(message);
  }
}

function sleep(ms: number, signal: AbortSignal): Promise<void> {
  return new Promise((resolve) => {
    const t = setTimeout(resolve, ms);
    signal.addEventListener('abort', () => {
      clearTimeout(t);
      resolve();
    });
  });
}

async function refusalMessage(res: Response): Promise<string> {
  const text = await res.text().catch(() => '');
  try {
    const body = JSON.parse(text) as { message?: string | string[] };
    return Array.isArray(body.message) ? body.message.join('; ') : (body.message ?? text);
  } catch {
    return text || res.statusText;
  }
}

export function connectSse(options: SseConnectOptions): SseConnection {
  const min = options.minDelayMs ?? 500;
  const max = options.maxDelayMs ?? 15_000;
  const idle = options.idleTimeoutMs ?? 45_000;
  const stop = new AbortController();
  let lastEventId = options.lastEventId ?? '';
  let retryMs: number | null = null;
  let status: SseStatus | null = null;
  const setStatus = (s: SseStatus) => {
    if (s === status) return;
    status = s;
    options.onStatus?.(s);
  };

  /** One connection, until the body ends, fails or goes silent. */
  async function once(): Promise<boolean> {
    const attempt = new AbortController();
    const abort = () => attempt.abort();
    stop.signal.addEventListener('abort', abort);
    let watchdog: ReturnType<typeof setTimeout> | undefined;
    const alive = () => {
      clearTimeout(watchdog);
      watchdog = setTimeout(abort, idle);
    };
    let opened = false;
    try {
      const headers: Record<string, string> = { ...options.headers(), Accept: 'text/event-stream' };
      if (lastEventId) headers['Last-Event-ID'] = lastEventId;
      alive();
      const res = await fetch(options.url, { headers, signal: attempt.signal, cache: 'no-store', credentials: 'same-origin' });
      if (res.status >= 400 && res.status < 500 && res.status !== 408 && res.status !== 429) throw new Refused(res.status, await refusalMessage(res));
      if (!res.ok || !res.body) throw new Error(`HTTP ${res.status}`);
      opened = true;
      setStatus('open');
      const parser = new SseParser(
        {
          onMessage: (m) => {
            lastEventId = m.lastEventId;
            options.onMessage(m);
          },
          onRetry: (ms) => (retryMs = ms),
          onActivity: alive,
        },
        lastEventId,
      );
      const reader = res.body.getReader();
      const decoder = new TextDecoder();
      for (;;) {
        const { done, value } = await reader.read();
        if (done) break;
        alive();
        parser.push(decoder.decode(value, { stream: true }));
      }
    } catch (e) {
      if (e instanceof Refused) throw e;
      // dropped, aborted or unreachable: the caller reconnects unless stopped
    } finally {
      clearTimeout(watchdog);
      stop.signal.removeEventListener('abort', abort);
    }
    return opened;
  }

  void (async () => {
    let failures = 0;
    setStatus('connecting');
    while (!stop.signal.aborted) {
      try {
        const opened = await once();
        failures = opened ? 0 : failures + 1;
      } catch (e) {
        const refused = e as Refused;
        if (refused.status === 400 && lastEventId) {
          lastEventId = '';
          options.onGap?.();
          continue;
        }
        setStatus('closed');
        options.onRefused?.(refused.status, refused.message);
        return;
      }
      if (stop.signal.aborted) break;
      setStatus('reconnecting');
      const backoff = Math.min(max, min * 2 ** failures);
      await sleep(Math.max(retryMs ?? 0, backoff) * (0.8 + Math.random() * 0.4), stop.signal);
    }
    setStatus('closed');
  })();

  return {
    close: () => stop.abort(),
    get lastEventId() {
      return lastEventId;
    },
  };
}
