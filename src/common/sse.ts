import type { Response } from 'express';

/** Options of a {@link SseStream}. */
export interface SseOptions {
  /** A client whose unsent bytes exceed this is disconnected instead of buffered without bound, bytes. */
  maxBufferedBytes: number;
  /** A comment line keeps idle connections (and proxies) open every this many ms. */
  keepAliveMs: number;
}

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
  send(event: { id?: string; event?: string; data: unknown }): boolean {
    const lines = [event.id ? `id: ${event.id}` : '', event.event ? `event: ${event.event}` : '', `data: ${JSON.stringify(event.data)}`].filter(Boolean);
    return this.write(`${lines.join('\n')}\n\n`);
  }

  private write(text: string): boolean {
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
