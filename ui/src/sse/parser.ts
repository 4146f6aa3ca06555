/**
 * A Server-Sent Events parser (WHATWG HTML, "Parsing an event stream"), fed text chunks as they
 * arrive: lines end with CRLF, LF or CR; `data` lines are joined with LF; `event` names the
 * type (default "message"); `id` sets the last event id (ignored when it contains NUL) and
 * persists across events; `retry` sets the reconnection delay; lines starting with `:` are
 * comments; a blank line dispatches the event, and an event with no data is not dispatched.
 * Pure: no DOM, no network.
 */

export interface SseMessage {
  /** The `event` field, or "message". */
  type: string;
  data: string;
  /** The last event id in force when this event was dispatched ('' when none). */
  lastEventId: string;
}

export interface SseHandlers {
  onMessage: (message: SseMessage) => void;
  /** A `retry:` field, ms. */
  onRetry?: (ms: number) => void;
  /** Any line read (comments too): proof the connection is alive. */
  onActivity?: () => void;
}

export class SseParser {
  private buffer = '';
  /** A CR ended the last chunk: a LF at the start of the next one belongs to it. */
  private pendingCr = false;
  private data: string[] = [];
  private type = '';
  private lastEventId: string;

  constructor(
    private readonly handlers: SseHandlers,
    lastEventId = '',
  ) {
    this.lastEventId = lastEventId;
  }

  /** The id of the last event seen (what to send as `Last-Event-ID` on reconnect). */
  get eventId(): string {
    return this.lastEventId;
  }

  /** Feeds decoded text; dispatches every complete event in it. */
  push(chunk: string): void {
    let text = chunk;
    if (this.pendingCr) {
      this.pendingCr = false;
      if (text.startsWith('\n')) text = text.slice(1);
    }
    this.buffer += text;
    let start = 0;
    for (let i = 0; i < this.buffer.length; i++) {
      const c = this.buffer.charCodeAt(i);
      if (c !== 10 && c !== 13) continue;
      this.line(this.buffer.slice(start, i));
      if (c === 13) {
        if (i + 1 === this.buffer.length) this.pendingCr = true;
        else if (this.buffer.charCodeAt(i + 1) === 10) i++;
      }
      start = i + 1;
    }
    this.buffer = this.buffer.slice(start);
  }

  /** The stream ended: an incomplete event is discarded, as the standard says. */
  reset(): void {
    this.buffer = '';
    this.pendingCr = false;
    this.data = [];
    this.type = '';
  }

  private line(line: string): void {
    this.handlers.onActivity?.();
    if (line === '') {
      this.dispatch();
      return;
    }
    if (line.startsWith(':')) return;
    const colon = line.indexOf(':');
    const field = colon === -1 ? line : line.slice(0, colon);
    let value = colon === -1 ? '' : line.slice(colon + 1);
    if (value.startsWith(' ')) value = value.slice(1);
    switch (field) {
      case 'data':
        this.data.push(value);
        break;
      case 'event':
        this.type = value;
        break;
      case 'id':
        if (!value.includes('\0')) this.lastEventId = value;
        break;
      case 'retry':
        if (/^\d+$/.test(value)) this.handlers.onRetry?.(Number(value));
        break;
      default:
        break;
    }
  }

  private dispatch(): void {
    const data = this.data;
    const type = this.type || 'message';
    this.data = [];
    this.type = '';
    if (data.length === 0) return;
    this.handlers.onMessage({ type, data: data.join('\n'), lastEventId: this.lastEventId });
  }
}
