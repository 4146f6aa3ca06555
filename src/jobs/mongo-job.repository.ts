import { Collection, Db, MongoServerError } from 'mongodb';
import type { JobError, JobState, TransitionRecord } from '../lifecycle/job.types';
import type { PersistedJobSnapshot } from '../lifecycle/job.runtime';
import { ACTIVE_JOB_STATES, type JobCommit, type JobListQuery, type JobPage, type JobRecord } from './job.record';
import { InvalidCursorError, JobRepository } from './job.repository';
import { decodeKeys, encodeKeys } from './snapshot-codec';

/** The stored shape of a job (collection `jobs`). Keys of `snapshot` are escaped, see snapshot-codec. */
export interface JobDocument {
  _id: string;
  tenantId: string;
  idempotencyKey: string;
  repositoryId: string;
  state: JobState;
  version: number;
  machineVersion: string;
  snapshot: Record<string, unknown>;
  history: TransitionRecord[];
  error: JobError | null;
  createdAt: Date;
  updatedAt: Date;
  /** Set by admission under a tenant limit while QUEUED; see JobRecord.admittedAt. */
  admittedAt?: Date;
}

export function toPersistence(job: JobRecord): JobDocument {
  return {
    _id: job.id,
    tenantId: job.tenantId,
    idempotencyKey: job.idempotencyKey,
    repositoryId: job.repositoryId,
    state: job.state,
    version: job.version,
    machineVersion: job.machineVersion,
    snapshot: encodeKeys(job.snapshot) as Record<string, unknown>,
    history: job.history,
    error: job.error,
    createdAt: job.createdAt,
    updatedAt: job.updatedAt,
    ...(job.admittedAt ? { admittedAt: job.admittedAt } : {}),
  };
}

export function toDomain(doc: JobDocument): JobRecord {
  return {
    id: doc._id,
    tenantId: doc.tenantId,
    idempotencyKey: doc.idempotencyKey,
    repositoryId: doc.repositoryId,
    state: doc.state,
    version: doc.version,
    machineVersion: doc.machineVersion,
    snapshot: decodeKeys<PersistedJobSnapshot>(doc.snapshot),
    history: doc.history ?? [],
    error: doc.error ?? null,
    createdAt: doc.createdAt,
    updatedAt: doc.updatedAt,
    ...(doc.admittedAt ? { admittedAt: doc.admittedAt } : {}),
  };
}

interface Cursor {
  u: string;
  i: string;
}

function encodeCursor(job: JobRecord): string {
  return Buffer.from(JSON.stringify({ u: job.updatedAt.toISOString(), i: job.id } satisfies Cursor)).toString('base64url');
}

function decodeCursor(cursor: string): Cursor {
  try {
    const c = JSON.parse(Buffer.from(cursor, 'base64url').toString('utf8')) as Cursor;
    if (typeof c.u !== 'string' || typeof c.i !== 'string' || Number.isNaN(Date.parse(c.u))) throw new Error();
    return c;
  } catch {
    throw new InvalidCursorError();
  }
}

/**
 * {@link JobRepository} on the official `mongodb` driver. Uses only what MongoDB and FerretDB v1
 * share: single-document `findOneAndUpdate` for the CAS, plain and unique compound indexes, no
 * transactions, change streams, TTL or partial indexes.
 */
export class MongoJobRepository extends JobRepository {
  private readonly jobs: Collection<JobDocument>;

  constructor(private readonly db: Db) {
    super();
    this.jobs = db.collection<JobDocument>('jobs');
  }

  /** Creates the indexes (idempotent): listing by (tenantId, state, updatedAt) and unique submission key. */
  async ensureIndexes(): Promise<void> {
    await this.jobs.createIndex({ tenantId: 1, state: 1, updatedAt: -1 }, { name: 'tenant_state_updated' });
    await this.jobs.createIndex({ tenantId: 1, updatedAt: -1 }, { name: 'tenant_updated' });
    await this.jobs.createIndex({ tenantId: 1, idempotencyKey: 1 }, { name: 'tenant_idempotency', unique: true });
    await this.jobs.createIndex({ state: 1, updatedAt: 1 }, { name: 'state_updated' });
  }

  async create(job: JobRecord): Promise<{ job: JobRecord; created: boolean }> {
    try {
      await this.jobs.insertOne(toPersistence(job));
      return { job, created: true };
    } catch (e) {
      if (e instanceof MongoServerError && e.code === 11000) {
        const existing = await this.jobs.findOne({ tenantId: job.tenantId, idempotencyKey: job.idempotencyKey });
        if (existing) return { job: toDomain(existing), created: false };
      }
      throw e;
    }
  }

  async findById(id: string): Promise<JobRecord | null> {
    const doc = await this.jobs.findOne({ _id: id });
    return doc ? toDomain(doc) : null;
  }

  async findForTenant(tenantId: string, id: string): Promise<JobRecord | null> {
    const doc = await this.jobs.findOne({ _id: id, tenantId });
    return doc ? toDomain(doc) : null;
  }

  async list(tenantId: string, query: JobListQuery): Promise<JobPage> {
    const filter: Record<string, unknown> = { tenantId };
    if (query.state) filter.state = query.state;
    if (query.cursor) {
      const c = decodeCursor(query.cursor);
      const u = new Date(c.u);
      filter.$or = [{ updatedAt: { $lt: u } }, { updatedAt: u, _id: { $lt: c.i } }];
    }
    const docs = await this.jobs
      .find(filter)
      .sort({ updatedAt: -1, _id: -1 })
      .limit(query.limit + 1)
      .toArray();
    const items = docs.slice(0, query.limit).map(toDomain);
    const nextCursor = docs.length > query.limit ? encodeCursor(items[items.length - 1]) : null;
    return { items, nextCursor };
  }

  async commit(id: string, expectedVersion: number, change: JobCommit): Promise<JobRecord | null> {
    const doc = await this.jobs.findOneAndUpdate(
      { _id: id, version: expectedVersion },
      {
        $set: {
          state: change.state,
          snapshot: encodeKeys(change.snapshot) as Record<string, unknown>,
          machineVersion: change.machineVersion,
          error: change.error,
          updatedAt: new Date(),
        },
        $inc: { version: 1 },
        $push: { history: { $each: change.transitions } },
      },
      { returnDocument: 'after' },
    );
    return doc ? toDomain(doc) : null;
  }

  async findStale(states: JobState[], before: Date, limit: number): Promise<JobRecord[]> {
    const docs = await this.jobs
      .find({ state: { $in: states }, updatedAt: { $lt: before } })
      .sort({ updatedAt: 1 })
      .limit(limit)
      .toArray();
    return docs.map(toDomain);
  }

  async countActive(tenantId: string): Promise<number> {
    return this.jobs.countDocuments({
      tenantId,
      $or: [{ state: { $in: [...ACTIVE_JOB_STATES] } }, { state: 'QUEUED', admittedAt: { $type: 'date' } }],
    });
  }

  async markAdmitted(id: string): Promise<void> {
    await this.jobs.updateOne({ _id: id, state: 'QUEUED' }, { $set: { admittedAt: new Date() } });
  }

  async ping(): Promise<void> {
    await this.db.command({ ping: 1 });
  }
}
