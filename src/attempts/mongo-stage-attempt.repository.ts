import { backfillMissing } from '../runtime/backfill';
import { Collection, Db, MongoServerError } from 'mongodb';
import type { Stage, StageUsage } from '../lifecycle/job.types';
import type { AttemptEnd, AttemptProcess, StageAttemptRecord } from './stage-attempt.record';
import { StageAttemptRepository } from './stage-attempt.repository';

/** The stored shape (collection `stage_attempts`). */
interface AttemptDocument extends Omit<StageAttemptRecord, 'id'> {
  _id: string;
  /**
   * `heartbeatAt` while the attempt is running, null once it ended (absent on older documents):
   * the sweeper's index holds only running attempts (DocumentDB walks a compound index's
   * `heartbeatAt` range over every ended attempt; see JobDocument.sweepAt).
   */
  sweepAt?: Date | null;
}

function toRecord(doc: AttemptDocument): StageAttemptRecord {
  const { _id, sweepAt: _s, ...rest } = doc;
  return { id: _id, ...rest, processes: rest.processes ?? [] };
}

/**
 * {@link StageAttemptRepository} on the `mongodb` driver: single-document inserts and updates,
 * plain indexes; works on MongoDB and FerretDB.
 */
export class MongoStageAttemptRepository extends StageAttemptRepository {
  private readonly attempts: Collection<AttemptDocument>;

  constructor(db: Db) {
    super();
    this.attempts = db.collection<AttemptDocument>('stage_attempts');
  }

  /** Creates the indexes (idempotent): by job, and running attempts by heartbeat (the sweeper's scan). */
  async ensureIndexes(): Promise<void> {
    await this.attempts.createIndex({ jobId: 1, startedAt: 1 }, { name: 'job_started' });
    await this.attempts.createIndex({ status: 1, heartbeatAt: 1 }, { name: 'status_heartbeat' });
    await this.attempts.createIndex({ sweepAt: 1 }, { name: 'sweep_at' });
    // Running attempts written before sweepAt existed (a heartbeat or an end, which write it, win).
    await backfillMissing(this.attempts, 'sweepAt', { status: 'running' }, ['status', 'heartbeatAt'], [], (d) => ({ sweepAt: d.heartbeatAt }));
  }

  async insert(record: StageAttemptRecord): Promise<void> {
    const { id, ...rest } = record;
    try {
      await this.attempts.insertOne({ _id: id, ...rest, sweepAt: rest.status === 'running' ? rest.heartbeatAt : null });
    } catch (e) {
      if (!(e instanceof MongoServerError && e.code === 11000)) throw e;
    }
  }

  async heartbeat(id: string, at: Date, processes: AttemptProcess[]): Promise<boolean> {
    const r = await this.attempts.updateOne({ _id: id, status: 'running' }, { $set: { heartbeatAt: at, sweepAt: at, processes } });
    return r.matchedCount === 1;
  }

  async finish(id: string, end: AttemptEnd & { endedAt: Date; durationMs: number; processes: AttemptProcess[] }): Promise<void> {
    await this.attempts.updateOne(
      { _id: id },
      {
        $set: {
          status: end.status,
          usage: end.usage,
          error: end.error,
          endedAt: end.endedAt,
          durationMs: end.durationMs,
          processes: end.processes,
          heartbeatAt: end.endedAt,
          sweepAt: null,
        },
      },
    );
  }

  async findStale(before: Date, limit: number): Promise<StageAttemptRecord[]> {
    const docs = await this.attempts.find({ sweepAt: { $lt: before }, status: 'running' }).sort({ sweepAt: 1 }).limit(limit).toArray();
    return docs.map(toRecord);
  }

  async markDead(id: string, heartbeatAt: Date, at: Date): Promise<boolean> {
    const r = await this.attempts.updateOne(
      { _id: id, status: 'running', heartbeatAt },
      { $set: { status: 'dead', endedAt: at, sweepAt: null, error: { code: 'HEARTBEAT_LOST', message: `no heartbeat since ${heartbeatAt.toISOString()}` } } },
    );
    return r.matchedCount === 1;
  }

  async listForJob(jobId: string): Promise<StageAttemptRecord[]> {
    const docs = await this.attempts.find({ jobId }).sort({ startedAt: 1 }).toArray();
    return docs.map(toRecord);
  }

  async unreaped(jobId: string): Promise<StageAttemptRecord[]> {
    const docs = await this.attempts.find({ jobId, status: { $in: ['running', 'dead'] } }).sort({ startedAt: 1 }).toArray();
    return docs.filter((d) => !d.reaped && (d.processes ?? []).length > 0).map(toRecord);
  }

  async markReaped(id: string, report: { at: Date; host: string; found: number; killed: number; remaining: number }): Promise<void> {
    await this.attempts.updateOne({ _id: id }, { $set: { reaped: report } });
  }

  async failedUsage(jobId: string, stage: Stage, version: number): Promise<StageUsage | null> {
    const docs = await this.attempts.find({ jobId, stage, version, status: 'failed' }, { projection: { usage: 1 } }).toArray();
    const used = docs.map((d) => d.usage).filter((u): u is StageUsage => !!u);
    if (!used.length) return null;
    return used.reduce(
      (a, u) => ({
        inputTokens: a.inputTokens + u.inputTokens,
        outputTokens: a.outputTokens + u.outputTokens,
        ...(a.costUsd !== undefined || u.costUsd !== undefined ? { costUsd: (a.costUsd ?? 0) + (u.costUsd ?? 0) } : {}),
      }),
      { inputTokens: 0, outputTokens: 0 } as StageUsage,
    );
  }

  async findLive(jobId: string, version: number, freshAfter: Date, exceptId?: string): Promise<StageAttemptRecord | null> {
    const docs = await this.attempts.find({ jobId, version, status: 'running' }).toArray();
    const live = docs.find((d) => d._id !== exceptId && d.heartbeatAt > freshAfter);
    return live ? toRecord(live) : null;
  }
}
