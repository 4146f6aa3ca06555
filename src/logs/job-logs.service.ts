import { Injectable } from '@nestjs/common';
import { JobNotFoundError } from '../jobs/job.errors';
import { JobRepository } from '../jobs/job.repository';
import type { SseStream } from '../common/sse';
import { JobLogRepository, lineIdTime, linesOf, type JobLogLine, type JobLogQuery } from './job-log.repository';
import { LogBus } from './log-bus';

/** A page of log lines. */
export interface JobLogPage {
  lines: JobLogLine[];
  /** Pass as `after` for the next page; null when this page reached the end (so far). */
  nextCursor: string | null;
}

/** A line cursor that is not a line id. `code` = INVALID_CURSOR. */
export class InvalidLogCursorError extends Error {
  readonly code = 'INVALID_CURSOR';
  constructor() {
    super('after must be a log line id returned by this API');
  }
}

/** Chunks read per round while paging (each holds up to 200 lines). */
const CHUNKS_PER_READ = 50;

/**
 * Reads a job's logs (its tenant's only) and tails them live. Lines come from the stage
 * attempts' writers (see AttemptLogWriter), already redacted.
 */
@Injectable()
export class JobLogsService {
  constructor(
    private readonly jobs: JobRepository,
    private readonly logs: JobLogRepository,
    private readonly bus: LogBus,
  ) {}

  /** @throws JobNotFoundError for another tenant's or an unknown job. */
  async assertVisible(tenantId: string, jobId: string): Promise<void> {
    if (!(await this.jobs.findForTenant(tenantId, jobId))) throw new JobNotFoundError(jobId);
  }

  /**
   * Lines after `query.after`, in order, at most `query.limit`.
   * @throws JobNotFoundError, InvalidLogCursorError.
   */
  async page(tenantId: string, jobId: string, query: JobLogQuery): Promise<JobLogPage> {
    await this.assertVisible(tenantId, jobId);
    return this.read(jobId, query);
  }

  private async read(jobId: string, query: JobLogQuery): Promise<JobLogPage> {
    let fromAt: Date | undefined;
    if (query.after !== undefined) {
      const t = lineIdTime(query.after);
      if (t === null) throw new InvalidLogCursorError();
      fromAt = new Date(t);
    }
    const out: JobLogLine[] = [];
    let skip = 0;
    for (;;) {
      const chunks = await this.logs.chunks(jobId, { stage: query.stage, attempt: query.attempt, ...(fromAt ? { fromAt } : {}) }, skip + CHUNKS_PER_READ);
      const fresh = chunks.slice(skip);
      for (const line of linesOf(fresh)) {
        if (query.after !== undefined && line.id <= query.after) continue;
        out.push(line);
        if (out.length >= query.limit) return { lines: out, nextCursor: line.id };
      }
      if (chunks.length < skip + CHUNKS_PER_READ) break;
      skip = chunks.length;
    }
    return { lines: out, nextCursor: null };
  }

  /**
   * Streams the job's lines to `stream`: those after `after` (a reconnect's Last-Event-ID) from
   * MongoDB, then live ones from the bus, each once and in order (live lines that arrive while
   * the backlog is read wait, and any the backlog already sent are skipped).
   * @throws JobNotFoundError, InvalidLogCursorError.
   */
  async tail(tenantId: string, jobId: string, stream: SseStream, filter: Pick<JobLogQuery, 'stage' | 'attempt' | 'after'>): Promise<void> {
    await this.assertVisible(tenantId, jobId);
    let last = filter.after ?? '';
    let pending: JobLogLine[] | null = [];
    const matches = (l: JobLogLine) => (!filter.stage || l.stage === filter.stage) && (filter.attempt === undefined || l.attempt === filter.attempt);
    const emit = (lines: JobLogLine[]) => {
      for (const line of lines) {
        if (line.id <= last || !matches(line)) continue;
        if (!stream.send({ id: line.id, event: 'log', data: line })) return;
        last = line.id;
      }
    };
    const unsubscribe = await this.bus.subscribe(jobId, (lines) => (pending ? pending.push(...lines) : emit(lines)));
    stream.onClose(unsubscribe);
    for (;;) {
      const page = await this.read(jobId, { ...filter, after: last || undefined, limit: 1000 });
      emit(page.lines);
      if (!page.nextCursor || stream.isClosed) break;
    }
    const queued = pending;
    pending = null;
    emit(queued.sort((a, b) => (a.id < b.id ? -1 : 1)));
  }
}
