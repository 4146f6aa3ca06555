import { randomBytes } from 'node:crypto';
import { hostname } from 'node:os';
import type { Redactor } from '../common/secrets';
import type { StageUsage } from '../lifecycle/job.types';
import { AttemptLogWriter, type LogPublisher } from '../logs/attempt-log-writer';
import type { JobLogRepository } from '../logs/job-log.repository';
import type { ProcessInfo, ToolLine } from '../tools/tool.port';
import type { AttemptEnd, AttemptProcess, AttemptStart, StageAttemptRecord } from './stage-attempt.record';

export type { AttemptStart };
import type { StageAttemptRepository } from './stage-attempt.repository';

/**
 * The tools of calls to the in-process MockAgent: its agent stages (`mock`) and its simulated pull
 * requests (`pr:mock`, PR_GATEWAY=mock). A success of theirs before the first heartbeat is not
 * recorded (see {@link AttemptHandle}).
 */
export const MOCK_AGENT_TOOLS: ReadonlySet<string> = new Set(['mock', 'pr:mock']);

/** Options of the {@link AttemptTracker}. */
export interface AttemptTrackerOptions {
  /** How often a running attempt writes its heartbeat, ms (HEARTBEAT_MS). */
  heartbeatMs: number;
  /** LOG_MAX_BYTES per attempt. */
  logMaxBytes: number;
  /** This worker process's id (its registry entry). */
  workerId: string;
  redactor: Redactor;
}

/**
 * Records one running stage attempt: its processes, heartbeat, log and end. Created by
 * {@link AttemptTracker.begin}. The record is written lazily — on the first process start, the
 * first heartbeat tick (HEARTBEAT_MS after the start) or the end. Only a MockAgent attempt (`tool`
 * `mock` or `pr:mock`, {@link MOCK_AGENT_TOOLS}) that succeeded before its first heartbeat is never
 * written: a fast in-process call costs no write; every attempt of a real tool (an agent CLI, the
 * git or GitHub PR gateway) is recorded. `onLost` fires when a heartbeat finds the
 * attempt declared dead by the sweeper: the caller must stop the call (another attempt runs).
 */
export class AttemptHandle {
  readonly id: string;
  readonly record: StageAttemptRecord;
  readonly log: AttemptLogWriter;
  private readonly processes: AttemptProcess[] = [];
  private usage: StageUsage | null = null;
  private inserted = false;
  private ended = false;
  private timer?: NodeJS.Timeout;
  private chain: Promise<unknown> = Promise.resolve();

  constructor(
    private readonly repo: StageAttemptRepository,
    logs: JobLogRepository,
    publisher: LogPublisher | null,
    start: AttemptStart,
    options: AttemptTrackerOptions,
    private readonly onLost: () => void,
  ) {
    this.id = `${start.jobId}:${start.stage}:${start.version}:${start.attempt}:${randomBytes(4).toString('hex')}`;
    const now = new Date();
    this.record = {
      id: this.id,
      ...start,
      status: 'running',
      host: hostname(),
      workerPid: process.pid,
      workerId: options.workerId,
      processes: this.processes,
      startedAt: now,
      heartbeatAt: now,
      endedAt: null,
      durationMs: null,
      usage: null,
      error: null,
    };
    this.log = new AttemptLogWriter(logs, publisher, { jobId: start.jobId, tenantId: start.tenantId, attemptId: this.id, stage: start.stage, attempt: start.attempt }, {
      maxBytes: options.logMaxBytes,
      flushMs: 200,
      redactor: options.redactor,
    });
    this.timer = setInterval(() => this.enqueue(() => this.beat()), options.heartbeatMs);
    this.timer.unref();
  }

  /** Runs writes one at a time, in order; a failed write is logged as a system line, never thrown. */
  private enqueue(write: () => Promise<unknown>): Promise<unknown> {
    this.chain = this.chain.then(write).catch((e: unknown) => {
      this.log.write({ stream: 'system', text: `attempt record not written: ${e instanceof Error ? e.message : String(e)}` });
    });
    return this.chain;
  }

  private async ensureInserted(): Promise<void> {
    if (this.inserted) return;
    this.inserted = true;
    await this.repo.insert({ ...this.record, processes: [...this.processes], heartbeatAt: new Date() });
  }

  private async beat(): Promise<void> {
    if (this.ended) return;
    if (!this.inserted) return this.ensureInserted();
    const alive = await this.repo.heartbeat(this.id, new Date(), [...this.processes]);
    if (!alive && !this.ended) {
      this.log.write({ stream: 'system', text: 'attempt was declared dead (heartbeat too old); stopping it' });
      this.onLost();
    }
  }

  /** Adds usage the call reported. */
  addUsage(u: StageUsage): void {
    const a = this.usage ?? { inputTokens: 0, outputTokens: 0 };
    const cost = a.costUsd !== undefined || u.costUsd !== undefined ? { costUsd: (a.costUsd ?? 0) + (u.costUsd ?? 0) } : {};
    this.usage = { inputTokens: a.inputTokens + u.inputTokens, outputTokens: a.outputTokens + u.outputTokens, ...cost };
  }

  /** Usage reported so far (null: none). */
  get reportedUsage(): StageUsage | null {
    return this.usage;
  }

  processStarted(info: ProcessInfo): void {
    this.processes.push({ ...info, endedAt: null, exitCode: null, signal: null, durationMs: null });
    this.log.write({ stream: 'system', text: `${info.tool} started: pid ${info.pid} on ${info.host}` });
    // The first write inserts the record with this process in it; later ones update the list.
    void this.enqueue(() => (this.inserted ? this.repo.heartbeat(this.id, new Date(), [...this.processes]) : this.ensureInserted()));
  }

  processEnded(info: ProcessInfo, exit: { exitCode: number | null; signal: string | null; durationMs: number }): void {
    const p = this.processes.find((x) => x.pid === info.pid && x.marker === info.marker);
    if (p) Object.assign(p, { endedAt: new Date(), exitCode: exit.exitCode, signal: exit.signal, durationMs: exit.durationMs });
    this.log.write({ stream: 'system', text: `${info.tool} pid ${info.pid} ended: ${exit.signal ?? `exit ${exit.exitCode}`} after ${exit.durationMs} ms` });
  }

  line(line: ToolLine): void {
    this.log.write(line);
  }

  /**
   * Records the end (written unless it is a MockAgent success never recorded; a record not yet
   * written is inserted whole, one write), flushes the log.
   */
  async finish(end: AttemptEnd): Promise<void> {
    if (this.ended) return;
    this.ended = true;
    clearInterval(this.timer);
    const endedAt = new Date();
    const durationMs = endedAt.getTime() - this.record.startedAt.getTime();
    Object.assign(this.record, { status: end.status, usage: end.usage, error: end.error, endedAt, durationMs });
    const record =
      end.status !== 'succeeded' || this.inserted || this.processes.length || !MOCK_AGENT_TOOLS.has(this.record.tool)
        ? this.enqueue(async () => {
            if (this.inserted) return this.repo.finish(this.id, { ...end, endedAt, durationMs, processes: [...this.processes] });
            // Never written yet (it ended before its first heartbeat or process): one insert of the
            // whole record instead of an insert and an update.
            this.inserted = true;
            await this.repo.insert({ ...this.record, processes: [...this.processes], heartbeatAt: endedAt });
          })
        : Promise.resolve();
    await Promise.all([record, this.log.flush()]);
  }
}

/** Creates {@link AttemptHandle}s for the stage runner. */
export class AttemptTracker {
  constructor(
    private readonly repo: StageAttemptRepository,
    private readonly logs: JobLogRepository,
    private readonly publisher: LogPublisher | null,
    private readonly options: AttemptTrackerOptions,
  ) {}

  begin(start: AttemptStart, onLost: () => void): AttemptHandle {
    return new AttemptHandle(this.repo, this.logs, this.publisher, start, this.options, onLost);
  }
}
