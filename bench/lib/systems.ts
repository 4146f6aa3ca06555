import type { INestApplication } from '@nestjs/common';
import { Queue, QueueEvents } from 'bullmq';
import type { Db, MongoClient } from 'mongodb';
import * as path from 'node:path';
import { performance } from 'node:perf_hooks';
import { sleep } from './measure';
import { WorkerProcess, type WorkerStats } from './workers';

const ROOT = path.resolve(__dirname, '..', '..');
const DIST = path.join(ROOT, 'dist');

/** Settings shared by both systems. */
export interface SystemOptions {
  redisUrl: string;
  /** Per-stage worker concurrency (both systems). */
  concurrency: number;
  /** Extra environment for the worker processes. */
  env: NodeJS.ProcessEnv;
}

/** Something the bench can drive: lifecycles in, completions out. */
export interface BenchSystem {
  readonly name: string;
  /** The queues whose completed messages can end a lifecycle (see {@link lifecycleOf}). */
  readonly completionQueues: Queue[];
  /** Starts one lifecycle. @returns its key (see {@link lifecycleOf}). */
  submit(i: number): Promise<string>;
  /** The lifecycle key of a completed message of {@link completionQueues}, or undefined when it does not end one. */
  lifecycleOf(messageId: string, returnvalue: unknown): string | undefined;
  /** Spawns `n` worker processes and waits until they run. */
  startWorkers(n: number): Promise<WorkerProcess[]>;
  stopWorkers(): Promise<void>;
  workers: WorkerProcess[];
  /** Forgets the previous repetition's completed messages (and documents), so each one starts alike. */
  reset(): Promise<void>;
  /** MongoDB commands this (producer) process sent, by name. */
  producerMongoOps(): Record<string, number>;
  /** Lifecycles that reached their final state, checked in the store (not the queue). */
  verifyCompleted(): Promise<number>;
  close(): Promise<void>;
}

function redisConnection(url: string) {
  const u = new URL(url);
  return { host: u.hostname, port: Number(u.port || 6379), db: Number(u.pathname.slice(1) || 0) };
}

/** Creates a QueueEvents on `queue` and waits until it reads. */
export async function queueEvents(queue: Queue, redisUrl: string): Promise<QueueEvents> {
  const ev = new QueueEvents(queue.name, { connection: redisConnection(redisUrl), prefix: queue.opts.prefix, autorun: true });
  await ev.waitUntilReady();
  return ev;
}

/**
 * Counts finished lifecycles from the `completed` events of a system's completion queues (one
 * QueueEvents each), calling `onDone(key, at)` once per lifecycle, `at` from performance.now().
 */
export class Completions {
  readonly done = new Set<string>();
  private constructor(private readonly events: QueueEvents[]) {}

  static async open(system: BenchSystem, redisUrl: string, onDone?: (key: string, at: number) => void): Promise<Completions> {
    const events = await Promise.all(system.completionQueues.map((q) => queueEvents(q, redisUrl)));
    const c = new Completions(events);
    for (const ev of events) {
      ev.on('completed', ({ jobId, returnvalue }) => {
        const key = system.lifecycleOf(jobId, returnvalue);
        if (!key || c.done.has(key)) return;
        c.done.add(key);
        onDone?.(key, performance.now());
      });
    }
    return c;
  }

  get count(): number {
    return this.done.size;
  }

  async close(): Promise<void> {
    await Promise.all(this.events.map((e) => e.close()));
  }
}

/**
 * Empties the queues between repetitions: drops what still waits (a repetition that hit its time
 * limit), lets running messages finish, then removes completed and failed messages.
 */
async function clean(queues: Queue[]): Promise<void> {
  const deadline = Date.now() + 60_000;
  let quiet = 0;
  while (quiet < 3 && Date.now() < deadline) {
    for (const q of queues) await q.drain(true);
    await sleep(150);
    const counts = await Promise.all(queues.map((q) => q.getJobCounts('active', 'wait', 'delayed', 'prioritized')));
    quiet = counts.every((c) => Object.values(c).every((n) => n === 0)) ? quiet + 1 : 0;
  }
  for (const q of queues) {
    for (const type of ['completed', 'failed'] as const) {
      for (;;) {
        const removed = await q.clean(0, 5000, type);
        if (removed.length < 5000) break;
      }
    }
  }
}

/** The raw BullMQ chain: `stages` no-op stages, each adding the message to the next. */
export class BaselineSystem implements BenchSystem {
  readonly name: string;
  readonly queues: Queue[];
  readonly lastQueue: Queue;
  readonly completionQueues: Queue[];
  workers: WorkerProcess[] = [];
  private readonly jobOptions = {
    attempts: 3,
    backoff: { type: 'exponential', delay: 1000 },
    removeOnComplete: { age: 24 * 3600, count: 10_000 },
    removeOnFail: false,
  };
  private seq = 0;

  constructor(
    readonly prefix: string,
    readonly stages: number,
    private readonly opts: SystemOptions,
  ) {
    this.name = `raw BullMQ ${stages}-stage chain`;
    const connection = redisConnection(opts.redisUrl);
    this.queues = Array.from({ length: stages }, (_, k) => new Queue(`s${k + 1}`, { connection, prefix }));
    this.lastQueue = this.queues[stages - 1];
    this.completionQueues = [this.lastQueue];
  }

  async submit(): Promise<string> {
    const id = `l${this.seq++}`;
    await this.queues[0].add('s1', { id, tenantId: 'bench', stage: 's1', version: 0 }, { ...this.jobOptions, jobId: `${id}-s1-0` });
    return id;
  }

  lifecycleOf(messageId: string): string | undefined {
    return messageId.replace(/-s\d+-\d+$/, '');
  }

  async startWorkers(n: number): Promise<WorkerProcess[]> {
    const env = {
      ...process.env,
      ...this.opts.env,
      REDIS_URL: this.opts.redisUrl,
      QUEUE_PREFIX: this.prefix,
      BENCH_CHAIN_STAGES: String(this.stages),
      BENCH_CONCURRENCY: String(this.opts.concurrency),
    };
    this.workers = Array.from({ length: n }, (_, i) => new WorkerProcess(`baseline#${i + 1}`, path.join(__dirname, 'baseline-worker.cjs'), [], env));
    await Promise.all(this.workers.map((w) => w.ready('baseline worker running')));
    return this.workers;
  }

  async stopWorkers(): Promise<void> {
    await Promise.all(this.workers.map((w) => w.stop()));
    this.workers = [];
  }

  async reset(): Promise<void> {
    await clean(this.queues);
  }

  producerMongoOps(): Record<string, number> {
    return {};
  }

  async verifyCompleted(): Promise<number> {
    return (await this.lastQueue.getJobCounts('completed')).completed;
  }

  async close(): Promise<void> {
    await this.stopWorkers();
    for (const q of this.queues) {
      await q.obliterate({ force: true }).catch(() => undefined);
      await q.close();
    }
  }
}

type Bootstrap = typeof import('../../src/bootstrap');
type JobsServiceModule = typeof import('../../src/jobs/jobs.service');
type MongoModuleModule = typeof import('../../src/jobs/mongo.module');
type StageQueuesModule = typeof import('../../src/queues/stage-queues');
type JobTypesModule = typeof import('../../src/lifecycle/job.types');
type JobRepositoryModule = typeof import('../../src/jobs/job.repository');
type JobRecordType = import('../../src/jobs/job.record').JobRecord;

/** Appends `monitorCommands=true` to a MongoDB URI (driver command monitoring, for counting). */
export function monitoredUri(uri: string): string {
  const u = new URL(uri);
  u.searchParams.set('monitorCommands', 'true');
  return u.toString();
}

/**
 * The orchestrator: worker processes are `node dist/main.js --role=worker` (all stages); the bench
 * process submits through the real JobsService of a producer-only app (no API, no workers).
 */
export class OrchestratorSystem implements BenchSystem {
  readonly name = 'orchestrator';
  readonly queues: Queue[];
  /** Every stage queue: with continuation, the delivery that ends a lifecycle can be any stage's. */
  readonly completionQueues: Queue[];
  workers: WorkerProcess[] = [];
  /** The MockAgent's delay per call in the worker processes started next, ms (0: no-op stages). */
  agentDelayMs = 0;
  private app?: INestApplication;
  private jobsService?: InstanceType<JobsServiceModule['JobsService']>;
  private mongo?: MongoClient;
  private readonly mongoOps: Record<string, number> = {};

  constructor(
    readonly prefix: string,
    readonly dbName: string,
    readonly mongoUri: string,
    private readonly opts: SystemOptions,
  ) {
    const { STAGES } = require(path.join(DIST, 'lifecycle/job.types')) as JobTypesModule;
    const { STAGE_QUEUE } = require(path.join(DIST, 'queues/stage-queues')) as StageQueuesModule;
    const connection = redisConnection(opts.redisUrl);
    this.queues = STAGES.map((s) => new Queue(STAGE_QUEUE[s], { connection, prefix }));
    this.completionQueues = this.queues;
  }

  private workerEnv(): Record<string, string> {
    const c = String(this.opts.concurrency);
    return {
      REDIS_URL: this.opts.redisUrl,
      MONGODB_URI: monitoredUri(this.mongoUri),
      MONGODB_DB: this.dbName,
      QUEUE_PREFIX: this.prefix,
      MOCK_AGENT_DELAY_MS: String(this.agentDelayMs),
      LOG_LEVEL: 'warn',
      CONCURRENCY_PLANNING: c,
      CONCURRENCY_CODING: c,
      CONCURRENCY_REVIEWING: c,
      CONCURRENCY_PR_OPEN: c,
    };
  }

  /** Creates the producer app (in this process) and its MongoDB client. */
  async init(): Promise<void> {
    require('reflect-metadata');
    const { createApp } = require(path.join(DIST, 'bootstrap')) as Bootstrap;
    const { JobsService } = require(path.join(DIST, 'jobs/jobs.service')) as JobsServiceModule;
    const { MONGO_CLIENT } = require(path.join(DIST, 'jobs/mongo.module')) as MongoModuleModule;
    this.app = await createApp({ api: false, stages: [], sweeper: false, env: { ...this.workerEnv(), SWEEP_INTERVAL_MS: '0' } });
    await this.app.init();
    this.jobsService = this.app.get(JobsService);
    this.mongo = this.app.get<MongoClient>(MONGO_CLIENT);
    this.mongo.on('commandStarted', (e) => (this.mongoOps[e.commandName] = (this.mongoOps[e.commandName] ?? 0) + 1));
  }

  async submit(i: number): Promise<string> {
    const { job } = await this.jobsService!.submit('bench', {
      repositoryId: 'acme/widgets',
      issue: { id: String(i), title: `Issue ${i}: fix the widget`, body: 'The widget breaks when clicked twice.', url: `https://github.com/acme/widgets/issues/${i}` },
    });
    return job.id;
  }

  /** The job id when the delivery's last commit left the job COMPLETED (its StageResult). */
  lifecycleOf(_messageId: string, returnvalue: unknown): string | undefined {
    let r = returnvalue as { outcome?: string; state?: string; jobId?: string } | null;
    if (typeof returnvalue === 'string') {
      try {
        r = JSON.parse(returnvalue) as typeof r;
      } catch {
        return undefined;
      }
    }
    return r?.outcome === 'committed' && r.state === 'COMPLETED' ? r.jobId : undefined;
  }

  async startWorkers(n: number): Promise<WorkerProcess[]> {
    const env = { ...process.env, ...this.opts.env, ...this.workerEnv(), BENCH_MONGO_MONITOR: '1' };
    this.workers = Array.from(
      { length: n },
      (_, i) => new WorkerProcess(`orchestrator#${i + 1}`, path.join(DIST, 'main.js'), ['--role=worker'], env),
    );
    await Promise.all(this.workers.map((w) => w.ready('worker running stages')));
    return this.workers;
  }

  async stopWorkers(): Promise<void> {
    await Promise.all(this.workers.map((w) => w.stop()));
    this.workers = [];
  }

  private collection() {
    return this.mongo!.db(this.dbName).collection('jobs');
  }

  async reset(): Promise<void> {
    await clean(this.queues);
    // Keeps the finished jobs of the prefilled repetitions (bench/lib/prefill.ts).
    const r = await this.collection().deleteMany({ benchPrefill: { $exists: false } });
    if (process.env.BENCH_DEBUG) process.stderr.write(`[bench] reset ${this.name}: deleted ${r.deletedCount}, left ${await this.collection().countDocuments()} (db ${this.dbName})\n`);
  }

  producerMongoOps(): Record<string, number> {
    return { ...this.mongoOps };
  }

  /** The orchestrator's database (as its workers use it). */
  get db(): Db {
    return this.mongo!.db(this.dbName);
  }

  /** The producer's MongoDB client (command monitoring on). */
  get mongoClient(): MongoClient {
    return this.mongo!;
  }

  /**
   * Submits one lifecycle and waits until it is COMPLETED (the workers must run).
   * @returns its stored record. @throws Error after 60 s.
   */
  async sampleCompleted(): Promise<JobRecordType> {
    const { JobRepository } = require(path.join(DIST, 'jobs/job.repository')) as JobRepositoryModule;
    const repo = this.app!.get(JobRepository);
    const id = await this.submit(999_999);
    const deadline = Date.now() + 60_000;
    for (;;) {
      const job = await repo.findById(id);
      if (job?.state === 'COMPLETED') return job;
      if (Date.now() > deadline) throw new Error(`sample lifecycle ${id} not COMPLETED after 60 s (${job?.state})`);
      await sleep(50);
    }
  }

  async verifyCompleted(): Promise<number> {
    return this.collection().countDocuments({ state: 'COMPLETED' });
  }

  async dbStats(): Promise<{ objects: number; dataSize: number; storageSize: number; totalSize?: number }> {
    const s = await this.mongo!.db(this.dbName).command({ dbStats: 1 });
    return { objects: s.objects, dataSize: s.dataSize, storageSize: s.storageSize, totalSize: s.totalSize };
  }

  /** `ferretdbVersion`: FerretDB v1's own field, or v2's `ferretdb.version` (see src/jobs/store-server.ts). */
  async buildInfo(): Promise<{ version: string; ferretdbVersion?: string }> {
    const info = (await this.mongo!.db('admin').command({ buildInfo: 1 })) as unknown as { version: string; ferretdbVersion?: string; ferretdb?: { version?: string } };
    return { version: info.version, ...(info.ferretdbVersion ?? info.ferretdb?.version ? { ferretdbVersion: info.ferretdbVersion ?? info.ferretdb?.version } : {}) };
  }

  /** The MongoDB-wire server's pid (serverStatus), to read its CPU time when it runs on this host. */
  async serverPid(): Promise<number | undefined> {
    try {
      const s = await this.mongo!.db('admin').command({ serverStatus: 1 });
      return typeof s.pid === 'number' ? s.pid : Number(s.pid) || undefined;
    } catch {
      return undefined;
    }
  }

  async close(): Promise<void> {
    await this.stopWorkers();
    await this.mongo?.db(this.dbName).dropDatabase().catch(() => undefined);
    for (const q of this.queues) {
      await q.obliterate({ force: true }).catch(() => undefined);
      await q.close();
    }
    await this.app?.close();
  }
}

export type { WorkerStats };
