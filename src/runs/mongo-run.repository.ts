import { backfillMissing } from '../runtime/backfill';
import { randomUUID } from 'node:crypto';
import { Collection, Db, type Filter } from 'mongodb';
import { decodeKeys, encodeKeys } from '../jobs/snapshot-codec';
import type { RunStatus } from '../pipelines/pipeline.types';
import { newestFirst } from '../runtime/newest-first';
import { commitVersion, VersionClaims, type CommitDocument, type VersionedSet } from '../runtime/version-claims';
import type { RunCommit, RunListQuery, RunRecord } from './run.record';

/** The `runs` document. */
export interface RunDocument extends Omit<RunRecord, 'id' | 'snapshot'> {
  _id: string;
  snapshot: Record<string, unknown>;
  commitId?: string;
  /**
   * `updatedAt` while the run is pending or running, null otherwise (absent before it existed):
   * the sweeper's index then holds only those runs (see JobDocument.sweepAt for why).
   */
  sweepAt?: Date | null;
}
type RunSet = Pick<RunDocument, 'status' | 'snapshot' | 'machineVersion' | 'events' | 'startedAt' | 'endedAt' | 'sweepAt'> & VersionedSet;

/** The statuses in which a run must be moving, so the sweeper watches it. */
const SWEPT_RUN_STATUSES: readonly RunStatus[] = ['pending', 'running'];
const sweepAtOf = (status: RunStatus, updatedAt: Date): Date | null => (SWEPT_RUN_STATUSES.includes(status) ? updatedAt : null);

/** The cursor was not issued by this API. `code` = INVALID_CURSOR. */
export class InvalidRunCursorError extends Error {
  readonly code = 'INVALID_CURSOR';
  constructor() {
    super('cursor is not valid');
  }
}

function toDomain(doc: RunDocument): RunRecord {
  const { _id, snapshot, commitId: _c, sweepAt: _s, ...rest } = doc;
  return { ...rest, id: _id, snapshot: decodeKeys(snapshot) as RunRecord['snapshot'], events: doc.events ?? [] };
}

/**
 * Pipeline runs on the official `mongodb` driver, committed with the same compare-and-set as jobs
 * ({@link commitVersion}: one `updateOne({ _id, version })` on an atomic server, version claims in
 * `run_commits` on FerretDB v1). Single-document writes only.
 */
export class MongoRunRepository {
  private readonly runs: Collection<RunDocument>;
  private readonly claims: VersionClaims<RunDocument, RunSet>;
  /** Whether commits are one operation (set once at startup, see RunsModule). */
  atomic = false;

  constructor(db: Db) {
    this.runs = db.collection<RunDocument>('runs');
    this.claims = new VersionClaims(db.collection<CommitDocument<RunSet>>('run_commits'), this.runs);
  }

  async ensureIndexes(): Promise<void> {
    await this.runs.createIndex({ tenantId: 1, updatedAt: -1 }, { name: 'tenant_updated' });
    await this.runs.createIndex({ tenantId: 1, 'template.name': 1, updatedAt: -1 }, { name: 'tenant_template_updated' });
    await this.runs.createIndex({ status: 1, updatedAt: 1 }, { name: 'status_updated' });
    await this.runs.createIndex({ sweepAt: 1 }, { name: 'sweep_at' });
    // Swept runs written before sweepAt existed (a concurrent commit, which writes it, wins).
    await backfillMissing(this.runs, 'sweepAt', { status: { $in: [...SWEPT_RUN_STATUSES] } }, ['version'], ['status', 'updatedAt'], (d) => ({ sweepAt: sweepAtOf(d.status, d.updatedAt) }));
  }

  async create(run: RunRecord): Promise<void> {
    const { id, snapshot, ...rest } = run;
    await this.runs.insertOne({ ...rest, _id: id, snapshot: encodeKeys(snapshot) as Record<string, unknown>, sweepAt: sweepAtOf(run.status, run.updatedAt) });
  }

  /** The run, or null (also for another tenant's when `tenantId` is given). */
  async findById(id: string, tenantId?: string): Promise<RunRecord | null> {
    const doc = await this.runs.findOne({ _id: id, ...(tenantId ? { tenantId } : {}) } as Filter<RunDocument>);
    return doc ? toDomain(doc) : null;
  }

  /**
   * Commits `change` on `current` if nobody committed since `current.version`.
   * @returns the new record, or null when another writer won.
   */
  async commit(current: RunRecord, change: RunCommit): Promise<RunRecord | null> {
    const now = new Date();
    const set: RunSet = {
      status: change.status,
      snapshot: encodeKeys(change.snapshot) as Record<string, unknown>,
      machineVersion: change.machineVersion,
      events: [...current.events, ...change.events],
      version: current.version + 1,
      updatedAt: now,
      commitId: randomUUID(),
      startedAt: current.startedAt ?? (change.status !== 'pending' ? now : null),
      endedAt: change.status === 'succeeded' || change.status === 'failed' || change.status === 'canceled' ? now : null,
      sweepAt: sweepAtOf(change.status, now),
    };
    if (!(await commitVersion(this.runs, this.atomic ? null : this.claims, current.id, current.version, set))) return null;
    return { ...current, status: set.status, snapshot: change.snapshot, machineVersion: set.machineVersion, events: set.events, version: set.version, updatedAt: now, startedAt: set.startedAt, endedAt: set.endedAt };
  }

  /** A tenant's runs, newest update first; `nextCursor` is null on the last page. */
  async list(q: RunListQuery): Promise<{ items: RunRecord[]; nextCursor: string | null }> {
    const filter: Filter<RunDocument> = { tenantId: q.tenantId };
    if (q.status) filter.status = q.status;
    if (q.template) (filter as Record<string, unknown>)['template.name'] = q.template;
    let newest: Date | undefined;
    if (q.cursor) {
      let c: { u: string; i: string };
      try {
        c = JSON.parse(Buffer.from(q.cursor, 'base64url').toString('utf8')) as { u: string; i: string };
        if (typeof c.u !== 'string' || typeof c.i !== 'string' || Number.isNaN(Date.parse(c.u))) throw new Error();
      } catch {
        throw new InvalidRunCursorError();
      }
      newest = new Date(c.u);
      filter.$or = [{ updatedAt: { $lt: newest } }, { updatedAt: newest, _id: { $lt: c.i } }] as Filter<RunDocument>['$or'];
    }
    const docs = await newestFirst(this.runs, q.tenantId, filter, q.limit + 1, { newest });
    const items = docs.slice(0, q.limit).map(toDomain);
    const last = items[items.length - 1];
    const nextCursor = docs.length > q.limit && last ? Buffer.from(JSON.stringify({ u: last.updatedAt.toISOString(), i: last.id })).toString('base64url') : null;
    return { items, nextCursor };
  }

  /** Runs in `statuses` (pending and/or running) last updated before `before` (the sweeper's scan), oldest first. */
  async findStale(statuses: RunStatus[], before: Date, limit: number): Promise<RunRecord[]> {
    const docs = await this.runs.find({ sweepAt: { $lt: before }, status: { $in: statuses } }).sort({ sweepAt: 1 }).limit(limit).toArray();
    return docs.map(toDomain);
  }

  /** The status of each of the runs `ids` that exists (one read; the workspace janitor's). */
  async statusesOf(ids: string[]): Promise<Map<string, RunStatus>> {
    if (!ids.length) return new Map();
    const docs = await this.runs.find({ _id: { $in: ids } } as Filter<RunDocument>, { projection: { _id: 1, status: 1 } }).toArray();
    return new Map(docs.map((d) => [d._id, d.status]));
  }

  /** A template's last `n` ended (or quarantined) runs of a tenant, newest first by `updatedAt` (index tenant_template_updated). */
  async lastEnded(tenantId: string, template: string, n: number): Promise<{ id: string; status: RunStatus; updatedAt: Date }[]> {
    const docs = await this.runs
      .find({ tenantId, 'template.name': template, status: { $in: ['succeeded', 'failed', 'quarantined', 'canceled'] } } as Filter<RunDocument>, { projection: { status: 1, updatedAt: 1 } })
      .sort({ updatedAt: -1 })
      .limit(n)
      .toArray();
    return docs.map((d) => ({ id: d._id, status: d.status, updatedAt: d.updatedAt }));
  }

  rollForwardStale(olderThanMs: number, limit: number): Promise<number> {
    return this.claims.rollForwardStale(olderThanMs, limit);
  }

  flushClaims(): Promise<void> {
    return this.claims.flush();
  }
}
