import { Collection, MongoBulkWriteError } from 'mongodb';
import type { JobDocument } from './job-document';

/** The fields a commit sets on a job document. */
export type CommitSet = Pick<JobDocument, 'state' | 'snapshot' | 'machineVersion' | 'error' | 'history' | 'version' | 'updatedAt'> & {
  /** Random id of the commit that wrote the document last: tells a writer whether it was its own. */
  commitId: string;
};

/** A commit's claim on one version of a job (collection `job_commits`), deleted once applied. */
export interface CommitDocument {
  /** `<jobId>:<version the commit starts from>`: the unique key that makes the claim exclusive. */
  _id: string;
  jobId: string;
  fromVersion: number;
  set: CommitSet;
  at: Date;
}

/**
 * Version claims, the compare-and-set for a server that does not apply an update atomically with
 * its filter (FerretDB v1): a commit first inserts `{ _id: "<jobId>:<version>" }` into
 * `job_commits` (a duplicate `_id` is refused atomically on every server), and only the claim's
 * winner writes the job. Claims are inserted in groups and deleted in batches; a claim whose
 * writer died between claim and write is applied (or dropped) by {@link rollForwardStale}.
 */
export class VersionClaims {
  /** Claims waiting for the insert in flight (see {@link claim}). */
  private queue: { doc: CommitDocument; resolve: (won: boolean) => void; reject: (e: unknown) => void }[] = [];
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
    private readonly commits: Collection<CommitDocument>,
    private readonly jobs: Collection<JobDocument>,
    private readonly options: { claimCleanupDelayMs?: number } = {},
  ) {}

  /** Deletes one claim now (a claim that did not take effect). */
  async release(claimId: string): Promise<void> {
    await this.commits.deleteOne({ _id: claimId });
  }

  /**
   * Inserts a claim; resolves false when its `_id` exists (another writer holds the version).
   * Group commit: claims asked for while an insert is in flight wait for it, then go together in
   * one `insertMany({ ordered: false })` (one round trip and, on FerretDB, one transaction for
   * the batch); each claim's own duplicate-key error says it lost, exactly as a single insert
   * would. Two claims of one version in one batch: the server inserts one and refuses the other.
   * @throws the insert's error for a claim that failed otherwise.
   */
  claim(doc: CommitDocument): Promise<boolean> {
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
          ids.map((_id) => ({ deleteOne: { filter: { _id } } })),
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
}
