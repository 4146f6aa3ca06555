import type { Redactor } from '../common/secrets';
import type { Stage } from '../lifecycle/job.types';
import { chunkId, linesOf, type JobLogChunk, type JobLogLine, type JobLogRepository } from './job-log.repository';

/** Longest line kept, in UTF-16 code units; longer ones are cut with a marker. */
export const MAX_LINE_LENGTH = 16 * 1024;

/** Where written lines are announced for live tails (Redis pub/sub); never throws. */
export interface LogPublisher {
  /** Announces stored lines of a job of `tenantId` (fire and forget: must not throw). */
  publish(jobId: string, lines: JobLogLine[], tenantId: string): void;
}

/** Options of an {@link AttemptLogWriter}. */
export interface AttemptLogWriterOptions {
  /** Bytes of text kept for the attempt (LOG_MAX_BYTES); past it the oldest chunks are dropped. */
  maxBytes: number;
  /** Lines wait at most this long before they are written, ms. */
  flushMs: number;
  redactor: Redactor;
}

/**
 * The log of one stage attempt: lines are redacted, batched into chunks (one write per
 * `flushMs`, or per 200 lines / 64 KiB), stored and published. Past `maxBytes` the oldest chunks
 * are deleted and one marker chunk says how many lines and bytes were dropped. Writes happen one
 * at a time, in order; a failed write is retried once with the next flush and otherwise dropped
 * (a log must never fail the stage).
 */
export class AttemptLogWriter {
  private buffer: JobLogChunk['lines'] = [];
  private bufferBytes = 0;
  private seq = 0;
  private stored: { id: string; seq: number; bytes: number; at: Date; lines: number }[] = [];
  private storedBytes = 0;
  private dropped = { lines: 0, bytes: 0, seq: -1, at: new Date(0) };
  private timer?: NodeJS.Timeout;
  private chain: Promise<void> = Promise.resolve();

  constructor(
    private readonly repo: JobLogRepository,
    private readonly publisher: LogPublisher | null,
    readonly meta: { jobId: string; tenantId: string; attemptId: string; stage: Stage; attempt: number },
    private readonly options: AttemptLogWriterOptions,
  ) {}

  /** Adds a line (redacted here). */
  write(line: { at?: number | Date; stream: 'stdout' | 'stderr' | 'system'; text: string }): void {
    let text = this.options.redactor.redact(line.text);
    if (text.length > MAX_LINE_LENGTH) text = `${text.slice(0, MAX_LINE_LENGTH)} […line cut at ${MAX_LINE_LENGTH} characters]`;
    const at = line.at instanceof Date ? line.at : new Date(line.at ?? Date.now());
    this.buffer.push({ at, stream: line.stream, text });
    this.bufferBytes += Buffer.byteLength(text);
    if (this.buffer.length >= 200 || this.bufferBytes >= 64 * 1024) void this.flush();
    else this.timer ??= setTimeout(() => void this.flush(), this.options.flushMs).unref();
  }

  /** Writes what is buffered; resolves when every write so far is done. */
  flush(): Promise<void> {
    clearTimeout(this.timer);
    this.timer = undefined;
    if (this.buffer.length) {
      const lines = this.buffer;
      this.buffer = [];
      const bytes = this.bufferBytes;
      this.bufferBytes = 0;
      const chunk: JobLogChunk = { ...this.meta, id: chunkId(this.meta.attemptId, this.seq), seq: this.seq++, at: lines[0].at, lines, bytes };
      this.chain = this.chain.then(() => this.store(chunk)).catch(() => undefined);
    }
    return this.chain;
  }

  private async store(chunk: JobLogChunk): Promise<void> {
    await this.repo.put(chunk).catch(() => this.repo.put(chunk));
    this.publisher?.publish(chunk.jobId, linesOf([chunk]), chunk.tenantId);
    this.stored.push({ id: chunk.id, seq: chunk.seq, bytes: chunk.bytes, at: chunk.at, lines: chunk.lines.length });
    this.storedBytes += chunk.bytes;
    if (this.storedBytes <= this.options.maxBytes) return;
    const gone: string[] = [];
    while (this.storedBytes > this.options.maxBytes && this.stored.length > 1) {
      const oldest = this.stored.shift()!;
      this.storedBytes -= oldest.bytes;
      gone.push(oldest.id);
      this.dropped = { lines: this.dropped.lines + oldest.lines, bytes: this.dropped.bytes + oldest.bytes, seq: oldest.seq, at: oldest.at };
    }
    await this.repo.delete(gone);
    const d = this.dropped;
    await this.repo.put({
      ...this.meta,
      id: `${this.meta.attemptId}:dropped`,
      seq: d.seq,
      at: d.at,
      lines: [{ at: d.at, stream: 'system', text: `[… ${d.lines} earlier line(s), ${d.bytes} bytes, dropped: over LOG_MAX_BYTES (${this.options.maxBytes}) …]` }],
      bytes: 0,
      dropped: { lines: d.lines, bytes: d.bytes },
    });
  }
}
