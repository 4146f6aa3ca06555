/**
 * The store floor: the MongoDB work of one orchestrator lifecycle, with nothing else — no queue,
 * no statechart, no agent. Each lifecycle is the job insert and the four compare-and-set commits
 * (QUEUED→CODING, →REVIEWING, →PR_OPEN, →COMPLETED) of the real MongoJobRepository (from dist/),
 * with the snapshot and history of a job the orchestrator completed in this run, so documents
 * have the real size. Run from the bench process, `parallel` lifecycles at a time (the
 * orchestrator's planning slots, each of which runs whole lifecycles with continuation).
 *
 * What it answers: how many lifecycles per second the MongoDB-wire server allows at all, so the
 * orchestrator's throughput can be read as a share of that as well as of the raw BullMQ chain.
 */
import { randomUUID } from 'node:crypto';
import * as path from 'node:path';
import { performance } from 'node:perf_hooks';
import type { Db, MongoClient } from 'mongodb';

const DIST = path.join(__dirname, '..', '..', 'dist');
type RepoModule = typeof import('../../src/jobs/mongo-job.repository');
type StoreServerModule = typeof import('../../src/jobs/store-server');
type JobRecord = import('../../src/jobs/job.record').JobRecord;
type JobState = import('../../src/lifecycle/job.types').JobState;

export interface StoreFloorResult {
  lifecycles: number;
  seconds: number;
  lifecyclesPerSecond: number;
  mongoOpsPerLifecycle: number;
  mongoOpsByCommand: Record<string, number>;
  /** MongoDB-wire server CPU per lifecycle, ms (NaN when it does not run on this host). */
  mongoServerCpuMsPerLifecycle: number;
  /** This (bench) process's CPU per lifecycle, ms: the driver, BSON and the repository. */
  clientCpuMsPerLifecycle: number;
  /** The compare-and-set of the commits: `one-operation` or `version-claim`. */
  commitMode: string;
}

/**
 * Runs `n` store-only lifecycles (or until `maxS`), `parallel` at a time, in database `dbName`
 * (dropped at the end). `sample` is a COMPLETED job of the orchestrator; `serverCpuMs` reads the
 * server's CPU time.
 */
export async function storeFloor(
  client: MongoClient,
  dbName: string,
  sample: JobRecord,
  n: number,
  parallel: number,
  maxS: number,
  serverCpuMs: () => number,
): Promise<StoreFloorResult> {
  const { MongoJobRepository } = require(path.join(DIST, 'jobs/mongo-job.repository')) as RepoModule;
  const { detectStoreServer } = require(path.join(DIST, 'jobs/store-server')) as StoreServerModule;
  const db: Db = client.db(dbName);
  const repo = new MongoJobRepository(db);
  // The compare-and-set the orchestrator uses on this server (one operation where updates are
  // atomic with their filter, version claims on FerretDB v1), selected as src/jobs/mongo.module.ts does.
  const storeServer = await detectStoreServer(db);
  repo.useAtomicCommits(storeServer.atomicUpdates);
  await repo.ensureIndexes();
  const ops: Record<string, number> = {};
  const count = (e: { commandName: string; databaseName: string }) => {
    if (e.databaseName === dbName) ops[e.commandName] = (ops[e.commandName] ?? 0) + 1;
  };
  client.on('commandStarted', count);
  // The commits of a lifecycle: the states after each stage, with that stage's transitions.
  const states: JobState[] = ['CODING', 'REVIEWING', 'PR_OPEN', 'COMPLETED'];
  const byStage = [sample.history.slice(0, 2), sample.history.slice(2, 3), sample.history.slice(3, 4), sample.history.slice(4)];
  const cpu0 = process.cpuUsage();
  const server0 = serverCpuMs();
  const t0 = performance.now();
  let next = 0;
  let done = 0;
  await Promise.all(
    Array.from({ length: parallel }, async () => {
      while (next < n && performance.now() - t0 < maxS * 1000) {
        next++;
        const id = randomUUID();
        const now = new Date();
        let job: JobRecord | null = (
          await repo.create({ ...sample, id, idempotencyKey: id, state: 'QUEUED', version: 0, history: [], error: null, createdAt: now, updatedAt: now })
        ).job;
        for (let k = 0; k < states.length && job; k++) {
          job = await repo.commit(job, { state: states[k], snapshot: sample.snapshot, machineVersion: sample.machineVersion, error: null, transitions: byStage[k] });
        }
        if (!job) throw new Error('store floor: a commit lost its compare-and-set with no other writer');
        done++;
      }
    }),
  );
  const seconds = (performance.now() - t0) / 1000;
  const cpu = process.cpuUsage(cpu0);
  const server = serverCpuMs() - server0;
  await repo.flushClaims();
  client.off('commandStarted', count);
  await db.dropDatabase();
  const total = Object.values(ops).reduce((a, b) => a + b, 0);
  const r2 = (x: number) => Math.round(x * 100) / 100;
  return {
    lifecycles: done,
    seconds: r2(seconds),
    lifecyclesPerSecond: Math.round((done / seconds) * 10) / 10,
    mongoOpsPerLifecycle: r2(total / done),
    mongoOpsByCommand: Object.fromEntries(Object.entries(ops).map(([k, v]) => [k, r2(v / done)])),
    mongoServerCpuMsPerLifecycle: r2(server / done),
    clientCpuMsPerLifecycle: r2((cpu.user + cpu.system) / 1000 / done),
    commitMode: repo.commitMode,
  };
}
