/**
 * Chaos harness: runs the real service as separate OS processes (`node main.js --role=api` and
 * `--role=worker`), on loopback only, so tests can kill -9, SIGTERM, SIGSTOP/SIGCONT them, and
 * restart the test's own redis-server and FerretDB.
 *
 * - {@link buildMain} compiles src/ once per content hash into .cache/chaos-dist/<hash> (tsc, the
 *   same compiler `nest build` uses) — a private directory, because `nest build` empties dist/,
 *   which other processes in this tree may be running from. `CHAOS_MAIN=<main.js>` runs another
 *   build instead (e.g. of an older commit, to see a test catch a regression).
 * - {@link Cluster} gives each test its own QUEUE_PREFIX / MONGODB_DB, short BullMQ lock and
 *   stalled intervals, a fast sweeper, and the MockAgent's cross-process call log
 *   (MOCK_AGENT_CALL_LOG_KEY, a Redis list under the prefix). `cleanup()` kills every child and
 *   drops the database and the prefix's Redis keys.
 * - {@link checkJob} proves a job's history is a legal path of the statechart (replayed through
 *   the pure machine) and exactly the path its `mock:` script implies, with one commit per step.
 *
 * Every child is registered in {@link children}; `killEverything()` (afterAll, and process exit)
 * sends SIGKILL to any still alive.
 */
import { Queue } from 'bullmq';
import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
import { createHash, randomBytes } from 'node:crypto';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import Redis from 'ioredis';
import { MongoClient, type Db } from 'mongodb';
import { parseMockScript, type MockCallLogEntry } from '../../src/agents/mock.agent';
import type { JobDocument } from '../../src/jobs/mongo-job.repository';
import { decodeKeys } from '../../src/jobs/snapshot-codec';
import { applyEvent, createJobSnapshot, runStage, stateOf, type PersistedJobSnapshot } from '../../src/lifecycle/job.runtime';
import { STAGES, type JobLimits, type JobState, type Stage, type TransitionRecord } from '../../src/lifecycle/job.types';
import { redisOptionsFromUrl } from '../../src/queues/redis-connection';
import { pendingStage } from '../../src/jobs/pending-stage';
import { STAGE_QUEUE, stageMessageId } from '../../src/queues/stage-queues';
import { machineFor, ok } from '../support/machine-drivers';
import { freePort } from '../../scripts/lib/free-port';

export const ROOT = path.resolve(__dirname, '..', '..');
export const TENANT = 'chaos';
export const FINAL: JobState[] = ['COMPLETED', 'FAILED', 'CANCELLED'];

export const sleep = (ms: number) => new Promise<void>((r) => setTimeout(r, ms));

/** Polls `check` every `everyMs` until it returns a value; throws after `timeoutMs` with `describe()`. */
export async function poll<T>(check: () => Promise<T | undefined>, timeoutMs: number, describe: () => Promise<string> | string, everyMs = 100): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    let value: T | undefined;
    try {
      value = await check();
    } catch {
      value = undefined; // a dependency may be down on purpose; keep polling
    }
    if (value !== undefined) return value;
    if (Date.now() > deadline) throw new Error(`timed out after ${timeoutMs} ms: ${await describe()}`);
    await sleep(everyMs);
  }
}

export { freePort };

/* ------------------------------------------------------------------------------------------ */
/* build                                                                                        */
/* ------------------------------------------------------------------------------------------ */

function sourceHash(): string {
  const h = createHash('sha256');
  const walk = (dir: string) => {
    for (const e of fs.readdirSync(dir, { withFileTypes: true }).sort((a, b) => a.name.localeCompare(b.name))) {
      const p = path.join(dir, e.name);
      if (e.isDirectory()) walk(p);
      else if (e.name.endsWith('.ts')) h.update(p).update(fs.readFileSync(p));
    }
  };
  walk(path.join(ROOT, 'src'));
  for (const f of ['tsconfig.json', 'tsconfig.build.json']) h.update(fs.readFileSync(path.join(ROOT, f)));
  return h.digest('hex').slice(0, 16);
}

/**
 * Compiles src/ with `tsc -p tsconfig.build.json` into .cache/chaos-dist/<hash of src> unless that
 * build exists, and returns its main.js. Atomic (temp dir + rename), so parallel runs are safe.
 */
export function buildMain(): string {
  if (process.env.CHAOS_MAIN) return path.resolve(process.env.CHAOS_MAIN); // e.g. an older build, to see a test catch a regression
  const base = path.join(ROOT, '.cache', 'chaos-dist');
  const out = path.join(base, sourceHash());
  const main = path.join(out, 'main.js');
  if (fs.existsSync(main)) return main;
  fs.mkdirSync(base, { recursive: true });
  const tmp = path.join(base, `.tmp-${process.pid}-${randomBytes(3).toString('hex')}`);
  const started = Date.now();
  const res = spawnSync(process.execPath, [path.join(ROOT, 'node_modules', 'typescript', 'bin', 'tsc'), '-p', 'tsconfig.build.json', '--outDir', tmp], {
    cwd: ROOT,
    encoding: 'utf8',
  });
  if (res.status !== 0) {
    fs.rmSync(tmp, { recursive: true, force: true });
    throw new Error(`tsc failed (${res.status ?? res.signal}):\n${res.stdout}\n${res.stderr}`);
  }
  try {
    fs.renameSync(tmp, out);
  } catch {
    fs.rmSync(tmp, { recursive: true, force: true }); // another run built the same sources
  }
  // Builds of older sources: remove those not touched for an hour.
  for (const d of fs.readdirSync(base)) {
    const p = path.join(base, d);
    if (p !== out && Date.now() - fs.statSync(p).mtimeMs > 3600_000) fs.rmSync(p, { recursive: true, force: true });
  }
  console.log(`chaos: compiled src/ into ${path.relative(ROOT, out)} in ${Date.now() - started} ms`);
  return main;
}

/* ------------------------------------------------------------------------------------------ */
/* child processes                                                                              */
/* ------------------------------------------------------------------------------------------ */

/** Every child started by the harness, so nothing outlives the tests. */
export const children = new Set<Child>();

/** SIGKILLs every child still alive (afterAll, and on process exit as a safety net). */
export function killEverything(): void {
  for (const c of children) c.kill('SIGKILL');
}
process.once('exit', killEverything);

/** One child process whose stdout/stderr go to `logFile`. */
export class Child {
  readonly proc: ChildProcess;
  readonly exited: Promise<{ code: number | null; signal: NodeJS.Signals | null }>;
  exit?: { code: number | null; signal: NodeJS.Signals | null };
  readonly startedAt = Date.now();

  constructor(
    readonly name: string,
    cmd: string,
    args: string[],
    env: NodeJS.ProcessEnv,
    readonly logFile: string,
    /** Opt-in: the child leads its own process group, and `kill` signals the whole group. */
    readonly options: { detached?: boolean } = {},
  ) {
    fs.mkdirSync(path.dirname(logFile), { recursive: true });
    const fd = fs.openSync(logFile, 'a');
    try {
      this.proc = spawn(cmd, args, { cwd: ROOT, env, stdio: ['ignore', fd, fd], ...(options.detached ? { detached: true } : {}) });
    } finally {
      fs.closeSync(fd);
    }
    children.add(this);
    this.exited = new Promise((resolve) => {
      this.proc.once('exit', (code, signal) => {
        this.exit = { code, signal };
        children.delete(this);
        resolve(this.exit);
      });
      this.proc.once('error', () => {
        this.exit = { code: null, signal: null };
        children.delete(this);
        resolve(this.exit);
      });
    });
  }

  get pid(): number {
    return this.proc.pid!;
  }

  get alive(): boolean {
    return this.exit === undefined;
  }

  kill(signal: NodeJS.Signals): void {
    if (!this.alive) return;
    if (this.options.detached) {
      try {
        process.kill(-this.pid, signal); // its whole process group
        return;
      } catch {
        /* the group is gone: fall through */
      }
    }
    this.proc.kill(signal);
  }

  log(): string {
    try {
      return fs.readFileSync(this.logFile, 'utf8');
    } catch {
      return '';
    }
  }

  /** Resolves when `text` appears in the child's output; throws if it exits first or after `timeoutMs`. */
  async waitForOutput(text: string, timeoutMs = 20_000): Promise<void> {
    await poll(
      async () => {
        if (this.log().includes(text)) return true;
        if (!this.alive) throw new Error('exited');
        return undefined;
      },
      timeoutMs,
      () => `${this.name} (pid ${this.pid}, ${this.alive ? 'alive' : `exited ${JSON.stringify(this.exit)}`}) never printed "${text}":\n${this.log().slice(-3000)}`,
      50,
    ).catch((e: Error) => {
      throw new Error(e.message.startsWith('timed out') ? e.message : `${this.name} exited before "${text}":\n${this.log().slice(-3000)}`);
    });
  }

  /** Waits for the process to exit (hard timeout). */
  async waitExit(timeoutMs = 20_000): Promise<{ code: number | null; signal: NodeJS.Signals | null }> {
    let timer: NodeJS.Timeout | undefined;
    try {
      return await Promise.race([
        this.exited,
        new Promise<never>((_, reject) => {
          timer = setTimeout(() => reject(new Error(`${this.name} (pid ${this.pid}) did not exit within ${timeoutMs} ms:\n${this.log().slice(-2000)}`)), timeoutMs);
        }),
      ]);
    } finally {
      clearTimeout(timer);
    }
  }
}

/* ------------------------------------------------------------------------------------------ */
/* the test's own redis-server and FerretDB                                                     */
/* ------------------------------------------------------------------------------------------ */

async function redisAnswers(url: string): Promise<boolean> {
  const c = new Redis(url, { lazyConnect: true, connectTimeout: 500, maxRetriesPerRequest: 0, retryStrategy: () => null });
  c.on('error', () => undefined);
  try {
    await c.connect();
    return (await c.ping()) === 'PONG';
  } catch {
    return false;
  } finally {
    c.disconnect();
  }
}

async function mongoAnswers(uri: string): Promise<boolean> {
  const c = new MongoClient(uri, { serverSelectionTimeoutMS: 500, connectTimeoutMS: 500 });
  try {
    await c.db('admin').command({ ping: 1 });
    return true;
  } catch {
    return false;
  } finally {
    await c.close().catch(() => undefined);
  }
}

/** A redis-server on its own port and data dir; `restart` keeps both. */
export class RedisServer {
  child?: Child;
  readonly url: string;
  private constructor(
    readonly port: number,
    readonly dir: string,
    readonly aof: boolean,
  ) {
    this.url = `redis://127.0.0.1:${port}`;
  }

  static async start(aof: boolean): Promise<RedisServer> {
    const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'aicd-chaos-redis-'));
    const s = new RedisServer(await freePort(), dir, aof);
    await s.up();
    return s;
  }

  async up(): Promise<void> {
    const args = ['--port', String(this.port), '--bind', '127.0.0.1', '--dir', this.dir, '--save', '', '--appendonly', this.aof ? 'yes' : 'no', '--appendfsync', 'everysec'];
    this.child = new Child(`redis:${this.port}`, 'redis-server', args, process.env, path.join(this.dir, 'redis.log'));
    await poll(async () => ((await redisAnswers(this.url)) ? true : undefined), 10_000, () => `redis-server did not start:\n${this.child!.log()}`, 50);
  }

  async down(signal: NodeJS.Signals): Promise<void> {
    this.child?.kill(signal);
    await this.child?.waitExit(10_000);
  }

  async stop(): Promise<void> {
    await this.down('SIGKILL').catch(() => undefined);
    fs.rmSync(this.dir, { recursive: true, force: true });
  }
}

/** `redis-server` on PATH, or undefined. */
export function findRedisServer(): string | undefined {
  return (process.env.PATH ?? '')
    .split(path.delimiter)
    .map((d) => path.join(d, 'redis-server'))
    .find((p) => {
      try {
        fs.accessSync(p, fs.constants.X_OK);
        return true;
      } catch {
        return false;
      }
    });
}

/** The FerretDB binary: $FERRETDB_BIN, else the build cache of scripts/build-ferretdb.sh; undefined if neither. */
export function findFerretdb(): string | undefined {
  const candidates = [
    process.env.FERRETDB_BIN,
    path.join(process.env.AICD_CACHE_DIR || path.join(os.homedir(), '.cache', 'aicd-orchestrator'), 'ferretdb-v1.24.2', 'ferretdb'),
  ];
  return candidates.find((c): c is string => !!c && fs.existsSync(c));
}

/** FerretDB (SQLite handler) on its own port and data dir; `restart` keeps both. */
export class FerretServer {
  child?: Child;
  readonly uri: string;
  private constructor(
    readonly bin: string,
    readonly port: number,
    readonly dir: string,
  ) {
    this.uri = `mongodb://127.0.0.1:${port}/`;
  }

  static async start(bin: string): Promise<FerretServer> {
    const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'aicd-chaos-ferretdb-'));
    const s = new FerretServer(bin, await freePort(), dir);
    await s.up();
    return s;
  }

  async up(): Promise<void> {
    const args = [
      '--handler=sqlite',
      // WAL with synchronous=normal: a commit survives the server's own crash (kill -9), only not
      // a power loss; FULL would fsync every write, which makes a CI disk the bottleneck.
      `--sqlite-url=file:${this.dir}/?_pragma=synchronous(normal)`,
      `--listen-addr=127.0.0.1:${this.port}`,
      `--state-dir=${this.dir}`,
      process.env.CHAOS_FERRETDB_DEBUG_ADDR ? `--debug-addr=${process.env.CHAOS_FERRETDB_DEBUG_ADDR}` : '--debug-addr=-',
      '--telemetry=disable',
      '--log-level=error',
    ];
    this.child = new Child(`ferretdb:${this.port}`, this.bin, args, process.env, path.join(this.dir, 'ferretdb.log'));
    await poll(async () => ((await mongoAnswers(this.uri)) ? true : undefined), 20_000, () => `FerretDB did not start:\n${this.child!.log()}`, 100);
  }

  async down(signal: NodeJS.Signals): Promise<void> {
    this.child?.kill(signal);
    await this.child?.waitExit(10_000);
  }

  async stop(): Promise<void> {
    await this.down('SIGKILL').catch(() => undefined);
    fs.rmSync(this.dir, { recursive: true, force: true });
  }
}

/* ------------------------------------------------------------------------------------------ */
/* the cluster                                                                                  */
/* ------------------------------------------------------------------------------------------ */

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

/* ------------------------------------------------------------------------------------------ */
/* what a job's script implies, and checking its history                                        */
/* ------------------------------------------------------------------------------------------ */

/** The final state and exact event sequence a job with this issue body must have (no cancel, no deadline). */
export function expectedPath(body: string, maxReviewRounds = 3): { final: JobState; events: string[]; errorCode?: string } {
  const s = parseMockScript(body);
  const events = ['START_PLANNING'];
  const failed = (event: string) => ({ final: 'FAILED' as const, events: [...events, event], errorCode: 'MOCK_PERMANENT_FAILURE' });
  if (s.fail.includes('planning')) return failed('PLAN_FAILED');
  events.push('PLAN_SUCCEEDED');
  for (let round = 1; ; round++) {
    if (s.fail.includes('coding')) return failed('CODE_FAILED');
    events.push('CODE_SUCCEEDED');
    if (s.fail.includes('reviewing')) return failed('REVIEW_FAILED');
    if (round <= s.rejections) {
      events.push('REVIEW_REJECTED');
      if (round >= maxReviewRounds) return { final: 'FAILED', events, errorCode: 'REVIEW_ROUNDS_EXCEEDED' };
      continue;
    }
    events.push('REVIEW_APPROVED');
    break;
  }
  if (s.fail.includes('pr-open')) return failed('PR_FAILED');
  return { final: 'COMPLETED', events: [...events, 'PR_OPENED'] };
}

const STAGE_OF_EVENT: Record<string, { stage: Stage; behaviour: Parameters<typeof machineFor>[1] }> = {
  PLAN_SUCCEEDED: { stage: 'planning', behaviour: ok.planning },
  CODE_SUCCEEDED: { stage: 'coding', behaviour: ok.coding },
  REVIEW_APPROVED: { stage: 'reviewing', behaviour: ok.approve },
  REVIEW_REJECTED: { stage: 'reviewing', behaviour: ok.reject },
  PR_OPENED: { stage: 'pr-open', behaviour: ok.pr },
  PLAN_FAILED: { stage: 'planning', behaviour: { fault: { retryable: false } } },
  CODE_FAILED: { stage: 'coding', behaviour: { fault: { retryable: false } } },
  REVIEW_FAILED: { stage: 'reviewing', behaviour: { fault: { retryable: false } } },
  PR_FAILED: { stage: 'pr-open', behaviour: { fault: { retryable: false } } },
};

/**
 * Replays `history` through the pure statechart from a fresh QUEUED snapshot with the job's
 * limits: external events with `applyEvent`, stage results by running the stage with an actor
 * that gives that result. Each step must start where the previous ended, be accepted, take
 * exactly one transition and land where the history says.
 * @returns the problems found (empty: a legal path of the machine).
 */
export async function replayHistory(history: TransitionRecord[], limits: JobLimits): Promise<string[]> {
  let snap = createJobSnapshot({ jobId: 'replay', tenantId: 't', repositoryId: 'o/r', issue: { id: '1', title: 't', body: '', url: 'u' }, limits }).snapshot;
  const problems: string[] = [];
  for (const [i, h] of history.entries()) {
    const at = stateOf(snap);
    if (h.from !== at) {
      problems.push(`#${i} ${h.from}-${h.event}->${h.to}: machine is in ${at}`);
      break;
    }
    try {
      const staged = STAGE_OF_EVENT[h.event];
      let transitions;
      if (staged) {
        const run = await runStage(machineFor(staged.stage, staged.behaviour), snap, staged.stage);
        if (run.kind !== 'advanced') throw new Error('stage asked for a retry');
        ({ snapshot: snap, transitions } = run);
      } else {
        const event =
          h.event === 'MARK_FAILED' ? { type: 'MARK_FAILED' as const, error: { code: 'X', message: 'x', stage: 'lifecycle' as const } } : ({ type: h.event } as never);
        ({ snapshot: snap, transitions } = applyEvent(snap, event));
      }
      const t = transitions.map((x) => `${x.from}-${x.event}->${x.to}`).join(', ');
      if (transitions.length !== 1 || transitions[0].event !== h.event || transitions[0].to !== h.to) {
        problems.push(`#${i} ${h.from}-${h.event}->${h.to}: the machine took [${t}]`);
        break;
      }
    } catch (e) {
      problems.push(`#${i} ${h.from}-${h.event}->${h.to}: refused (${(e as Error).message})`);
      break;
    }
  }
  return problems;
}

/** Why a job is not what its script implies: `lost` (not in its final state) or `doubleApplied`. */
export interface JobVerdict {
  lost: boolean;
  doubleApplied: boolean;
  problems: string[];
}

/**
 * Checks a finished job against its script: final state and error code; history a legal path of
 * the machine (replay); history exactly the script's event sequence (so no step twice) and the
 * version equal to the number of commits that sequence needs (one per step; the worker commits
 * START_PLANNING with the planning result).
 */
export async function checkJob(job: StoredJob): Promise<JobVerdict> {
  const limits = job.snapshot.context.limits;
  const want = expectedPath(job.body, limits.maxReviewRounds);
  const problems: string[] = [];
  const lost = job.state !== want.final || (want.errorCode !== undefined && job.error?.code !== want.errorCode);
  if (lost) problems.push(`state ${job.state} (${job.error?.code ?? 'no error'}), script implies ${want.final} (${want.errorCode ?? 'no error'})`);
  const legal = await replayHistory(job.history, limits);
  problems.push(...legal.map((p) => `illegal history: ${p}`));
  const got = job.history.map((h) => h.event);
  const extra = got.length > want.events.length || want.events.some((e, i) => got[i] !== undefined && got[i] !== e);
  const wantVersion = want.events.length - 1;
  if (extra) problems.push(`history ${got.join(',')} ≠ script ${want.events.join(',')}`);
  if (job.version > wantVersion) problems.push(`version ${job.version} > ${wantVersion} commits the script needs`);
  const doubleApplied = legal.length > 0 || extra || job.version > wantVersion;
  if (!lost && !doubleApplied && (got.length !== want.events.length || job.version !== wantVersion)) {
    problems.push(`history/version incomplete: ${got.join(',')} v${job.version}`);
  }
  return { lost, doubleApplied, problems };
}

/** Agent calls started more than once with the same idempotency key (job, stage, attempt, round). */
export function redeliveries(calls: MockCallLogEntry[]): number {
  const starts = new Map<string, number>();
  for (const c of calls) if (c.phase === 'start') starts.set(c.key, (starts.get(c.key) ?? 0) + 1);
  return [...starts.values()].reduce((n, k) => n + k - 1, 0);
}
