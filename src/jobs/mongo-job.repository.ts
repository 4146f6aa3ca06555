import { backfillMissing } from '../runtime/backfill';
import { randomUUID } from 'node:crypto';
import { Collection, Db, MongoServerError } from 'mongodb';
import { JOB_STATES, type JobState } from '../lifecycle/job.types';
import type { PersistedJobSnapshot } from '../lifecycle/job.runtime';
import { ACTIVE_JOB_STATES, SWEPT_JOB_STATES, type JobCommit, type JobListFilter, type JobListQuery, type JobPage, type JobRecord } from './job.record';
import { InvalidCursorError, JobRepository, type JobCountQuery } from './job.repository';
import { inFlightFields, type JobDocument } from './job-document';
import { decodeKeys, encodeKeys } from './snapshot-codec';
import { newestFirst } from '../runtime/newest-first';
import { commitVersion, VersionClaims, type CommitDocument, type VersionedSet } from '../runtime/version-claims';

/** The fields a commit sets on a job document. */
export type CommitSet = Pick<JobDocument, 'state' | 'snapshot' | 'machineVersion' | 'error' | 'history' | 'version' | 'updatedAt' | 'sweepAt' | 'inFlightTenantId'> & VersionedSet;

export type { JobDocument } from './job-document';


export function toPersistence(job: JobRecord): JobDocument {
  return {
    _id: job.id,
    tenantId: job.tenantId,
    idempotencyKey: job.idempotencyKey,
    repositoryId: job.repositoryId,
    branch: job.branch ?? null,
    state: job.state,
    version: job.version,
    machineVersion: job.machineVersion,
    snapshot: encodeKeys(job.snapshot) as Record<string, unknown>,
    history: job.history,
    error: job.error,
    createdAt: job.createdAt,
    updatedAt: job.updatedAt,
    ...inFlightFields(job.state, job.tenantId, job.updatedAt),
  };
}

export function toDomain(doc: JobDocument): JobRecord {
  return {
    id: doc._id,
    tenantId: doc.tenantId,
    idempotencyKey: doc.idempotencyKey,
    repositoryId: doc.repositoryId,
    branch: doc.branch ?? null,
    state: doc.state,
    version: doc.version,
    machineVersion: doc.machineVersion,
    snapshot: decodeKeys<PersistedJobSnapshot>(doc.snapshot),
    history: doc.history ?? [],
    error: doc.error ?? null,
    createdAt: doc.createdAt,
    updatedAt: doc.updatedAt,
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
 * {@link JobRepository} on the official `mongodb` driver. Uses only what MongoDB and both FerretDB
 * lines share: single-document updates, unique-`_id` inserts (the version claims of
 * {@link VersionClaims} on FerretDB v1), plain and unique compound indexes; no sessions,
 * transactions, change streams, TTL or partial indexes.
 */
export class MongoJobRepository extends JobRepository {
  private readonly jobs: Collection<JobDocument>;
  private readonly claims: VersionClaims<JobDocument, CommitSet>;
  /** One-operation compare-and-set (see {@link useAtomicCommits}); version claims until told. */
  private atomic = false;
  private readonly admissions: Collection<{ _id: string; tenantId: string; at: Date }>;

  /**
   * @param options.claimCleanupDelayMs how long an applied claim may wait to be deleted together
   *   with others in one `delete` command, ms (0 = delete each at once). Default 50.
   */
  constructor(
    private readonly db: Db,
    options: { claimCleanupDelayMs?: number } = {},
  ) {
    super();
    this.jobs = db.collection<JobDocument>('jobs');
    this.claims = new VersionClaims(db.collection<CommitDocument<CommitSet>>('job_commits'), this.jobs, options);
    this.admissions = db.collection('job_admissions');
  }

  /** Creates the indexes (idempotent): listing by (tenantId, state, updatedAt) and unique submission key. */
  async ensureIndexes(): Promise<void> {
    await this.jobs.createIndex({ tenantId: 1, state: 1, updatedAt: -1 }, { name: 'tenant_state_updated' });
    await this.jobs.createIndex({ tenantId: 1, updatedAt: -1 }, { name: 'tenant_updated' });
    // Idempotency rests on `_id` (a keyed submission's id derives from tenant and key, newJobId):
    // a unique { tenantId, idempotencyKey } index made every insert on DocumentDB check every entry
    // of the tenant. This one only finds a key's job (also one created before that change).
    await this.jobs.createIndex({ tenantId: 1, idempotencyKey: 1 }, { name: 'tenant_idempotency_key' });
    await this.jobs.dropIndex('tenant_idempotency').catch((e: unknown) => {
      if (!(e instanceof MongoServerError && (e.code === 27 || e.codeName === 'IndexNotFound' || e.code === 26))) throw e; // absent (or no collection yet)
    });
    await this.jobs.createIndex({ state: 1, updatedAt: 1 }, { name: 'state_updated' });
    await this.jobs.createIndex({ sweepAt: 1 }, { name: 'sweep_at' });
    await this.jobs.createIndex({ inFlightTenantId: 1 }, { name: 'in_flight_tenant' });
    await this.backfillInFlightFields();
    await this.jobs.createIndex({ repositoryId: 1, branch: 1 }, { name: 'repository_branch' });
    await this.jobs.createIndex({ tenantId: 1, repositoryId: 1, updatedAt: -1 }, { name: 'tenant_repository_updated' });
    await this.admissions.createIndex({ tenantId: 1 }, { name: 'tenant' });
  }

  /**
   * Gives the in-flight fields to swept jobs written before they existed (one `updateOne` each,
   * filtered on the version read, so a concurrent commit, which writes them itself, wins). Finished
   * jobs need nothing: a missing field reads as null.
   * @returns how many jobs were updated.
   */
  private backfillInFlightFields(): Promise<number> {
    return backfillMissing(this.jobs, 'sweepAt', { state: { $in: [...SWEPT_JOB_STATES] } }, ['version'], ['tenantId', 'state', 'updatedAt'], (d) => inFlightFields(d.state, d.tenantId, d.updatedAt));
  }

  async create(job: JobRecord): Promise<{ job: JobRecord; created: boolean }> {
    // A caller's key (not the job's own id): its job may exist under another id (created before
    // ids derived from keys), so look first; the insert below decides any race (same _id).
    if (job.idempotencyKey !== job.id) {
      const existing = await this.jobs.findOne({ tenantId: job.tenantId, idempotencyKey: job.idempotencyKey });
      if (existing) return { job: toDomain(existing), created: false };
    }
    try {
      await this.jobs.insertOne(toPersistence(job));
      return { job, created: true };
    } catch (e) {
      if (e instanceof MongoServerError && e.code === 11000) {
        const existing = await this.jobs.findOne({ _id: job.id, tenantId: job.tenantId });
        if (existing && existing.idempotencyKey === job.idempotencyKey) return { job: toDomain(existing), created: false };
      }
      throw e;
    }
  }

  async findById(id: string): Promise<JobRecord | null> {
    const doc = await this.jobs.findOne({ _id: id });
    return doc ? toDomain(doc) : null;
  }

  async findByBranch(repositoryId: string, branch: string): Promise<JobRecord | null> {
    const doc = await this.jobs.findOne({ repositoryId, branch });
    return doc ? toDomain(doc) : null;
  }

  async findForTenant(tenantId: string, id: string): Promise<JobRecord | null> {
    const doc = await this.jobs.findOne({ _id: id, tenantId });
    return doc ? toDomain(doc) : null;
  }

  /** The MongoDB filter of a listing or count (tenant first, so the tenant_* indexes serve it). */
  private filterOf(tenantId: string, query: JobListFilter): Record<string, unknown> {
    const filter: Record<string, unknown> = { tenantId };
    if (query.state) filter.state = query.state;
    if (query.repositoryId) filter.repositoryId = query.repositoryId;
    const range = (from?: Date, to?: Date) => ({ ...(from ? { $gte: from } : {}), ...(to ? { $lte: to } : {}) });
    if (query.createdFrom || query.createdTo) filter.createdAt = range(query.createdFrom, query.createdTo);
    if (query.updatedFrom || query.updatedTo) filter.updatedAt = range(query.updatedFrom, query.updatedTo);
    return filter;
  }

  async countByState(tenantId: string, query: JobCountQuery): Promise<Partial<Record<JobState, number>>> {
    // One count per state rather than a $group: FerretDB v1 pushes simple filters down to its
    // backend but evaluates aggregation stages in Go over every document.
    const base = this.filterOf(tenantId, query);
    const counts = await Promise.all(JOB_STATES.map(async (state) => [state, await this.jobs.countDocuments({ ...base, state })] as const));
    return Object.fromEntries(counts.filter(([, n]) => n > 0)) as Partial<Record<JobState, number>>;
  }

  async list(tenantId: string, query: JobListQuery): Promise<JobPage> {
    const filter = this.filterOf(tenantId, query);
    let newest: Date | undefined;
    if (query.cursor) {
      const c = decodeCursor(query.cursor);
      const u = new Date(c.u);
      newest = u;
      const cursorFilter = { $or: [{ updatedAt: { $lt: u } }, { updatedAt: u, _id: { $lt: c.i } }] };
      if (filter.updatedAt) filter.$and = [{ updatedAt: filter.updatedAt }, cursorFilter];
      else Object.assign(filter, cursorFilter);
    }
    const docs = await newestFirst(this.jobs, tenantId, filter, query.limit + 1, { newest });
    const items = docs.slice(0, query.limit).map(toDomain);
    const nextCursor = docs.length > query.limit ? encodeCursor(items[items.length - 1]) : null;
    return { items, nextCursor };
  }

  /**
   * Selects the compare-and-set once, at startup, from what the server is (see
   * detectStoreServer): `true` — the server applies an update atomically with its filter (MongoDB,
   * FerretDB v2), so a commit is one `updateOne({ _id, version })`; `false` (the default) — version
   * claims (FerretDB v1).
   */
  useAtomicCommits(atomic: boolean): void {
    this.atomic = atomic;
  }

  /** Which compare-and-set commits use: `one-operation` or `version-claim`. */
  get commitMode(): 'one-operation' | 'version-claim' {
    return this.atomic ? 'one-operation' : 'version-claim';
  }

  /**
   * The compare-and-set. On a server that applies an update atomically with its filter
   * ({@link useAtomicCommits}): one `updateOne({ _id, version: v }, { $set })`, which matches for
   * exactly one writer of version v. Otherwise (FerretDB v1) version claims: FerretDB v1 does not make `findOneAndUpdate` / `updateOne` atomic with
   * their filter: under concurrency several writers see `{ version: v }` match and all "win"
   * (measured: 48 of 50 rounds of 10 racing writers; test/integration/mongo-job.repository.spec.ts).
   * An insert with a duplicate `_id` is refused atomically on both servers, so the commit first
   * claims the version by inserting `{ _id: "<jobId>:<version>" }` into `job_commits` (batched
   * with concurrent claims, see {@link VersionClaims.claim}), carrying the
   * complete new field values; only the claim's winner then writes the job (`$set` of absolute
   * values, so re-applying the claim is harmless), and deletes the claim. A writer that stops
   * between claim and write is finished by {@link rollForwardStale} (the sweeper). On an atomic
   * server the claim path is correct too, at two extra round trips per commit.
   */
  async commit(current: JobRecord, change: JobCommit): Promise<JobRecord | null> {
    const updatedAt = new Date();
    const set: CommitSet = {
      state: change.state,
      snapshot: encodeKeys(change.snapshot) as Record<string, unknown>,
      machineVersion: change.machineVersion,
      error: change.error,
      history: [...current.history, ...change.transitions],
      version: current.version + 1,
      updatedAt,
      commitId: randomUUID(),
      ...inFlightFields(change.state, current.tenantId, updatedAt),
    };
    if (!(await commitVersion(this.jobs, this.atomic ? null : this.claims, current.id, current.version, set))) return null;
    return this.committed(current, change, set);
  }

  /** The record after a commit that won. */
  private committed(current: JobRecord, change: JobCommit, set: CommitSet): JobRecord {
    return {
      ...current,
      state: set.state,
      snapshot: change.snapshot,
      machineVersion: set.machineVersion,
      error: set.error,
      history: set.history,
      version: set.version,
      updatedAt: set.updatedAt,
    };
  }

  async rollForwardStale(olderThanMs: number, limit: number): Promise<number> {
    return this.claims.rollForwardStale(olderThanMs, limit);
  }

  /** Deletes applied claims waiting to be deleted in a batch (call before closing the client). */
  flushClaims(): Promise<void> {
    return this.claims.flush();
  }

  async findStale(states: JobState[], before: Date, limit: number): Promise<JobRecord[]> {
    const docs = await this.jobs
      .find({ sweepAt: { $lt: before }, state: { $in: states } })
      .sort({ sweepAt: 1 })
      .limit(limit)
      .toArray();
    return docs.map(toDomain);
  }

  async countActive(tenantId: string): Promise<number> {
    // Admitted-and-QUEUED first, active states second: a job committing QUEUED → CODING between
    // the two reads is then counted twice (a moment's over-count delays an admission) rather than
    // not at all (an under-count would let the tenant overshoot its limit).
    const admitted = (await this.admissions.find({ tenantId }, { projection: { _id: 1 } }).toArray()).map((a) => a._id);
    const queued = admitted.length
      ? (await this.jobs.find({ _id: { $in: admitted }, state: 'QUEUED' }, { projection: { _id: 1 } }).toArray()).map((d) => d._id)
      : [];
    const active = await this.jobs.countDocuments({ inFlightTenantId: tenantId, state: { $in: [...ACTIVE_JOB_STATES] } });
    const moved = admitted.filter((a) => !queued.includes(a));
    if (moved.length) await this.admissions.deleteMany({ _id: { $in: moved } }); // they count by state now
    return active + queued.length;
  }

  async markAdmitted(job: Pick<JobRecord, 'id' | 'tenantId'>): Promise<void> {
    try {
      await this.admissions.insertOne({ _id: job.id, tenantId: job.tenantId, at: new Date() });
    } catch (e) {
      if (!(e instanceof MongoServerError && e.code === 11000)) throw e;
    }
  }

  async isAdmitted(id: string): Promise<boolean> {
    return (await this.admissions.countDocuments({ _id: id }, { limit: 1 })) > 0;
  }

  async ping(): Promise<void> {
    await this.db.command({ ping: 1 });
  }
}
