/**
 * Turning a process's byte streams into redacted lines: UTF-8 decoding across chunk boundaries,
 * line splitting with a length cap, secret redaction, and a bounded tail.
 */
import { StringDecoder } from 'node:string_decoder';

/** Cap on one line handed to `onLine` and kept in tails: 16 Ki characters (16 KiB for ASCII). */
export const DISPLAY_LINE_CAP = 16 * 1024;
/** Cap on one line handed to an output parser: 8 Mi characters (a CLI's final result event can be large). */
export const PARSE_LINE_CAP = 8 * 1024 * 1024;
/** Size of `stdoutTail` / `stderrTail`: the last 8 KiB. */
export const TAIL_BYTES = 8 * 1024;
/** What replaces a secret value in output. */
export const REDACTED = '[redacted]';

/**
 * Returns a function replacing every occurrence of each value by `[redacted]` (longest values
 * first, so a secret containing another is replaced whole). Empty values are ignored. A secret is
 * matched within one line only (lines are redacted after splitting).
 */
export function createRedactor(values: readonly string[]): (text: string) => string {
  const secrets = [...new Set(values.filter((v) => typeof v === 'string' && v.length > 0))].sort(
    (a, b) => b.length - a.length,
  );
  if (secrets.length === 0) return (text) => text;
  return (text) => {
    let out = text;
    for (const secret of secrets) {
      if (out.includes(secret)) out = out.split(secret).join(REDACTED);
    }
    return out;
  };
}

/**
 * Splits decoded text into lines (`\n`, with a trailing `\r` dropped). A line longer than
 * `maxChars` is emitted cut at `maxChars` with `truncated = true`; the rest of it, up to the next
 * line break, is dropped.
 */
export class LineSplitter {
  private readonly decoder = new StringDecoder('utf8');
  private pending = '';
  private dropping = false;

  constructor(
    private readonly maxChars: number,
    private readonly emit: (text: string, truncated: boolean) => void,
  ) {}

  /** Feeds a chunk of the stream (bytes or text). */
  push(chunk: Buffer | string): void {
    this.consume(typeof chunk === 'string' ? chunk : this.decoder.write(chunk));
  }

  /** Flushes the last line when the stream ends without a line break. */
  end(): void {
    this.consume(this.decoder.end());
    if (this.pending.length > 0 && !this.dropping) this.emit(stripCr(this.pending), false);
    this.pending = '';
    this.dropping = false;
  }

  private consume(text: string): void {
    let start = 0;
    for (;;) {
      const nl = text.indexOf('\n', start);
      if (nl === -1) break;
      const piece = text.slice(start, nl);
      if (this.dropping) {
        this.dropping = false;
      } else {
        this.emitLine(this.pending + piece);
      }
      this.pending = '';
      start = nl + 1;
    }
    if (start < text.length && !this.dropping) {
      this.pending += text.slice(start);
      if (this.pending.length > this.maxChars) {
        this.emit(this.pending.slice(0, this.maxChars), true);
        this.pending = '';
        this.dropping = true;
      }
    }
  }

  private emitLine(line: string): void {
    const text = stripCr(line);
    if (text.length > this.maxChars) this.emit(text.slice(0, this.maxChars), true);
    else this.emit(text, false);
  }
}

function stripCr(line: string): string {
  return line.endsWith('\r') ? line.slice(0, -1) : line;
}

/** Keeps the last `maxBytes` bytes (UTF-8) of what is appended. */
export class TailBuffer {
  private text = '';

  constructor(private readonly maxBytes: number = TAIL_BYTES) {}

  append(line: string): void {
    this.text += line + '\n';
    // Characters are at most 4 bytes in UTF-8 and at least 1: trim cheaply, exactly in value().
    if (this.text.length > this.maxBytes * 2) this.text = this.text.slice(-this.maxBytes);
  }

  /** The tail, at most `maxBytes` bytes of UTF-8 (a multi-byte character cut at the start is dropped). */
  value(): string {
    const buf = Buffer.from(this.text, 'utf8');
    if (buf.length <= this.maxBytes) return this.text;
    let start = buf.length - this.maxBytes;
    while (start < buf.length && (buf[start] & 0xc0) === 0x80) start++;
    return buf.subarray(start).toString('utf8');
  }
}
