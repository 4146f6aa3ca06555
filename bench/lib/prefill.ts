/**
 * The "100,000 finished jobs" part of the saturated phase (issue "A store with real indexes",
 * item 5): fills the orchestrator's collections with finished lifecycles before the same saturated
 * repetitions run again, so that its throughput on a full collection is measured against the empty
 * one in the same run.
 *
 * The documents are clones of what real lifecycles of this run left (the COMPLETED jobs of the last
 * repetition and their `stage_attempts` records; job logs are not written by the MockAgent), with new
 * ids, `updatedAt`/`createdAt` spread over the past day, and `benchPrefill: true`, which
 * {@link OrchestratorSystem.reset} keeps. Every hot query of a worker (stage read by `_id`, commit,
 * the tenant's active-job count, the sweeper's scans) then runs against a collection where nearly
 * every document is finished — the case an index must make cheap.
 */
import { randomUUID } from 'node:crypto';
import type { Db, Document } from 'mongodb';

export interface PrefillResult {
  /** Finished jobs inserted (`jobs`). */
  jobs: number;
  /** Their attempt records (`stage_attempts`). */
  attempts: number;
  /** Wall time of the inserts, s. */
  seconds: number;
  /** Documents in `jobs` / `stage_attempts` afterwards. */
  jobsInCollection: number;
  attemptsInCollection: number;
}

/** The filter of what {@link prefill} wrote (reset keeps it, the end of the phase removes it). */
export const PREFILLED = { benchPrefill: true };

/**
 * Inserts `n` finished jobs cloned from the COMPLETED jobs in `db.jobs` (and their attempt
 * records), in `insertMany` batches of `batch` documents (single-document writes, unordered).
 * @throws Error when there is no COMPLETED job to clone.
 */
export async function prefill(db: Db, n: number, batch = 1000): Promise<PrefillResult> {
  const t0 = Date.now();
  const jobs = db.collection<Document>('jobs');
  const attempts = db.collection<Document>('stage_attempts');
  const samples = await jobs.find({ state: 'COMPLETED', benchPrefill: { $exists: false } }).limit(200).toArray();
  if (!samples.length) throw new Error('prefill: no COMPLETED job to clone (run a saturated repetition first)');
  const attemptsOf = new Map<unknown, Document[]>();
  for (const a of await attempts.find({ jobId: { $in: samples.map((s) => s._id) } }).toArray()) {
    const list = attemptsOf.get(a.jobId) ?? [];
    list.push(a);
    attemptsOf.set(a.jobId, list);
  }
  const day = 86_400_000;
  let insertedJobs = 0;
  let insertedAttempts = 0;
  for (let i = 0; i < n; i += batch) {
    const jobDocs: Document[] = [];
    const attemptDocs: Document[] = [];
    for (let j = i; j < Math.min(n, i + batch); j++) {
      const sample = samples[j % samples.length];
      const id = randomUUID();
      const at = new Date(t0 - day + Math.floor((j / n) * day));
      jobDocs.push({ ...sample, _id: id, idempotencyKey: id, createdAt: at, updatedAt: at, benchPrefill: true }); // the key is unique per tenant
      for (const a of attemptsOf.get(sample._id) ?? []) attemptDocs.push({ ...a, _id: randomUUID(), jobId: id, startedAt: at, heartbeatAt: at, endedAt: at, benchPrefill: true });
    }
    insertedJobs += (await jobs.insertMany(jobDocs, { ordered: false })).insertedCount;
    if (attemptDocs.length) insertedAttempts += (await attempts.insertMany(attemptDocs, { ordered: false })).insertedCount;
  }
  return {
    jobs: insertedJobs,
    attempts: insertedAttempts,
    seconds: Math.round((Date.now() - t0) / 100) / 10,
    jobsInCollection: await jobs.estimatedDocumentCount(),
    attemptsInCollection: await attempts.estimatedDocumentCount(),
  };
}

/** Removes what {@link prefill} inserted. */
export async function removePrefill(db: Db): Promise<void> {
  await db.collection('jobs').deleteMany(PREFILLED);
  await db.collection('stage_attempts').deleteMany(PREFILLED);
}
