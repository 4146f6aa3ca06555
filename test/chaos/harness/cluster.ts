/**
 * {@link Cluster}: API and worker processes of the real service (`node main.js --role=api` and
 * `--role=worker`) sharing one queue prefix, one database and the MockAgent's cross-process call
 * log, with the reads a chaos test checks them by.
 */
import { Queue } from 'bullmq';
import { randomBytes } from 'node:crypto';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import Redis from 'ioredis';
import { MongoClient, type Db } from 'mongodb';
import { type MockCallLogEntry } from '../../../src/agents/mock.agent';
import type { JobDocument } from '../../../src/jobs/mongo-job.repository';
import { decodeKeys } from '../../../src/jobs/snapshot-codec';
import { type PersistedJobSnapshot } from '../../../src/lifecycle/job.runtime';
import { STAGES, type JobState, type Stage, type TransitionRecord } from '../../../src/lifecycle/job.types';
import { redisOptionsFromUrl } from '../../../src/queues/redis-connection';
import { pendingStage } from '../../../src/jobs/pending-stage';
import { STAGE_QUEUE, stageMessageId } from '../../../src/queues/stage-queues';
import { Child, FINAL, freePort, poll, TENANT } from './process';

export interface ClusterOptions {
  redisUrl?: string;
  mongoUri?: string;
  /** Extra environment for every process (wins over the defaults). */
  env?: Record<string, string>;
}

/** A job as read back from MongoDB. */
export interface StoredJob {
  id: string;
  state: JobState;
  version: number;
  history: TransitionRecord[];
  error: { code: string; stage: string } | null;
  snapshot: PersistedJobSnapshot;
  body: string;
}

function toStored(d: JobDocument): StoredJob {
  const snapshot = decodeKeys<PersistedJobSnapshot>(d.snapshot);
  return { id: d._id, state: d.state, version: d.version, history: d.history ?? [], error: d.error, snapshot, body: snapshot.context.issue.body };
}

/**
 * API and worker processes sharing one queue prefix, one database and one call log.
 * Defaults: lock 2000 ms, stalled check 1000 ms, sweeper every 1000 ms with 3000 ms grace,
 * agent calls 30 ms, backoff 200 ms, LOG_LEVEL info.
 */
export class Cluster {
  readonly prefix = `chaos_${randomBytes(4).toString('hex')}`;
  readonly dbName = this.prefix;
  readonly callLogKey = `${this.prefix}:calls`;
  readonly redisUrl: string;
  readonly mongoUri: string;
  readonly logDir: string;
  apiPort = 0;
  api?: Child;
  readonly workers: Child[] = [];
  private readonly env: NodeJS.ProcessEnv;
  private redis?: Redis;
  private mongo?: MongoClient;
  private queueObjects?: Queue[];
  private spawned = 0;

  constructor(
    readonly label: string,
    readonly main: string,
    options: ClusterOptions = {},
  ) {
    this.redisUrl = options.redisUrl ?? process.env.REDIS_URL!;
    this.mongoUri = options.mongoUri ?? process.env.MONGODB_URI!;
    this.logDir = fs.mkdtempSync(path.join(os.tmpdir(), `aicd-chaos-${label}-`));
    this.env = {
      PATH: process.env.PATH,
      HOME: process.env.HOME,
      NODE_ENV: 'production',
      REDIS_URL: this.redisUrl,
      MONGODB_URI: this.mongoUri,
      QUEUE_PREFIX: this.prefix,
      MONGODB_DB: this.dbName,
      MOCK_AGENT_CALL_LOG_KEY: this.callLogKey,
      MOCK_AGENT_DELAY_MS: '30',
      STAGE_BACKOFF_MS: '200',
      WORKER_LOCK_DURATION_MS: '2000',
      WORKER_STALLED_INTERVAL_MS: '1000',
      WORKER_MAX_STALLED_COUNT: '1',
      SWEEP_INTERVAL_MS: '1000',
      SWEEP_GRACE_MS: '3000',
      SHUTDOWN_GRACE_MS: '1000',
      ALLOW_TENANT_HEADER: 'true',
      LOG_LEVEL: 'info',
      ...(options.env ?? {}),
    };
  }

  get apiUrl(): string {
    return `http://127.0.0.1:${this.apiPort}`;
  }

  private spawnMain(name: string, args: string[], env: Record<string, string> = {}, options: { detached?: boolean } = {}): Child {
    const n = ++this.spawned;
    return new Child(name, process.execPath, [this.main, ...args], { ...this.env, ...env }, path.join(this.logDir, `${String(n).padStart(3, '0')}-${name}.log`), options);
  }

  /** Starts the API process (`--role=api`) and waits until it answers HTTP. */
  async startApi(env: Record<string, string> = {}): Promise<Child> {
    this.apiPort = this.apiPort || (await freePort());
    this.api = this.spawnMain('api', ['--role=api'], { PORT: String(this.apiPort), ...env });
    await this.api.waitForOutput('listening on', 30_000);
    return this.api;
  }

  /**
   * Starts a worker process (`--role=worker [--stages=…]`) and waits until its workers run.
   * `options.detached`: it leads its own process group, which `kill` signals as a whole.
   */
  async startWorker(stages?: Stage[], env: Record<string, string> = {}, wait = true, options: { detached?: boolean } = {}): Promise<Child> {
    const args = ['--role=worker', ...(stages ? [`--stages=${stages.join(',')}`] : [])];
    const w = this.spawnMain(`worker${this.workers.length + 1}`, args, env, options);
    this.workers.push(w);
    if (wait) await w.waitForOutput('worker running stages', 30_000);
    return w;
  }

  liveWorkers(): Child[] {
    return this.workers.filter((w) => w.alive);
  }

  /** Live workers that finished booting (their workers run). */
  readyWorkers(): Child[] {
    return this.liveWorkers().filter((w) => w.log().includes('worker running stages'));
  }

  /** One HTTP request to the API (X-Tenant-Id with ALLOW_TENANT_HEADER=true). */
  async request(method: string, urlPath: string, body?: unknown, timeoutMs = 10_000): Promise<{ status: number; body: any }> {
    const res = await fetch(`${this.apiUrl}${urlPath}`, {
      method,
      headers: { 'content-type': 'application/json', 'x-tenant-id': TENANT },
      ...(body === undefined ? {} : { body: JSON.stringify(body) }),
      signal: AbortSignal.timeout(timeoutMs),
    });
    const text = await res.text();
    let parsed: unknown = text;
    try {
      parsed = JSON.parse(text);
    } catch {
      /* not JSON */
    }
    return { status: res.status, body: parsed };
  }

  /** Submits a job whose issue body is `body` (mock: directives); retries while the API answers 503. */
  async submit(n: number, body: string, timeoutMs = 30_000): Promise<string> {
    const payload = {
      repositoryId: 'acme/widgets',
      issue: { id: String(n), title: `Chaos issue ${n}`, body, url: `https://github.com/acme/widgets/issues/${n}` },
      idempotencyKey: `chaos-${n}`,
    };
    let last = '';
    return poll(
      async () => {
        const res = await this.request('POST', '/jobs', payload).catch((e: Error) => ({ status: 0, body: e.message }));
        if (res.status === 201 || res.status === 200) return res.body.id as string;
        last = `${res.status} ${JSON.stringify(res.body)}`;
        if (res.status >= 500 || res.status === 0) return undefined; // down or overloaded: retry, same idempotency key
        throw new Error(`POST /jobs → ${last}`);
      },
      timeoutMs,
      () => `job ${n} could not be submitted (last answer: ${last})`,
      200,
    );
  }

  private async db(): Promise<Db> {
    this.mongo ??= await MongoClient.connect(this.mongoUri, { serverSelectionTimeoutMS: 3000 });
    return this.mongo.db(this.dbName);
  }

  private client(): Redis {
    if (!this.redis) {
      this.redis = new Redis({ ...redisOptionsFromUrl(this.redisUrl), maxRetriesPerRequest: 1 });
      this.redis.on('error', () => undefined);
    }
    return this.redis;
  }

  /** Every job of this cluster, read from MongoDB. */
  async jobs(): Promise<StoredJob[]> {
    const docs = await (await this.db()).collection<JobDocument>('jobs').find({}).toArray();
    return docs.map(toStored);
  }

  /** Jobs in one of `states` (e.g. the finished ones). */
  async jobsIn(states: JobState[]): Promise<StoredJob[]> {
    const docs = await (await this.db()).collection<JobDocument>('jobs').find({ state: { $in: states } }).toArray();
    return docs.map(toStored);
  }

  /** Deletes a job document (a test that has checked a finished job keeps the collection small). */
  async deleteJob(id: string): Promise<void> {
    await (await this.db()).collection<JobDocument>('jobs').deleteOne({ _id: id });
  }

  /** How many jobs of this cluster are in one of `states`. */
  async count(states?: JobState[]): Promise<number> {
    return (await this.db()).collection<JobDocument>('jobs').countDocuments(states ? { state: { $in: states } } : {});
  }

  async job(id: string): Promise<StoredJob | undefined> {
    return (await this.jobs()).find((j) => j.id === id);
  }

  /** Waits until job `id` is in one of `states`. */
  async waitForState(id: string, states: JobState[], timeoutMs = 30_000): Promise<StoredJob> {
    return poll(
      async () => {
        const d = await (await this.db()).collection<JobDocument>('jobs').findOne({ _id: id });
        return d && states.includes(d.state) ? (await this.job(id))! : undefined;
      },
      timeoutMs,
      async () => `job ${id} is in ${(await this.job(id).catch(() => undefined))?.state}, wanted ${states.join('|')}`,
    );
  }

  /** The MockAgent's call log (every process), oldest first; from entry `from` on. */
  async calls(from = 0): Promise<MockCallLogEntry[]> {
    return (await this.client().lrange(this.callLogKey, from, -1)).map((l) => JSON.parse(l) as MockCallLogEntry);
  }

  /** Read-only handles on the stage queues (counts). */
  queues(): Queue[] {
    this.queueObjects ??= STAGES.map((s) => {
      const q = new Queue(STAGE_QUEUE[s], { connection: { ...redisOptionsFromUrl(this.redisUrl), maxRetriesPerRequest: 1 } as never, prefix: this.prefix });
      q.on('error', () => undefined);
      return q;
    });
    return this.queueObjects;
  }

  /** Waits until no stage queue has a message waiting, delayed or active (twice in a row). */
  async drain(timeoutMs = 30_000): Promise<void> {
    let quiet = 0;
    const counts = async () =>
      Promise.all(
        this.queues().map(async (q) => {
          const n: Record<string, number> = await q.getJobCounts('wait', 'active', 'delayed', 'prioritized');
          return { q: q.name, wait: n.wait ?? 0, active: n.active ?? 0, delayed: n.delayed ?? 0, prioritized: n.prioritized ?? 0 };
        }),
      );
    await poll(
      async () => {
        const c = await counts();
        const busy = c.some((x) => x.wait + x.active + x.delayed + x.prioritized > 0);
        quiet = busy ? 0 : quiet + 1;
        return quiet >= 2 ? true : undefined;
      },
      timeoutMs,
      async () => `queues still busy: ${JSON.stringify(await counts().catch((e: Error) => e.message))}`,
      200,
    );
  }

  /** Unfinished jobs with their pending stage message's BullMQ state (for failure messages). */
  async diagnose(limit = 20): Promise<string> {
    const open = (await this.jobs()).filter((j) => !FINAL.includes(j.state)).slice(0, limit);
    const lines = await Promise.all(
      open.map(async (j) => {
        const stage = pendingStage({ state: j.state, snapshot: j.snapshot });
        const q = stage ? this.queues()[STAGES.indexOf(stage)] : undefined;
        const m = stage ? await q!.getJob(stageMessageId(j.id, stage, j.version)) : undefined;
        const ms = m ? `${await m.getState()} attemptsMade=${m.attemptsMade} failedReason=${m.failedReason ?? ''}` : 'missing';
        return `${j.id} ${j.state} v${j.version} ${j.history.map((h) => h.event).join(',')} | ${stage}: ${ms}`;
      }),
    );
    return lines.join('\n');
  }

  /** Tail of every process log (for failure messages). */
  logs(chars = 1500): string {
    const files = fs.existsSync(this.logDir) ? fs.readdirSync(this.logDir).sort() : [];
    return files.map((f) => `--- ${f}\n${fs.readFileSync(path.join(this.logDir, f), 'utf8').slice(-chars)}`).join('\n');
  }

  /** Kills every process of the cluster, drops its database and Redis keys, removes the logs. */
  async cleanup(): Promise<void> {
    for (const c of [this.api, ...this.workers]) c?.kill('SIGKILL');
    await Promise.all([this.api, ...this.workers].map((c) => c?.waitExit(5000).catch(() => undefined)));
    await Promise.all((this.queueObjects ?? []).map((q) => q.close().catch(() => undefined)));
    try {
      await (await this.db()).dropDatabase();
    } catch {
      /* the server may be gone (infra tests stop their own) */
    }
    await this.mongo?.close().catch(() => undefined);
    try {
      const redis = this.client();
      let cursor = '0';
      do {
        const [next, keys] = await redis.scan(cursor, 'MATCH', `${this.prefix}:*`, 'COUNT', 1000);
        cursor = next;
        if (keys.length) await redis.del(...keys);
      } while (cursor !== '0');
    } catch {
      /* as above */
    }
    this.redis?.disconnect();
    if (process.env.CHAOS_KEEP_LOGS !== '1') fs.rmSync(this.logDir, { recursive: true, force: true });
  }
}
