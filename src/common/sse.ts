import type { Response } from 'express';

/** Options of a {@link SseStream}. */
export interface SseOptions {
  /** A client whose unsent bytes exceed this is disconnected instead of buffered without bound, bytes. */
  maxBufferedBytes: number;
  /** A comment line keeps idle connections (and proxies) open every this many ms. */
  keepAliveMs: number;
}

/** One event: `data` is JSON-encoded; an event without `id` leaves the client's last id as it was. */
export interface SseEvent {
  id?: string;
  event?: string;
  data: unknown;
}

/**
 * One event in the wire format. `json`, when given, is `data` already serialized (one line of
 * JSON: it must not contain a newline, which JSON.stringify never emits).
 */
export function formatSse(event: SseEvent, json?: string): string {
  return `${event.id ? `id: ${event.id}\n` : ''}${event.event ? `event: ${event.event}\n` : ''}data: ${json ?? JSON.stringify(event.data)}\n\n`;
}

const format = (event: SseEvent) => formatSse(event);

/**
 * A Server-Sent Events response (WHATWG HTML, "Server-sent events": `id:`, `event:`, `data:`
 * fields, a blank line ends an event, `:` starts a comment). Sends headers at once; `send`
 * returns false once the stream is closed — by the client, or because the client fell behind
 * (`maxBufferedBytes` unsent), in which case it may reconnect with `Last-Event-ID`.
 */
export class SseStream {
  private closed = false;
  private readonly timer: NodeJS.Timeout;
  private readonly closeListeners: (() => void)[] = [];

  constructor(
    private readonly res: Response,
    private readonly options: SseOptions,
  ) {
    res.status(200);
    res.setHeader('Content-Type', 'text/event-stream; charset=utf-8');
    res.setHeader('Cache-Control', 'no-cache, no-transform');
    res.setHeader('Connection', 'keep-alive');
    res.setHeader('X-Accel-Buffering', 'no');
    res.flushHeaders();
    res.write(': stream open\n\n');
    this.timer = setInterval(() => this.write(': keep-alive\n\n'), options.keepAliveMs);
    this.timer.unref();
    res.on('close', () => this.close());
    // The client may have left while the route was still working (authentication, subscribing):
    // its 'close' has fired already and will not again, so close now.
    if (res.destroyed || res.socket?.destroyed) this.close();
  }

  get isClosed(): boolean {
    return this.closed;
  }

  /** Calls `listener` once the stream closes, for any reason. */
  onClose(listener: () => void): void {
    if (this.closed) listener();
    else this.closeListeners.push(listener);
  }

  /** Sends one event; `data` is JSON-encoded. @returns false when the stream is (now) closed. */
  send(event: SseEvent): boolean {
    return this.write(format(event));
  }

  /**
   * Writes events already in the wire format (see {@link formatSse}), checking only before it
   * whether the client has fallen behind. @returns false when the stream is (now) closed.
   */
  sendFormatted(text: string | Buffer): boolean {
    return text.length === 0 ? !this.closed : this.write(text);
  }

  /**
   * Resolves once the bytes written so far have been handed to the socket, or the stream closed.
   * A client that has not taken them within `timeoutMs` is disconnected (it stopped reading
   * without falling `maxBufferedBytes` behind); it may resume with `Last-Event-ID`.
   */
  drained(timeoutMs = 30_000): Promise<void> {
    if (this.closed || this.res.writableLength === 0) return Promise.resolve();
    return new Promise((resolve) => {
      const timer = setTimeout(() => this.close(), timeoutMs);
      timer.unref();
      const done = () => {
        clearTimeout(timer);
        this.res.off('drain', done);
        resolve();
      };
      this.res.on('drain', done);
      this.onClose(done);
    });
  }

  private write(text: string | Buffer): boolean {
    if (this.closed) return false;
    if (this.res.writableLength > this.options.maxBufferedBytes) {
      // The client is too slow: disconnect it rather than buffer without bound.
      this.close();
      return false;
    }
    this.res.write(text);
    return true;
  }

  close(): void {
    if (this.closed) return;
    this.closed = true;
    clearInterval(this.timer);
    if (!this.res.writableEnded) this.res.end();
    for (const l of this.closeListeners.splice(0)) l();
  }
}
