import { randomUUID } from 'node:crypto';
import { Collection, Db, MongoBulkWriteError, MongoServerError } from 'mongodb';
import { JOB_STATES, type JobError, type JobState, type TransitionRecord } from '../lifecycle/job.types';
import type { PersistedJobSnapshot } from '../lifecycle/job.runtime';
import { ACTIVE_JOB_STATES, type JobCommit, type JobListFilter, type JobListQuery, type JobPage, type JobRecord } from './job.record';
import { InvalidCursorError, JobRepository, type JobCountQuery } from './job.repository';
import { decodeKeys, encodeKeys } from './snapshot-codec';

/** The stored shape of a job (collection `jobs`). Keys of `snapshot` are escaped, see snapshot-codec. */
export interface JobDocument {
  _id: string;
  tenantId: string;
  idempotencyKey: string;
  repositoryId: string;
  branch?: string | null;
  state: JobState;
  version: number;
  machineVersion: string;
  snapshot: Record<string, unknown>;
  history: TransitionRecord[];
  error: JobError | null;
  createdAt: Date;
  updatedAt: Date;
}

/** The fields a commit sets on a job document. */
type CommitSet = Pick<JobDocument, 'state' | 'snapshot' | 'machineVersion' | 'error' | 'history' | 'version' | 'updatedAt'> & {
  /** Random id of the commit that wrote the document last: tells a writer whether it was its own. */
  commitId: string;
};

/** A commit's claim on one version of a job (collection `job_commits`), deleted once applied. */
interface CommitDocument {
  /** `<jobId>:<version the commit starts from>`: the unique key that makes the claim exclusive. */
  _id: string;
  jobId: string;
  fromVersion: number;
  set: CommitSet;
  at: Date;
}

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
 * {@link JobRepository} on the official `mongodb` driver. Uses only what MongoDB and FerretDB v1
 * share: a unique-`_id` insert that claims each version (see `commit`), single-document updates,
 * plain and unique compound indexes; no transactions, change streams, TTL or partial indexes.
 */
export class MongoJobRepository extends JobRepository {
  private readonly jobs: Collection<JobDocument>;
  private readonly commits: Collection<CommitDocument>;
  private readonly admissions: Collection<{ _id: string; tenantId: string; at: Date }>;

  /** Claims waiting for the insert in flight (see {@link claim}). */
  private claimQueue: { doc: CommitDocument; resolve: (won: boolean) => void; reject: (e: unknown) => void }[] = [];
  private claimInFlight = false;
  /** Ids of applied claims not deleted yet (see {@link deleteClaimLater}). */
  private appliedClaims: string[] = [];
  private claimTimer?: NodeJS.Timeout;
  /** Claim deletes in flight (see {@link flushClaims}). */
  private readonly claimDeletes = new Set<Promise<void>>();

  /**
   * @param options.claimCleanupDelayMs how long an applied claim may wait to be deleted together
   *   with others in one `delete` command, ms (0 = delete each at once). Default 50.
   */
  constructor(
    private readonly db: Db,
    private readonly options: { claimCleanupDelayMs?: number } = {},
  ) {
    super();
    this.jobs = db.collection<JobDocument>('jobs');
    this.commits = db.collection<CommitDocument>('job_commits');
    this.admissions = db.collection('job_admissions');
  }

  /** Creates the indexes (idempotent): listing by (tenantId, state, updatedAt) and unique submission key. */
  async ensureIndexes(): Promise<void> {
    await this.jobs.createIndex({ tenantId: 1, state: 1, updatedAt: -1 }, { name: 'tenant_state_updated' });
    await this.jobs.createIndex({ tenantId: 1, updatedAt: -1 }, { name: 'tenant_updated' });
    await this.jobs.createIndex({ tenantId: 1, idempotencyKey: 1 }, { name: 'tenant_idempotency', unique: true });
    await this.jobs.createIndex({ state: 1, updatedAt: 1 }, { name: 'state_updated' });
    await this.jobs.createIndex({ repositoryId: 1, branch: 1 }, { name: 'repository_branch' });
    await this.jobs.createIndex({ tenantId: 1, repositoryId: 1, updatedAt: -1 }, { name: 'tenant_repository_updated' });
    await this.admissions.createIndex({ tenantId: 1 }, { name: 'tenant' });
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
    if (query.cursor) {
      const c = decodeCursor(query.cursor);
      const u = new Date(c.u);
      const cursorFilter = { $or: [{ updatedAt: { $lt: u } }, { updatedAt: u, _id: { $lt: c.i } }] };
      if (filter.updatedAt) filter.$and = [{ updatedAt: filter.updatedAt }, cursorFilter];
      else Object.assign(filter, cursorFilter);
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

  /**
   * The compare-and-set. FerretDB v1 does not make `findOneAndUpdate` / `updateOne` atomic with
   * their filter: under concurrency several writers see `{ version: v }` match and all "win"
   * (measured: 48 of 50 rounds of 10 racing writers; test/integration/mongo-job.repository.spec.ts).
   * An insert with a duplicate `_id` is refused atomically on both servers, so the commit first
   * claims the version by inserting `{ _id: "<jobId>:<version>" }` into `job_commits` (batched
   * with concurrent claims, see {@link claim}), carrying the
   * complete new field values; only the claim's winner then writes the job (`$set` of absolute
   * values, so re-applying the claim is harmless), and deletes the claim. A writer that stops
   * between claim and write is finished by {@link rollForward} (the sweeper). On MongoDB the same
   * path is correct, at two extra round trips per commit.
   */
  async commit(current: JobRecord, change: JobCommit): Promise<JobRecord | null> {
    const set: CommitSet = {
      state: change.state,
      snapshot: encodeKeys(change.snapshot) as Record<string, unknown>,
      machineVersion: change.machineVersion,
      error: change.error,
      history: [...current.history, ...change.transitions],
      version: current.version + 1,
      updatedAt: new Date(),
      commitId: randomUUID(),
    };
    const claimId = `${current.id}:${current.version}`;
    if (!(await this.claim({ _id: claimId, jobId: current.id, fromVersion: current.version, set, at: set.updatedAt }))) {
      return null; // another writer holds this version
    }
    const applied = await this.jobs.updateOne({ _id: current.id, version: current.version }, { $set: set });
    if (applied.matchedCount === 0) {
      // Either a roll-forward already applied this very claim, or the job had moved past this
      // version before we claimed it (a long-delayed writer whose old claim was cleaned up).
      const now = await this.jobs.findOne({ _id: current.id }, { projection: { commitId: 1 } });
      const ours = (now as { commitId?: string } | null)?.commitId === set.commitId;
      await this.commits.deleteOne({ _id: claimId });
      if (!ours) return null;
    } else {
      this.deleteClaimLater(claimId);
    }
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

  /**
   * Inserts a claim; resolves false when its `_id` exists (another writer holds the version).
   * Group commit: claims asked for while an insert is in flight wait for it, then go together in
   * one `insertMany({ ordered: false })` (one round trip and, on FerretDB, one transaction for
   * the batch); each claim's own duplicate-key error says it lost, exactly as a single insert
   * would. Two claims of one version in one batch: the server inserts one and refuses the other.
   * @throws the insert's error for a claim that failed otherwise.
   */
  private claim(doc: CommitDocument): Promise<boolean> {
    return new Promise<boolean>((resolve, reject) => {
      this.claimQueue.push({ doc, resolve, reject });
      if (!this.claimInFlight) void this.insertClaims();
    });
  }

  private async insertClaims(): Promise<void> {
    this.claimInFlight = true;
    try {
      while (this.claimQueue.length) {
        const batch = this.claimQueue.splice(0, 500);
        try {
          await this.commits.insertMany(
            batch.map((c) => c.doc),
            { ordered: false },
          );
          for (const c of batch) c.resolve(true);
        } catch (e) {
          if (!(e instanceof MongoBulkWriteError)) {
            for (const c of batch) c.reject(e);
            continue;
          }
          const errors = [e.writeErrors].flat();
          const failed = new Map(errors.map((w) => [w.index, w.code]));
          batch.forEach((c, i) => {
            const code = failed.get(i);
            if (code === undefined) c.resolve(true);
            else if (code === 11000) c.resolve(false);
            else c.reject(e);
          });
        }
      }
    } finally {
      this.claimInFlight = false;
    }
  }

  /**
   * An applied claim only has to be gone before the sweeper's grace period ends (until then it
   * merely keeps refusing writers of a version the job has already left, which the version filter
   * refuses anyway). So claims are deleted in batches: one `delete` command per
   * `claimCleanupDelayMs` or per 100 claims, instead of one round trip per commit. A batch that
   * fails, or is lost with the process, is deleted by {@link rollForwardStale}, which finds the
   * job already past the claim's version.
   */
  private deleteClaimLater(claimId: string): void {
    const delay = this.options.claimCleanupDelayMs ?? 50;
    this.appliedClaims.push(claimId);
    if (delay === 0 || this.appliedClaims.length >= 100) void this.flushClaims();
    else this.claimTimer ??= setTimeout(() => void this.flushClaims(), delay).unref();
  }

  /**
   * Deletes the applied claims waiting for {@link deleteClaimLater} now, and waits for a delete a
   * timer started earlier that is still in flight (call before closing the client; on return every
   * claim applied before the call is gone, unless its delete failed, see {@link rollForwardStale}).
   */
  async flushClaims(): Promise<void> {
    clearTimeout(this.claimTimer);
    this.claimTimer = undefined;
    const ids = this.appliedClaims.splice(0);
    if (ids.length) {
      // One `delete` command of single-`_id` statements, not `deleteMany({ _id: { $in } })`: FerretDB
      // v1 pushes an `_id` equality down to its backend but not `$in`, for which it reads and decodes
      // every claim in Go (measured: 2.6× slower lifecycles with 16 concurrent stages per queue).
      const deleting = this.commits
        .bulkWrite(
          ids.map((_id) => ({ deleteOne: { filter: { _id } } })),
          { ordered: false },
        )
        .then(() => undefined, () => undefined); // the sweeper deletes leftovers
      this.claimDeletes.add(deleting);
      void deleting.finally(() => this.claimDeletes.delete(deleting));
    }
    await Promise.all([...this.claimDeletes]); // ours and any a timer started earlier
  }

  async rollForwardStale(olderThanMs: number, limit: number): Promise<number> {
    const claims = await this.commits
      .find({ at: { $lt: new Date(Date.now() - olderThanMs) } })
      .sort({ at: 1 })
      .limit(limit)
      .toArray();
    let applied = 0;
    for (const claim of claims) {
      // A no-op when the job is past `fromVersion` (the writer did finish, only its delete was lost).
      const r = await this.jobs.updateOne({ _id: claim.jobId, version: claim.fromVersion }, { $set: claim.set });
      await this.commits.deleteOne({ _id: claim._id });
      applied += r.matchedCount;
    }
    return applied;
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
    // Admitted-and-QUEUED first, active states second: a job committing QUEUED → CODING between
    // the two reads is then counted twice (a moment's over-count delays an admission) rather than
    // not at all (an under-count would let the tenant overshoot its limit).
    const admitted = (await this.admissions.find({ tenantId }, { projection: { _id: 1 } }).toArray()).map((a) => a._id);
    const queued = admitted.length
      ? (await this.jobs.find({ _id: { $in: admitted }, state: 'QUEUED' }, { projection: { _id: 1 } }).toArray()).map((d) => d._id)
      : [];
    const active = await this.jobs.countDocuments({ tenantId, state: { $in: [...ACTIVE_JOB_STATES] } });
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
