import { backfillMissing } from '../runtime/backfill';
import { newestFirst } from '../runtime/newest-first';
import { Collection, Db, MongoServerError, type Filter } from 'mongodb';
import type { Usage } from '../tools/tool.port';

/** How the router chose a step's tool (seed 002 task router). */
export interface RouterChoice {
  capability: string;
  strategy: 'fixed' | 'round_robin' | 'auto';
  tool: string;
  reason: string;
}

/** One attempt of one step visit (seed 002 `step_attempts`). */
export interface StepAttempt {
  /** `<runId>:<step>:<visit>:<attempt>`. */
  id: string;
  runId: string;
  tenantId: string;
  template: string;
  /** The step id in the run (`dev~1` for a spawned step). */
  step: string;
  /** The template step whose definition ran. */
  templateStep: string;
  visit: number;
  /** 1-based within the visit. */
  attempt: number;
  tool: string;
  router: RouterChoice | null;
  /**
   * `succeeded`: its result is the one the run took; `discarded`: it succeeded but the run no
   * longer waited for it (a duplicate or late execution); `aborted`: canceled, or its worker died
   * (`WORKER_LOST`).
   */
  status: 'running' | 'succeeded' | 'discarded' | 'failed' | 'aborted';
  host: string;
  workerPid: number;
  /** The tool's child process (its group leader), when it started one. */
  pid: number | null;
  pgid: number | null;
  marker: string | null;
  startedAt: Date;
  heartbeatAt: Date;
  endedAt: Date | null;
  durationMs: number | null;
  exitCode: number | null;
  usage: Usage | null;
  error: { code: string; message: string } | null;
  stdoutTail: string;
  stderrTail: string;
  /** Artifact ids this attempt produced. */
  produced: string[];
}

/**
 * The stored shape. `sweepAt`: `heartbeatAt` while the attempt runs, null once it ended (absent on
 * older documents), so the sweeper's index holds only running attempts (see JobDocument.sweepAt).
 */
type Doc = Omit<StepAttempt, 'id'> & { _id: string; sweepAt?: Date | null };

/** Step attempts on MongoDB (`step_attempts`), one document per attempt, single-document writes. */
export class StepAttemptRepository {
  private readonly attempts: Collection<Doc>;

  constructor(db: Db) {
    this.attempts = db.collection<Doc>('step_attempts');
  }

  async ensureIndexes(): Promise<void> {
    await this.attempts.createIndex({ runId: 1, startedAt: 1 }, { name: 'run_started' });
    await this.attempts.createIndex({ runId: 1, step: 1, visit: 1, attempt: 1 }, { name: 'run_step_visit' });
    await this.attempts.createIndex({ status: 1, heartbeatAt: 1 }, { name: 'status_heartbeat' });
    await this.attempts.createIndex({ tool: 1, status: 1, endedAt: -1 }, { name: 'tool_ended' });
    await this.attempts.createIndex({ sweepAt: 1 }, { name: 'sweep_at' });
    // Running attempts written before sweepAt existed (a heartbeat or an end, which write it, win).
    await backfillMissing(this.attempts, 'sweepAt', { status: 'running' } as Filter<Doc>, ['status', 'heartbeatAt'], [], (d) => ({ sweepAt: d.heartbeatAt }));
  }

  /**
   * Records a new attempt of (run, step, visit) with the next free attempt number: one more than
   * the attempts recorded, taken with a unique `_id` insert (two executions racing for a number:
   * one gets the next). @returns the number and the id (`<runId>:<step>:<visit>:<attempt>`).
   * @param options.expectFirst the caller expects no earlier attempt (a first delivery): number 1
   *   is tried without counting, and the count is taken only if it is already used.
   */
  async begin(
    a: Omit<StepAttempt, 'id' | 'attempt' | 'status' | 'endedAt' | 'durationMs' | 'exitCode' | 'usage' | 'error' | 'stdoutTail' | 'stderrTail' | 'produced' | 'heartbeatAt' | 'pid' | 'pgid' | 'marker'>,
    options: { expectFirst?: boolean } = {},
  ): Promise<{ attempt: number; attemptId: string }> {
    const count = async () => this.attempts.countDocuments({ runId: a.runId, step: a.step, visit: a.visit } as Filter<Doc>);
    let attempt = options.expectFirst ? 1 : (await count()) + 1;
    for (let tries = 0; ; tries++, attempt++) {
      const attemptId = `${a.runId}:${a.step}:${a.visit}:${attempt}`;
      const doc: Doc = { ...a, _id: attemptId, attempt, status: 'running', heartbeatAt: a.startedAt, sweepAt: a.startedAt, endedAt: null, durationMs: null, exitCode: null, usage: null, error: null, stdoutTail: '', stderrTail: '', produced: [], pid: null, pgid: null, marker: null };
      try {
        await this.attempts.insertOne(doc);
        return { attempt, attemptId };
      } catch (e) {
        if (!(e instanceof MongoServerError && e.code === 11000) || tries >= 20) throw e;
        if (tries === 0 && options.expectFirst) attempt = Math.max(attempt, await count()); // then the next free one
      }
    }
  }

  /** Every attempt of one step visit, in attempt order. */
  async listForVisit(runId: string, step: string, visit: number): Promise<StepAttempt[]> {
    return (await this.attempts.find({ runId, step, visit } as Filter<Doc>).sort({ attempt: 1 }).toArray()).map(toAttempt);
  }

  async processStarted(id: string, p: { pid: number; pgid: number; marker: string }): Promise<void> {
    await this.attempts.updateOne({ _id: id }, { $set: p });
  }

  async heartbeat(id: string): Promise<void> {
    const at = new Date();
    await this.attempts.updateOne({ _id: id, status: 'running' }, { $set: { heartbeatAt: at, sweepAt: at } });
  }

  /**
   * Records the attempt's end in one update (with the tool that ran and the router's choice, when
   * given). `startedAt`: the attempt's start as its caller knows it; read from the record when absent.
   */
  async finish(id: string, end: Pick<StepAttempt, 'status' | 'exitCode' | 'usage' | 'error' | 'stdoutTail' | 'stderrTail' | 'produced'> & Partial<Pick<StepAttempt, 'tool' | 'router'>>, startedAt?: Date): Promise<void> {
    const started = startedAt ?? (await this.attempts.findOne({ _id: id }, { projection: { startedAt: 1 } }))?.startedAt;
    const endedAt = new Date();
    await this.attempts.updateOne({ _id: id }, { $set: { ...end, endedAt, sweepAt: null, durationMs: started ? endedAt.getTime() - started.getTime() : null } });
  }

  async listForRun(runId: string): Promise<StepAttempt[]> {
    return (await this.attempts.find({ runId }).sort({ startedAt: 1, _id: 1 }).toArray()).map(toAttempt);
  }

  /** A live attempt (heartbeat newer than `since`) of (run, step, visit), if any. */
  async findLive(runId: string, step: string, visit: number, since: Date): Promise<StepAttempt | null> {
    const doc = await this.attempts.findOne({ runId, step, visit, status: 'running', heartbeatAt: { $gte: since } } as Filter<Doc>);
    return doc ? toAttempt(doc) : null;
  }

  /** Running attempts whose heartbeat is older than `before` (their worker died). */
  async findDead(before: Date, limit: number): Promise<StepAttempt[]> {
    return (await this.attempts.find({ sweepAt: { $lt: before }, status: 'running' } as Filter<Doc>).sort({ sweepAt: 1 }).limit(limit).toArray()).map(toAttempt);
  }

  /**
   * Attempts marked lost (`aborted`, WORKER_LOST) whose last heartbeat is newer than `since`: the
   * sweeper looks again at these, since a worker whose heartbeat went stale may still have had its
   * result taken by the run (and died before it recorded that).
   */
  async findRecentlyLost(since: Date, limit: number): Promise<StepAttempt[]> {
    return (await this.attempts.find({ status: 'aborted', heartbeatAt: { $gte: since }, 'error.code': 'WORKER_LOST' } as Filter<Doc>).limit(limit).toArray()).map(toAttempt);
  }

  /** Records that the run took this attempt's result after all: `succeeded`, with what it produced (the sweeper's repair). */
  async markTaken(id: string, produced: string[]): Promise<void> {
    await this.attempts.updateOne({ _id: id, status: { $in: ['running', 'aborted'] } } as Filter<Doc>, { $set: { status: 'succeeded', error: null, produced, endedAt: new Date(), sweepAt: null } });
  }

  async markLost(id: string): Promise<boolean> {
    const r = await this.attempts.updateOne({ _id: id, status: 'running' }, { $set: { status: 'aborted', endedAt: new Date(), sweepAt: null, error: { code: 'WORKER_LOST', message: 'heartbeat too old: the worker died' } } });
    return r.modifiedCount === 1;
  }

  /**
   * Median duration (ms) of each tool's last `perTool` successful step attempts (the router's
   * `auto`), read newest first in widening `endedAt` windows (see newestFirst: a plain sort+limit
   * reads the tool's whole history on DocumentDB, as the ETA's did).
   */
  async medianByTool(tools: string[], perTool = 20): Promise<Record<string, number>> {
    const out: Record<string, number> = {};
    for (const tool of tools) {
      const docs = await newestFirst(this.attempts, `tool:${tool}`, { tool, status: 'succeeded' } as Filter<Doc>, perTool, { field: 'endedAt', projection: { durationMs: 1 } });
      const m = median(docs.map((d) => d.durationMs));
      if (m !== undefined) out[tool] = m;
    }
    return out;
  }
}

/** The lower median of the numbers in `values` (others ignored), or undefined when there are none. */
function median(values: (number | null | undefined)[]): number | undefined {
  const ds = values.filter((d): d is number => typeof d === 'number').sort((a, b) => a - b);
  return ds.length ? ds[Math.floor((ds.length - 1) / 2)] : undefined;
}

function toAttempt({ _id, sweepAt: _s, ...rest }: Doc): StepAttempt {
  return { id: _id, ...rest };
}
