import { Collection, MongoBulkWriteError, type Document, type Filter, type UpdateFilter } from 'mongodb';

/**
 * The fields every commit sets on a versioned document (a job, a pipeline run), besides its own:
 * the new version and the random id of the commit that wrote it (tells a writer whether it was its own).
 */
export interface VersionedSet {
  version: number;
  updatedAt: Date;
  commitId: string;
}

/** A versioned document: `_id` and a version that every commit increments by one. */
export interface VersionedDocument extends Document {
  _id: string;
  version: number;
}

/**
 * A commit's claim on one version of a document (collections `job_commits`, `run_commits`),
 * deleted once applied.
 */
export interface CommitDocument<S extends VersionedSet = VersionedSet> {
  /** `<document id>:<version the commit starts from>`: the unique key that makes the claim exclusive. */
  _id: string;
  /** The claimed document's `_id` (named for the first user, jobs; a run's id for runs). */
  jobId: string;
  fromVersion: number;
  set: S;
  at: Date;
}

/**
 * Version claims, the compare-and-set for a server that does not apply an update atomically with
 * its filter (FerretDB v1): a commit first inserts `{ _id: "<jobId>:<version>" }` into
 * `job_commits` (a duplicate `_id` is refused atomically on every server), and only the claim's
 * winner writes the job. Claims are inserted in groups and deleted in batches; a claim whose
 * writer died between claim and write is applied (or dropped) by {@link rollForwardStale}.
 */
export class VersionClaims<D extends VersionedDocument = VersionedDocument, S extends VersionedSet = VersionedSet> {
  /** Claims waiting for the insert in flight (see {@link claim}). */
  private queue: { doc: CommitDocument<S>; resolve: (won: boolean) => void; reject: (e: unknown) => void }[] = [];
  private inFlight = false;
  /** Ids of applied claims not deleted yet (see {@link appliedLater}). */
  private applied: string[] = [];
  private timer?: NodeJS.Timeout;
  /** Claim deletes in flight (see {@link flush}). */
  private readonly deletes = new Set<Promise<void>>();

  /**
   * @param options.claimCleanupDelayMs how long an applied claim may wait to be deleted together
   *   with others in one `delete` command, ms (0 = delete each at once). Default 50.
   */
  constructor(
    private readonly commits: Collection<CommitDocument<S>>,
    private readonly jobs: Collection<D>,
    private readonly options: { claimCleanupDelayMs?: number } = {},
  ) {}

  /** Deletes one claim now (a claim that did not take effect). */
  async release(claimId: string): Promise<void> {
    await this.commits.deleteOne({ _id: claimId } as Filter<CommitDocument<S>>);
  }

  /**
   * Inserts a claim; resolves false when its `_id` exists (another writer holds the version).
   * Group commit: claims asked for while an insert is in flight wait for it, then go together in
   * one `insertMany({ ordered: false })` (one round trip and, on FerretDB, one transaction for
   * the batch); each claim's own duplicate-key error says it lost, exactly as a single insert
   * would. Two claims of one version in one batch: the server inserts one and refuses the other.
   * @throws the insert's error for a claim that failed otherwise.
   */
  claim(doc: CommitDocument<S>): Promise<boolean> {
    return new Promise<boolean>((resolve, reject) => {
      this.queue.push({ doc, resolve, reject });
      if (!this.inFlight) void this.insertQueued();
    });
  }

  private async insertQueued(): Promise<void> {
    this.inFlight = true;
    try {
      while (this.queue.length) {
        const batch = this.queue.splice(0, 500);
        try {
          await this.commits.insertMany(
            batch.map((c) => c.doc) as never,
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
      this.inFlight = false;
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
  appliedLater(claimId: string): void {
    const delay = this.options.claimCleanupDelayMs ?? 50;
    this.applied.push(claimId);
    if (delay === 0 || this.applied.length >= 100) void this.flush();
    else this.timer ??= setTimeout(() => void this.flush(), delay).unref();
  }

  /**
   * Deletes the applied claims waiting for {@link appliedLater} now, and waits for a delete a
   * timer started earlier that is still in flight (call before closing the client; on return every
   * claim applied before the call is gone, unless its delete failed, see {@link rollForwardStale}).
   */
  async flush(): Promise<void> {
    clearTimeout(this.timer);
    this.timer = undefined;
    const ids = this.applied.splice(0);
    if (ids.length) {
      // One `delete` command of single-`_id` statements, not `deleteMany({ _id: { $in } })`: FerretDB
      // v1 pushes an `_id` equality down to its backend but not `$in`, for which it reads and decodes
      // every claim in Go (measured: 2.6× slower lifecycles with 16 concurrent stages per queue).
      const deleting = this.commits
        .bulkWrite(
          ids.map((_id) => ({ deleteOne: { filter: { _id } as Filter<CommitDocument<S>> } })),
          { ordered: false },
        )
        .then(() => undefined, () => undefined); // the sweeper deletes leftovers
      this.deletes.add(deleting);
      void deleting.finally(() => this.deletes.delete(deleting));
    }
    await Promise.all([...this.deletes]); // ours and any a timer started earlier
  }

  /**
   * Applies claims older than `olderThanMs` whose writer did not (it died between claim and
   * write), and deletes them. @returns how many changed a job.
   */
  async rollForwardStale(olderThanMs: number, limit: number): Promise<number> {
    const claims = await this.commits
      .find({ at: { $lt: new Date(Date.now() - olderThanMs) } } as Filter<CommitDocument<S>>)
      .sort({ at: 1 })
      .limit(limit)
      .toArray();
    let applied = 0;
    for (const claim of claims) {
      // A no-op when the job is past `fromVersion` (the writer did finish, only its delete was lost).
      const r = await this.jobs.updateOne({ _id: claim.jobId, version: claim.fromVersion } as Filter<D>, { $set: claim.set } as unknown as UpdateFilter<D>);
      await this.commits.deleteOne({ _id: claim._id } as Filter<CommitDocument<S>>);
      applied += r.matchedCount;
    }
    return applied;
  }
}

/**
 * One compare-and-set commit of a versioned document from `fromVersion` to `set.version`. On a
 * server that applies an update atomically with its filter (MongoDB, FerretDB v2 + DocumentDB; see
 * src/jobs/store-server.ts) it is one `updateOne({ _id, version })`; otherwise (FerretDB v1) the
 * version is first claimed through `claims` (see {@link VersionClaims}). Exactly one writer of a
 * version wins on either path. Shared by every persisted machine (jobs, pipeline runs).
 * @param set the fields to `$set`, including `version: fromVersion + 1` and a fresh `commitId`.
 * @returns whether this commit won.
 */
export async function commitVersion<D extends VersionedDocument, S extends VersionedSet>(
  documents: Collection<D>,
  claims: VersionClaims<D, S> | null,
  id: string,
  fromVersion: number,
  set: S,
): Promise<boolean> {
  const filter = { _id: id, version: fromVersion } as Filter<D>;
  const update = { $set: set } as unknown as UpdateFilter<D>;
  if (!claims) {
    const r = await documents.updateOne(filter, update);
    return r.matchedCount === 1;
  }
  const claimId = `${id}:${fromVersion}`;
  if (!(await claims.claim({ _id: claimId, jobId: id, fromVersion, set, at: set.updatedAt }))) {
    return false; // another writer holds this version
  }
  const applied = await documents.updateOne(filter, update);
  if (applied.matchedCount === 0) {
    // Either a roll-forward already applied this very claim, or the document had moved past this
    // version before we claimed it (a long-delayed writer whose old claim was cleaned up).
    const now = await documents.findOne({ _id: id } as Filter<D>, { projection: { commitId: 1 } });
    const ours = (now as { commitId?: string } | null)?.commitId === set.commitId;
    await claims.release(claimId);
    return ours;
  }
  claims.appliedLater(claimId);
  return true;
}
