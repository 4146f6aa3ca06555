/**
 * The "100,000 finished jobs" part of the saturated phase (issue "A store with real indexes",
 * item 5): fills the orchestrator's collections with finished lifecycles before the same saturated
 * repetitions run again, so that its throughput on a full collection is measured against the empty
 * one in the same run.
 *
 * The documents are clones of what real lifecycles of this run left (COMPLETED jobs and their
 * `stage_attempts` records, or for a MockAgent run, which records none, the ended records its stages
 * would leave with a real tool; job logs are not written by the MockAgent), with new
 * ids, `updatedAt`/`createdAt` spread over the past day, and `benchPrefill: true`, which
 * {@link OrchestratorSystem.reset} keeps. Every hot query of a worker (stage read by `_id`, commit,
 * the tenant's active-job count, the sweeper's scans) then runs against a collection where nearly
 * every document is finished — the case an index must make cheap.
 */
import { randomUUID } from 'node:crypto';
import * as path from 'node:path';
import { performance } from 'node:perf_hooks';
import type { Db, Document } from 'mongodb';

const DIST = path.join(__dirname, '..', '..', 'dist');
type JobRepoModule = typeof import('../../src/jobs/mongo-job.repository');
type AttemptRepoModule = typeof import('../../src/attempts/mongo-stage-attempt.repository');

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
 * records), in `insertMany` batches of `batch` documents (single-document writes, unordered),
 * `parallel` batches at a time.
 * @throws Error when there is no COMPLETED job to clone.
 */
export async function prefill(db: Db, n: number, batch = 500, parallel = 8): Promise<PrefillResult> {
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
  // MockAgent runs record no attempts (their fast successes cost no write), but a deployment's
  // real tools record one per stage: give such a sample the ended records its stages would leave.
  for (const sample of samples) if (!attemptsOf.has(sample._id)) attemptsOf.set(sample._id, endedAttemptsOf(sample));
  const day = 86_400_000;
  let insertedJobs = 0;
  let insertedAttempts = 0;
  // Batches go `parallel` at a time: one insertMany waits on the server more than it works it.
  const starts = Array.from({ length: Math.ceil(n / batch) }, (_, k) => k * batch);
  const insertBatch = async (i: number) => {
    const jobDocs: Document[] = [];
    const attemptDocs: Document[] = [];
    for (let j = i; j < Math.min(n, i + batch); j++) {
      const sample = samples[j % samples.length];
      const id = randomUUID();
      const at = new Date(t0 - day + Math.floor((j / n) * day));
      jobDocs.push({ ...sample, _id: id, idempotencyKey: id, createdAt: at, updatedAt: at, benchPrefill: true }); // the key is unique per tenant
      for (const a of attemptsOf.get(sample._id) ?? []) attemptDocs.push({ ...a, _id: randomUUID(), jobId: id, startedAt: at, heartbeatAt: at, endedAt: at, benchPrefill: true });
    }
    // (`x += await …` would read x before the await and lose the other batches' counts.)
    const insertedJobsHere = (await jobs.insertMany(jobDocs, { ordered: false })).insertedCount;
    insertedJobs += insertedJobsHere;
    const insertedAttemptsHere = attemptDocs.length ? (await attempts.insertMany(attemptDocs, { ordered: false })).insertedCount : 0;
    insertedAttempts += insertedAttemptsHere;
  };
  await Promise.all(
    Array.from({ length: parallel }, async () => {
      for (let next = starts.shift(); next !== undefined; next = starts.shift()) await insertBatch(next);
    }),
  );
  return {
    jobs: insertedJobs,
    attempts: insertedAttempts,
    seconds: Math.round((Date.now() - t0) / 100) / 10,
    jobsInCollection: await jobs.countDocuments({}),
    attemptsInCollection: await attempts.countDocuments({}),
  };
}

/** The stage a commit leaving `state` ended (the job machine's stage states). */
const STAGE_OF: Record<string, string> = { PLANNING: 'planning', CODING: 'coding', REVIEWING: 'reviewing', PR_OPEN: 'pr-open' };

/**
 * One succeeded `stage_attempts` document per stage commit in a finished job's history, as an
 * agent CLI or PR gateway leaves it (`tool` `bench`, no processes; times set by the caller).
 */
function endedAttemptsOf(job: Document): Document[] {
  const history = (job.history ?? []) as { from: string; to: string }[];
  return history
    .filter((h) => STAGE_OF[h.from] && h.to !== h.from)
    .map((h, version) => ({ jobId: job._id, tenantId: job.tenantId, stage: STAGE_OF[h.from], attempt: 1, version, tool: 'bench', status: 'succeeded', host: 'bench', workerPid: 0, workerId: 'bench', processes: [], durationMs: 1, usage: null, error: null, sweepAt: null }));
}

/** Removes what {@link prefill} inserted. */
export async function removePrefill(db: Db): Promise<void> {
  await db.collection('jobs').deleteMany(PREFILLED);
  await db.collection('stage_attempts').deleteMany(PREFILLED);
}

/** Median ms of each hot query of a worker and of the dashboard, as the repositories send them. */
export type HotQueryTimes = Record<string, number>;

/**
 * Times the queries that must stay cheap however many finished jobs the collections hold (issue
 * "A store with real indexes", item 5): the job sweeper's scan, the stage-attempt sweeper's scan,
 * the tenant's active-job count (admission), the dashboard's first page and per-state counts — the
 * repositories' own methods from dist/, `reps` times each, median.
 */
export async function hotQueryTimes(db: Db, tenantId: string, reps = 15): Promise<HotQueryTimes> {
  const { MongoJobRepository } = require(path.join(DIST, 'jobs/mongo-job.repository')) as JobRepoModule;
  const { MongoStageAttemptRepository } = require(path.join(DIST, 'attempts/mongo-stage-attempt.repository')) as AttemptRepoModule;
  const jobs = new MongoJobRepository(db);
  const attempts = new MongoStageAttemptRepository(db);
  const ago = () => new Date(Date.now() - 60_000);
  const queries: Record<string, () => Promise<unknown>> = {
    'job sweeper scan (findStale)': () => jobs.findStale(['QUEUED', 'PLANNING', 'CODING', 'REVIEWING', 'PR_OPEN'], ago(), 100),
    'stage-attempt sweeper scan (findStale)': () => attempts.findStale(ago(), 100),
    'admission: active jobs of the tenant (countActive)': () => jobs.countActive(tenantId),
    'job list, first page of 50': () => jobs.list(tenantId, { limit: 50 }),
    'job counts by state': () => jobs.countByState(tenantId, {}),
  };
  const out: HotQueryTimes = {};
  for (const [name, q] of Object.entries(queries)) {
    const ms: number[] = [];
    for (let i = 0; i < reps; i++) {
      const t0 = performance.now();
      await q();
      ms.push(performance.now() - t0);
    }
    ms.sort((a, b) => a - b);
    out[name] = Math.round(ms[Math.floor(ms.length / 2)] * 100) / 100;
  }
  return out;
}

/**
 * The prefilled part of the saturated phase: times the hot queries on the collections as they
 * are, inserts `n` finished jobs ({@link prefill}), times them again, runs `repetitions` of the
 * phase (`repeat`, each result logged with `describe`), and removes the prefill.
 * @returns what was prefilled with both timings, and the repetitions' results.
 */
export async function prefilledRepetitions<R>(
  db: Db,
  n: number,
  repetitions: number,
  repeat: () => Promise<R>,
  describe: (r: number, res: R, jobsInCollection: number) => string,
  log: (line: string) => void,
): Promise<{ info: PrefillResult & { hotQueryMs: { empty: HotQueryTimes; prefilled: HotQueryTimes } }; results: R[] }> {
  const empty = await hotQueryTimes(db, 'bench');
  const p = await prefill(db, n);
  const info = { ...p, hotQueryMs: { empty, prefilled: await hotQueryTimes(db, 'bench') } };
  for (const [q, ms] of Object.entries(info.hotQueryMs.prefilled)) log(`  ${q}: ${empty[q]} ms empty, ${ms} ms with ${p.jobsInCollection} jobs`);
  log(`  prefilled ${p.jobs} finished jobs and ${p.attempts} attempt records in ${p.seconds} s (jobs: ${p.jobsInCollection}, stage_attempts: ${p.attemptsInCollection})`);
  const results: R[] = [];
  for (let r = 1; r <= repetitions; r++) {
    const res = await repeat();
    results.push(res);
    log(describe(r, res, p.jobsInCollection));
  }
  await removePrefill(db);
  return { info, results };
}
