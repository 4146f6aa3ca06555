import type { Stage } from '../lifecycle/job.types';

/** One stored output line of a stage attempt (secrets already redacted). */
export interface JobLogLine {
  /** Opaque, ordered id of the line (use it as `after` / SSE `Last-Event-ID`). */
  id: string;
  /** ISO-8601 time the line was written. */
  at: string;
  stage: Stage;
  attempt: number;
  stream: 'stdout' | 'stderr' | 'system';
  text: string;
}

/**
 * A batch of lines of one attempt as stored (collection `job_logs`, one document per chunk).
 * `dropped` marks the chunk standing for lines removed by the LOG_MAX_BYTES cap.
 */
export interface JobLogChunk {
  /** `<attemptId>:<seq padded>`; the drop marker is `<attemptId>:dropped`. */
  id: string;
  jobId: string;
  tenantId: string;
  attemptId: string;
  stage: Stage;
  attempt: number;
  /** Order of the chunk within its attempt (0-based); the drop marker takes the last dropped seq. */
  seq: number;
  /** Time of the chunk's first line. */
  at: Date;
  lines: { at: Date; stream: 'stdout' | 'stderr' | 'system'; text: string }[];
  /** UTF-8 bytes of the lines' text. */
  bytes: number;
  dropped?: { lines: number; bytes: number };
}

/** Filter and page of a job's logs. */
export interface JobLogQuery {
  stage?: Stage;
  attempt?: number;
  /** Lines after this line id (exclusive). */
  after?: string;
  /** At most this many lines (1..5000). */
  limit: number;
}

/** Persistence port for job logs (abstract class used as DI token). */
export abstract class JobLogRepository {
  /** Inserts (or replaces, for the drop marker) one chunk. */
  abstract put(chunk: JobLogChunk): Promise<void>;
  /** Deletes chunks by id (oldest ones dropped by the cap). */
  abstract delete(ids: string[]): Promise<void>;
  /** Chunks of a job in line order (time, then attempt and sequence), filtered. */
  abstract chunks(jobId: string, query: Pick<JobLogQuery, 'stage' | 'attempt'> & { fromAt?: Date }, limit: number): Promise<JobLogChunk[]>;
}

/** Zero-padded chunk sequence, so ids sort in chunk order. */
export function chunkId(attemptId: string, seq: number): string {
  return `${attemptId}:${String(seq).padStart(8, '0')}`;
}

/**
 * Line ids: `<chunk time, ms, 13 digits>.<chunk id>/<index in chunk, 5 digits>`. They sort as
 * strings in line order (chunk time, chunk id, index — the order chunks are read in), so `after`
 * and `Last-Event-ID` compare with `>`.
 */
export function lineId(chunk: Pick<JobLogChunk, 'id' | 'at'>, index: number): string {
  return `${String(chunk.at.getTime()).padStart(13, '0')}.${chunk.id}/${String(index).padStart(5, '0')}`;
}

/** The chunk time (ms) a line id starts with; null when `id` is not a line id. */
export function lineIdTime(id: string): number | null {
  const m = /^(\d{13})\.[^/]+\/\d{5}$/.exec(id);
  return m ? Number(m[1]) : null;
}

/** Turns chunks into lines, in order. */
export function linesOf(chunks: JobLogChunk[]): JobLogLine[] {
  const out: JobLogLine[] = [];
  for (const c of chunks) {
    c.lines.forEach((l, i) => out.push({ id: lineId(c, i), at: l.at.toISOString(), stage: c.stage, attempt: c.attempt, stream: l.stream, text: l.text }));
  }
  return out;
}
