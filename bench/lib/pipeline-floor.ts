/**
 * The pipeline store floor: the MongoDB work the issue "Pipelines" requires of a durable step, with
 * nothing else — no queue, no statechart, no step code, no HTTP. It answers how many steps per
 * second the MongoDB-wire server allows at all for the records a run of the bench template must
 * leave, so the orchestrator can be read as a share of that as well as of BullMQ's FlowProducer
 * (which writes no durable record).
 *
 * Each run, through the real repositories (from dist/, the same indexes and the same compare-and-
 * set the service selects from `buildInfo`):
 * - the run's insert (`MongoRunRepository.create`), with the snapshot of a run the orchestrator
 *   completed in this phase, so documents have the real size;
 * - for each step, in the template's order (`prep`, the FAN parts in parallel, `join`): its attempt
 *   record (`StepAttemptRepository.begin`, a first delivery: one insert) and the attempt's end
 *   (`finish` with its start time: one update) — the record a killed worker's step is found,
 *   reaped and numbered by (step_attempts, seed 002);
 * - the run's compare-and-set commits (`MongoRunRepository.commit`) of each step's result, with
 *   the same group commit as the service (results reaching a run while its commit is in flight go
 *   in the next one), each appending that step's share of the completed run's events.
 * Steps share `concurrency` slots (the service's PIPELINE_STEP_CONCURRENCY); `parallel` runs are in
 * flight (closed loop), as on the other two sides.
 */
import * as path from 'node:path';
import { performance } from 'node:perf_hooks';
import type { Db, MongoClient } from 'mongodb';
import { FAN, STEPS_PER_RUN } from './pipeline-sides';

const DIST = path.join(__dirname, '..', '..', 'dist');
type RunRepoModule = typeof import('../../src/runs/mongo-run.repository');
type AttemptRepoModule = typeof import('../../src/runs/step-attempts');
type StoreServerModule = typeof import('../../src/jobs/store-server');
type RunRecord = import('../../src/runs/run.record').RunRecord;

export interface PipelineFloorResult {
  runs: number;
  steps: number;
  seconds: number;
  stepsPerSecond: number;
  mongoOpsPerStep: number;
  mongoOpsByCommand: Record<string, number>;
  /** Run commits per run (group commit), and the commit mode (`one-operation` or `version-claim`). */
  commitsPerRun: number;
  mode: FloorMode;
  commitMode: string;
  /** The store's server (FerretDB v2 and its PostgreSQL), ms per step (NaN when unknown). */
  storeCpuMsPerStep: number;
  /** This (bench) process's CPU per step, ms: the driver, BSON and the repositories. */
  clientCpuMsPerStep: number;
}

const round = (x: number, d = 1) => (Number.isFinite(x) ? Math.round(x * 10 ** d) / 10 ** d : NaN);

/**
 * `per-step`: each attempt record is its own insert and its own end update, as the service writes
 * them. `batched`: the attempt records every step writes within one event-loop turn go as one
 * `insertMany` (unordered) and their ends as one `bulkWrite` — the best a group commit of attempt
 * records across steps could do; the run commits are the same in both.
 */
export type FloorMode = 'per-step' | 'batched';

/** Collects the items given within one event-loop turn and writes them with one `flush` call. */
function perTurn<T>(flush: (items: T[]) => Promise<unknown>): (item: T) => Promise<void> {
  let items: T[] = [];
  let waiters: { resolve: () => void; reject: (e: unknown) => void }[] = [];
  return (item) =>
    new Promise<void>((resolve, reject) => {
      items.push(item);
      waiters.push({ resolve, reject });
      if (items.length > 1) return;
      setImmediate(() => {
        const [batch, ws] = [items, waiters];
        items = [];
        waiters = [];
        flush(batch).then(
          () => ws.forEach((w) => w.resolve()),
          (e: unknown) => ws.forEach((w) => w.reject(e)),
        );
      });
    });
}

/** A counting semaphore: the step slots. */
function slots(n: number) {
  let free = n;
  const waiting: (() => void)[] = [];
  return async <T>(f: () => Promise<T>): Promise<T> => {
    if (free > 0) free--;
    else await new Promise<void>((r) => waiting.push(r));
    try {
      return await f();
    } finally {
      const next = waiting.shift();
      if (next) next();
      else free++;
    }
  };
}

/** A run the orchestrator completed in database `dbName` (decoded by the real repository), or null. */
export async function succeededRun(client: MongoClient, dbName: string): Promise<RunRecord | null> {
  const { MongoRunRepository } = require(path.join(DIST, 'runs/mongo-run.repository')) as RunRepoModule;
  const doc = await client.db(dbName).collection<{ _id: string }>('runs').findOne({ status: 'succeeded' }, { projection: { _id: 1 } });
  return doc ? new MongoRunRepository(client.db(dbName)).findById(doc._id) : null;
}

/**
 * Runs `runs` store-only runs of the bench template, `parallel` in flight and `concurrency` steps
 * at a time, in database `dbName` (dropped at the end). `sample` is a run the orchestrator
 * completed (its snapshot and events give the documents their size); `serverCpuMs` reads the
 * store's CPU time (ms).
 * @throws when a commit finds the run moved (nothing else writes these runs: a store fault).
 */
export async function pipelineFloor(
  client: MongoClient,
  dbName: string,
  sample: RunRecord,
  runs: number,
  parallel: number,
  concurrency: number,
  serverCpuMs: () => number,
  mode: FloorMode = 'per-step',
): Promise<PipelineFloorResult> {
  const { MongoRunRepository } = require(path.join(DIST, 'runs/mongo-run.repository')) as RunRepoModule;
  const { StepAttemptRepository } = require(path.join(DIST, 'runs/step-attempts')) as AttemptRepoModule;
  const { detectStoreServer } = require(path.join(DIST, 'jobs/store-server')) as StoreServerModule;
  const db: Db = client.db(dbName);
  const runRepo = new MongoRunRepository(db);
  const attempts = new StepAttemptRepository(db);
  const server = await detectStoreServer(db);
  runRepo.atomic = server.atomicUpdates; // as src/runs/runs.module.ts selects it
  await Promise.all([runRepo.ensureIndexes(), attempts.ensureIndexes()]);
  const ops: Record<string, number> = {};
  const count = (e: { commandName: string; databaseName: string }) => {
    if (e.databaseName === dbName) ops[e.commandName] = (ops[e.commandName] ?? 0) + 1;
  };
  client.on('commandStarted', count);
  const eventsPerStep = Math.max(1, Math.floor(sample.events.length / STEPS_PER_RUN));
  const stepIds = ['prep', ...Array.from({ length: FAN }, (_, i) => `part-${i + 1}`), 'join'];
  const slot = slots(concurrency);
  // The batched mode's record: the shape StepAttemptRepository.begin inserts.
  const attemptDoc = { tenantId: sample.tenantId, template: sample.template.name, visit: 1, attempt: 1, tool: 'function', router: null, status: 'running', host: 'bench', workerPid: process.pid, endedAt: null, durationMs: null, exitCode: null, usage: null, error: null, stdoutTail: '', stderrTail: '', produced: [], pid: null, pgid: null, marker: null };
  const stepAttempts = db.collection<Record<string, unknown> & { _id: string }>('step_attempts');
  const insertBatch = perTurn<Record<string, unknown> & { _id: string }>((docs) => stepAttempts.insertMany(docs, { ordered: false }));
  const endBatch = perTurn<{ _id: string; set: Record<string, unknown> }>((ends) => stepAttempts.bulkWrite(ends.map((e) => ({ updateOne: { filter: { _id: e._id }, update: { $set: e.set } } })), { ordered: false }));
  let commits = 0;

  const oneRun = async (i: number) => {
    const id = `${dbName}-${i}`;
    const now = new Date();
    let current: RunRecord = { ...sample, id, status: 'running', version: 0, events: [], createdAt: now, updatedAt: now, startedAt: now, endedAt: null };
    await runRepo.create(current);
    // Group commit: results reported while a commit is in flight go in the next one.
    let pending = 0;
    let inFlight: Promise<void> | null = null;
    let done = 0;
    const flush = async (): Promise<void> => {
      while (pending > 0) {
        const n = pending;
        pending = 0;
        done += n;
        const from = current.events.length;
        const events = sample.events.slice(from, done === STEPS_PER_RUN ? sample.events.length : Math.min(sample.events.length, from + n * eventsPerStep));
        const next = await runRepo.commit(current, { status: done === STEPS_PER_RUN ? 'succeeded' : 'running', snapshot: sample.snapshot, machineVersion: sample.machineVersion, events });
        if (!next) throw new Error(`pipeline floor: commit of run ${id} at version ${current.version} lost (nothing else writes it)`);
        current = next;
        commits++;
      }
    };
    const report = async () => {
      pending++;
      inFlight ??= flush().finally(() => (inFlight = null));
      await inFlight;
      if (pending > 0) await report(); // arrived after the loop's last check
    };
    const step = (name: string) =>
      slot(async () => {
        const startedAt = new Date();
        if (mode === 'batched') {
          const _id = `${id}:${name}:1:1`;
          await insertBatch({ ...attemptDoc, _id, runId: id, step: name, templateStep: name, startedAt, heartbeatAt: startedAt, sweepAt: startedAt });
          const endedAt = new Date();
          return endBatch({ _id, set: { status: 'succeeded', exitCode: 0, endedAt, sweepAt: null, durationMs: endedAt.getTime() - startedAt.getTime() } });
        }
        const { attemptId } = await attempts.begin({ runId: id, tenantId: sample.tenantId, template: sample.template.name, templateStep: name, step: name, visit: 1, tool: 'function', router: null, host: 'bench', workerPid: process.pid, startedAt } as never, { expectFirst: true });
        await attempts.finish(attemptId, { status: 'succeeded', exitCode: 0, usage: null, error: null, stdoutTail: '', stderrTail: '', produced: [] }, startedAt);
      }).then(report);
    await step(stepIds[0]);
    await Promise.all(stepIds.slice(1, -1).map(step));
    await step(stepIds.at(-1)!);
  };

  const cpu0 = process.cpuUsage();
  const server0 = serverCpuMs();
  const t0 = performance.now();
  let next = 0;
  try {
    await Promise.all(
      Array.from({ length: Math.min(parallel, runs) }, async () => {
        while (next < runs) await oneRun(next++);
      }),
    );
  } finally {
    client.off('commandStarted', count);
  }
  const seconds = (performance.now() - t0) / 1000;
  const cpu = process.cpuUsage(cpu0);
  const steps = runs * STEPS_PER_RUN;
  await db.dropDatabase().catch(() => undefined);
  const total = Object.values(ops).reduce((a, b) => a + b, 0);
  return {
    runs,
    steps,
    seconds: round(seconds, 2),
    stepsPerSecond: round(steps / seconds),
    mongoOpsPerStep: round(total / steps, 2),
    mongoOpsByCommand: Object.fromEntries(Object.entries(ops).map(([k, v]) => [k, round(v / steps, 2)])),
    commitsPerRun: round(commits / runs, 1),
    mode,
    commitMode: server.atomicUpdates ? 'one-operation' : 'version-claim',
    storeCpuMsPerStep: round((serverCpuMs() - server0) / steps, 3),
    clientCpuMsPerStep: round((cpu.user + cpu.system) / 1000 / steps, 3),
  };
}
