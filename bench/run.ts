/**
 * `npm run bench`: the orchestrator against a raw-BullMQ chain, on the same Redis and
 * MongoDB-wire server, same process layout (this process submits, N worker processes work).
 * Writes bench/results/<date>.json and prints a markdown table. See BENCHMARKS.md.
 *
 * Needs `nest build` first (npm run bench does it): the worker processes are `node dist/main.js
 * --role=worker`, and this process loads the producer from dist/ (tsx does not emit decorator
 * metadata, so Nest classes are never loaded from src/ here).
 *
 * Env (defaults fit the whole run in < 10 minutes on 2 cores):
 *   BENCH_STORE=postgresql  the MongoDB-wire server: a private FerretDB (built by scripts/build-ferretdb.sh,
 *                           or BENCH_FERRETDB_BIN) on a fresh PostgreSQL database at BENCH_POSTGRES_URL
 *                           (default postgres://postgres@127.0.0.1:5432/postgres; the default store when psql reaches it);
 *                           `sqlite`: the same FerretDB on SQLite files (the default when PostgreSQL is not there);
 *                           `uri`: the server at MONGODB_URI (e.g. a real MongoDB)
 *   BENCH_FERRETDB_SQLITE_PARAMS=…  appended to the SQLite backend's --sqlite-url, e.g. '?_pragma=synchronous(normal)'
 *   REDIS_URL (only with BENCH_DEDICATED_REDIS=0)
 *   BENCH_RUNS=3            repetitions; every figure is the median
 *   BENCH_N=5000            lifecycles per saturated repetition (≤ 10000: BullMQ keeps 10000 completed)
 *   BENCH_SAT_MAX_S=30      a saturated repetition stops after this long; throughput = completed / elapsed
 *   BENCH_CONCURRENCY=16    per-stage worker concurrency, both systems
 *   BENCH_SUBMIT_PARALLEL=64  submissions in flight in the saturated phase
 *   BENCH_RATE=100 BENCH_DURATION_S=20   open-loop latency phase; BENCH_DRAIN_S=10 s more for stragglers
 *                           (an overloaded system's latency covers the lifecycles done by then; the count is reported)
 *   BENCH_CHAIN_STAGES=5    stages of the raw chain the ratios use; BENCH_CHAIN_ALSO=4 adds a like-for-like chain
 *                           (4 queue hops, as a lifecycle; saturated phase only), '' for none
 *   BENCH_PROCS=1,2         worker-process counts for the saturated phase (latency runs on the first); '' = volume phase only
 *   BENCH_VOLUME_JOBS=100000 BENCH_VOLUME_SECONDS=60 BENCH_VOLUME_WINDOW=256   memory over volume (0 jobs = skip)
 *   BENCH_FLOOR=1           also measure the store floor (bench/lib/store-floor.ts): one lifecycle's MongoDB work alone
 *   BENCH_CLI_JOBS=30       the orchestration overhead around an agent CLI call (bench/lib/cli-overhead.ts): lifecycles
 *                           with a no-op AGENT_CLI=custom, one at a time, against the same script spawned raw (0 = skip)
 *   BENCH_LIST_JOBS=10000   the dashboard's job list (bench/lib/dashboard.ts): jobs of one tenant seeded through the API
 *                           (BENCH_LIST_REPOS=20 repositories, a fifth as many of another tenant), then BENCH_LIST_REQUESTS=200
 *                           sequential requests per listing as the dashboard makes them (0 = skip)
 *   BENCH_FANOUT_CLIENTS=100 SSE clients on GET /events/stream while the commit path runs, against none, side by side
 *                           (BENCH_FANOUT_JOBS=300 lifecycles per round, BENCH_FANOUT_PARALLEL=32, BENCH_FANOUT_RUNS=5; 0 clients = skip)
 *                           (BENCH_FANOUT_CLIENT_NICE=19 runs the clients' process at that priority; EVENTS_*, SSE_*, STORE_* reach the service)
 *   BENCH_DASHBOARD_STORE=documentdb  the store of those two phases: a private FerretDB v2 + DocumentDB (../shared/docdb,
 *                           or BENCH_DOCDB_DIR; real indexes: FerretDB v1 scans, ~1.3 s per listing of 12,000 jobs),
 *                           the default when its start.sh exists; `same`: the store of the other phases
 *   BENCH_DEDICATED_REDIS=1 start a private redis-server (clean INFO commandstats), else use REDIS_URL
 *   BENCH_TIMEOUT_S=900     the run exits 3 with a message if it has no result by then
 *   BENCH_LABEL=…           free text stored with the result (e.g. the change being measured)
 * Any other variable (e.g. SWEEP_INTERVAL_MS) is passed to the worker processes.
 */
import { execSync } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { performance } from 'node:perf_hooks';
import Redis from 'ioredis';
import {
  addCounts,
  diffCounts,
  median,
  percentile,
  procCpuMs,
  redisCommandStats,
  redisInfoField,
  sleep,
  postgresReachable,
  startDedicatedFerretDb,
  startDedicatedRedis,
  startDocumentDb,
  docdbDir,
  sum,
  type RedisServer,
} from './lib/measure';
import { BaselineSystem, Completions, OrchestratorSystem, type BenchSystem } from './lib/systems';
import { cliOverhead, type CliOverheadResult } from './lib/cli-overhead';
import { fanoutBench, jobListBench, type DashboardBenchOptions, type FanoutResult, type JobListResult } from './lib/dashboard';
import { storeFloor, type StoreFloorResult } from './lib/store-floor';
import { totalCpuMs, type WorkerStats } from './lib/workers';

const ROOT = path.resolve(__dirname, '..');
const env = process.env;
const int = (name: string, def: number) => (env[name] === undefined || env[name] === '' ? def : Number(env[name]));
const cfg = {
  runs: int('BENCH_RUNS', 3),
  n: int('BENCH_N', 5000),
  satMaxS: int('BENCH_SAT_MAX_S', 30),
  concurrency: int('BENCH_CONCURRENCY', 16),
  submitParallel: int('BENCH_SUBMIT_PARALLEL', 64),
  rate: int('BENCH_RATE', 100),
  durationS: int('BENCH_DURATION_S', 20),
  drainS: int('BENCH_DRAIN_S', 10),
  timeoutS: int('BENCH_TIMEOUT_S', 900),
  chainStages: int('BENCH_CHAIN_STAGES', 5),
  chainAlso: (env.BENCH_CHAIN_ALSO ?? '4').split(',').filter(Boolean).map(Number),
  procs: (env.BENCH_PROCS ?? '1,2').split(',').filter(Boolean).map(Number),
  volumeJobs: int('BENCH_VOLUME_JOBS', 100_000),
  volumeSeconds: int('BENCH_VOLUME_SECONDS', 60),
  volumeWindow: int('BENCH_VOLUME_WINDOW', 256),
  dedicatedRedis: (env.BENCH_DEDICATED_REDIS ?? '1') !== '0',
  floor: (env.BENCH_FLOOR ?? '1') !== '0',
  cliJobs: int('BENCH_CLI_JOBS', 30),
  listJobs: int('BENCH_LIST_JOBS', 10_000),
  listRepos: int('BENCH_LIST_REPOS', 20),
  listRequests: int('BENCH_LIST_REQUESTS', 200),
  fanoutClients: int('BENCH_FANOUT_CLIENTS', 100),
  fanoutJobs: int('BENCH_FANOUT_JOBS', 300),
  fanoutParallel: int('BENCH_FANOUT_PARALLEL', 32),
  fanoutRuns: int('BENCH_FANOUT_RUNS', 5),
  dashboardStore: env.BENCH_DASHBOARD_STORE ?? (fs.existsSync(path.join(docdbDir(ROOT), 'start.sh')) ? 'documentdb' : 'same'),
  store: env.BENCH_STORE ?? '',
  postgresUrl: env.BENCH_POSTGRES_URL ?? 'postgres://postgres@127.0.0.1:5432/postgres',
  ferretdbBin: env.BENCH_FERRETDB_BIN ?? '',
  ferretdbSqliteParams: env.BENCH_FERRETDB_SQLITE_PARAMS ?? '',
  label: env.BENCH_LABEL ?? '',
};
if (cfg.n > 10_000) throw new Error('BENCH_N must be ≤ 10000 (completed messages are kept up to 10000 per queue)');

const log = (msg: string) => process.stderr.write(`[bench ${new Date().toISOString().slice(11, 19)}] ${msg}\n`);
const round = (x: number, d = 1) => (Number.isFinite(x) ? Math.round(x * 10 ** d) / 10 ** d : NaN);
const mb = (b: number) => round(b / 2 ** 20, 1);

interface Context {
  redis: Redis;
  redisServer: RedisServer;
  /** CPU time of the MongoDB-wire server so far, ms (NaN when it does not run on this host). */
  mongoCpu: () => number;
}

/** Everything measured while the workers of `system` ran `lifecycles` saturated lifecycles. */
interface SaturatedResult {
  system: string;
  procs: number;
  submitted: number;
  submitErrors: number;
  lifecycles: number;
  completedInStore: number;
  /** The repetition hit BENCH_SAT_MAX_S before every lifecycle completed. */
  timedOut: boolean;
  seconds: number;
  lifecyclesPerSecond: number;
  workerCpuMsPerLifecycle: number;
  producerCpuMsPerLifecycle: number;
  redisServerCpuMsPerLifecycle: number;
  mongoServerCpuMsPerLifecycle: number;
  mongoOpsPerLifecycle: number;
  mongoOpsByCommand: Record<string, number>;
  redisCommandsPerLifecycle: number;
  redisEvalshaPerLifecycle: number;
  redisTopCommands: Record<string, number>;
}

async function workerStats(system: BenchSystem): Promise<WorkerStats[]> {
  return Promise.all(system.workers.map((w) => w.stats()));
}

/** Submits `n` lifecycles as fast as `parallel` submitters can and waits for all to complete (or `maxS`). */
async function saturated(ctx: Context, system: BenchSystem, n: number, parallel: number, maxS: number): Promise<SaturatedResult> {
  await system.reset();
  const before = {
    workers: await workerStats(system),
    producerMongo: system.producerMongoOps(),
    producerCpu: process.cpuUsage(),
    redisCmds: await redisCommandStats(ctx.redis),
    redisCpu: procCpuMs(ctx.redisServer.pid),
    mongoCpu: ctx.mongoCpu(),
  };
  const completions = await Completions.open(system, ctx.redisServer.url);
  const t0 = performance.now();
  let next = 0;
  let stop = false;
  let submitErrors = 0;
  const submitters = Array.from({ length: parallel }, async () => {
    while (next < n && !stop) {
      // A failed submission (e.g. FerretDB's SQLITE_BUSY) is counted, not retried: it is not a lifecycle.
      await system.submit(next++).catch(() => submitErrors++);
    }
  });
  let done = 0;
  let timedOut = false;
  const deadline = t0 + maxS * 1000;
  for (;;) {
    done = completions.count;
    if (done >= n - submitErrors && next >= n) break;
    if (performance.now() > deadline) {
      timedOut = true;
      break;
    }
    await sleep(20);
  }
  const seconds = (performance.now() - t0) / 1000;
  stop = true;
  await Promise.all(submitters);
  await completions.close();
  let failed = 0;
  for (const q of system.completionQueues) failed += (await q.getJobCounts('failed')).failed;
  const submitted = next;
  const after = {
    workers: await workerStats(system),
    producerMongo: system.producerMongoOps(),
    producerCpu: process.cpuUsage(before.producerCpu),
    redisCmds: await redisCommandStats(ctx.redis),
    redisCpu: procCpuMs(ctx.redisServer.pid),
    mongoCpu: ctx.mongoCpu(),
  };
  const workerMongo = (s: WorkerStats[]) => s.reduce((a, w) => addCounts(a, w.mongo), {} as Record<string, number>);
  const mongoOps = addCounts(diffCounts(workerMongo(after.workers), workerMongo(before.workers)), diffCounts(after.producerMongo, before.producerMongo));
  const redisCmds = diffCounts(after.redisCmds, before.redisCmds);
  delete redisCmds.info; // the bench's own INFO calls
  delete redisCmds.xread; // the bench's QueueEvents (workers do not read event streams)
  const completedInStore = await system.verifyCompleted();
  // Quiesce: nothing of this phase (unfinished lifecycles, which the orchestrator's sweeper would
  // pick up again) may run on into the next system's phase.
  await system.reset();
  // Per-lifecycle costs divide by completed lifecycles (work on unfinished ones is charged to them:
  // conservative when a repetition timed out).
  n = Math.max(1, done);
  const top = Object.fromEntries(Object.entries(redisCmds).sort((a, b) => b[1] - a[1]).slice(0, 8).map(([k, v]) => [k, round(v / n, 2)]));
  if (failed > 0) log(`  ${system.name}: ${failed} messages in the failed set`);
  if (submitErrors > 0) log(`  ${system.name}: ${submitErrors} submissions failed`);
  return {
    system: system.name,
    procs: system.workers.length,
    submitted,
    submitErrors,
    lifecycles: done,
    completedInStore,
    timedOut,
    seconds: round(seconds, 3),
    lifecyclesPerSecond: round(done / seconds, 1),
    workerCpuMsPerLifecycle: round((totalCpuMs(after.workers) - totalCpuMs(before.workers)) / n, 3),
    producerCpuMsPerLifecycle: round((after.producerCpu.user + after.producerCpu.system) / 1000 / n, 3),
    redisServerCpuMsPerLifecycle: round((after.redisCpu - before.redisCpu) / n, 3),
    mongoServerCpuMsPerLifecycle: round((after.mongoCpu - before.mongoCpu) / n, 3),
    mongoOpsPerLifecycle: round(sum(mongoOps) / n, 2),
    mongoOpsByCommand: Object.fromEntries(Object.entries(mongoOps).map(([k, v]) => [k, round(v / n, 2)])),
    redisCommandsPerLifecycle: round(sum(redisCmds) / n, 1),
    redisEvalshaPerLifecycle: round(((redisCmds.evalsha ?? 0) + (redisCmds.eval ?? 0)) / n, 2),
    redisTopCommands: top,
  };
}

interface LatencyResult {
  system: string;
  rate: number;
  seconds: number;
  submitted: number;
  submitErrors: number;
  completed: number;
  achievedRate: number;
  p50: number;
  p90: number;
  p99: number;
  max: number;
}

/** Open loop: one lifecycle every 1/rate s for `seconds`, whatever completes; latency from the scheduled start. */
async function latency(ctx: Context, system: BenchSystem, rate: number, seconds: number): Promise<LatencyResult> {
  await system.reset();
  const started = new Map<string, number>();
  const early = new Map<string, number>();
  const latencies: number[] = [];
  let resolveAll!: () => void;
  const allDone = new Promise<void>((r) => (resolveAll = r));
  const total = Math.round(rate * seconds);
  let submitErrors = 0;
  const finish = (key: string, at: number) => {
    const t = started.get(key);
    if (t === undefined) return void early.set(key, at);
    started.delete(key);
    latencies.push(at - t);
    if (latencies.length >= total - submitErrors) resolveAll();
  };
  const events = await Completions.open(system, ctx.redisServer.url, finish);
  const interval = 1000 / rate;
  const t0 = performance.now();
  const submissions: Promise<void>[] = [];
  for (let i = 0; i < total; i++) {
    const due = t0 + i * interval;
    const wait = due - performance.now();
    if (wait > 1) await sleep(wait);
    submissions.push(
      system.submit(i).then(
        (key) => {
          started.set(key, due);
          const e = early.get(key);
          if (e !== undefined) {
            early.delete(key);
            finish(key, e);
          }
        },
        () => {
          submitErrors++;
          if (latencies.length >= total - submitErrors) resolveAll();
        },
      ),
    );
  }
  const submitSeconds = (performance.now() - t0) / 1000;
  await Promise.all(submissions);
  await Promise.race([allDone, sleep(cfg.drainS * 1000)]);
  await events.close();
  await system.reset(); // quiesce, as after a saturated phase
  const sorted = latencies.sort((a, b) => a - b);
  return {
    system: system.name,
    rate,
    seconds,
    submitted: total,
    submitErrors,
    completed: sorted.length,
    achievedRate: round(total / submitSeconds, 1),
    p50: round(percentile(sorted, 50), 2),
    p90: round(percentile(sorted, 90), 2),
    p99: round(percentile(sorted, 99), 2),
    max: round(sorted[sorted.length - 1] ?? NaN, 2),
  };
}

interface VolumeResult {
  lifecycles: number;
  seconds: number;
  lifecyclesPerSecond: number;
  window: number;
  rssMb: { idle: number; start: number; mid: number; end: number; peak: number };
  heapUsedMb: { start: number; mid: number; end: number };
  heapTotalMb: { start: number; mid: number; end: number };
  externalMb: { start: number; mid: number; end: number };
  rssGrowthMidToEndPct: number;
  /** Every 10th sample: seconds, lifecycles done, RSS and heapUsed (MB). */
  samples: [number, number, number, number][];
  mongo: { objects: number; dataSizeMb: number; storageSizeMb: number; bytesPerJob: number };
  redisUsedMemoryMb: number;
}

/** Closed loop (`window` lifecycles in flight) until `maxJobs` or `maxSeconds`; RSS sampled along the way. */
async function volume(ctx: Context, system: OrchestratorSystem, maxJobs: number, maxSeconds: number, window: number): Promise<VolumeResult> {
  await system.reset();
  const worker = system.workers[0];
  const idle = await worker.stats();
  let submitted = 0;
  let completed = 0;
  let stopSubmitting = false;
  const t0 = performance.now();
  const samples: { at: number; done: number; rss: number; heap: number; heapTotal: number; external: number }[] = [];
  let resolveDone!: () => void;
  const done = new Promise<void>((r) => (resolveDone = r));
  const submitOne = () => {
    if (stopSubmitting || submitted >= maxJobs) return;
    submitted++;
    system.submit(submitted).catch((e: unknown) => {
      log(`volume submit failed: ${String(e)}`);
      submitted--; // not a lifecycle
      submitOne(); // keep the window full
    });
  };
  const events = await Completions.open(system, ctx.redisServer.url, () => {
    completed++;
    if (performance.now() - t0 > maxSeconds * 1000) stopSubmitting = true;
    submitOne();
    if (completed >= submitted && (stopSubmitting || submitted >= maxJobs)) resolveDone();
  });
  for (let i = 0; i < window; i++) submitOne();
  const sampler = (async () => {
    for (;;) {
      const s = await worker.stats();
      samples.push({ at: (performance.now() - t0) / 1000, done: completed, rss: s.rss, heap: s.heapUsed, heapTotal: s.heapTotal ?? NaN, external: s.external ?? NaN });
      if (completed >= submitted && (stopSubmitting || submitted >= maxJobs)) return;
      await sleep(1000);
    }
  })();
  const progress = setInterval(() => log(`  volume: ${completed} lifecycles, RSS ${mb(samples[samples.length - 1]?.rss ?? NaN)} MB`), 15_000);
  await Promise.race([done, sleep((maxSeconds + 120) * 1000)]);
  clearInterval(progress);
  const seconds = (performance.now() - t0) / 1000;
  stopSubmitting = true;
  await sampler;
  await events.close();
  const end = await worker.stats();
  // Start = after the first 5% of the run (warm JIT, pools filled); mid = half-way by lifecycles.
  const at = (frac: number) => samples.find((s) => s.done >= completed * frac) ?? samples[samples.length - 1];
  const start = at(0.05);
  const mid = at(0.5);
  const db = await system.dbStats();
  return {
    lifecycles: completed,
    seconds: round(seconds, 1),
    lifecyclesPerSecond: round(completed / seconds, 1),
    window,
    rssMb: { idle: mb(idle.rss), start: mb(start.rss), mid: mb(mid.rss), end: mb(end.rss), peak: mb(end.maxRss) },
    heapUsedMb: { start: mb(start.heap), mid: mb(mid.heap), end: mb(end.heapUsed) },
    heapTotalMb: { start: mb(start.heapTotal), mid: mb(mid.heapTotal), end: mb(end.heapTotal ?? NaN) },
    externalMb: { start: mb(start.external), mid: mb(mid.external), end: mb(end.external ?? NaN) },
    rssGrowthMidToEndPct: round(((end.rss - mid.rss) / mid.rss) * 100, 1),
    samples: samples.filter((_, i) => i % 10 === 0).map((x) => [round(x.at, 0), x.done, mb(x.rss), mb(x.heap)]),
    mongo: { objects: db.objects, dataSizeMb: mb(db.dataSize), storageSizeMb: mb(db.storageSize), bytesPerJob: Math.round(db.dataSize / Math.max(1, db.objects)) },
    redisUsedMemoryMb: mb(Number(await redisInfoField(ctx.redis, 'memory', 'used_memory'))),
  };
}

function pkgVersion(name: string): string {
  return (require(path.join(ROOT, 'node_modules', name, 'package.json')) as { version: string }).version;
}

function medianOf<T>(rows: T[], pick: (r: T) => number): number {
  return median(rows.map(pick));
}

/** Median, over repetitions, of every numeric field. */
function medianRow<T extends object>(rows: T[]): T {
  const out: Record<string, unknown> = { ...(rows[0] as Record<string, unknown>) };
  for (const [k, v] of Object.entries(rows[0])) {
    if (typeof v === 'number') out[k] = medianOf(rows, (r) => (r as Record<string, number>)[k]);
  }
  return out as T;
}

/** The FerretDB binary scripts/build-ferretdb.sh builds (or finds in its cache): the last line it prints. */
function ferretDbBinary(): string {
  const out = execSync(`bash ${path.join(ROOT, 'scripts', 'build-ferretdb.sh')}`, { encoding: 'utf8', stdio: ['ignore', 'pipe', 'inherit'] });
  return out.trim().split('\n').pop()!;
}

async function main(): Promise<void> {
  const began = performance.now();
  // A run that stops making progress says so and fails instead of waiting forever.
  const watchdog = setTimeout(() => {
    log(`no result after ${cfg.timeoutS} s (BENCH_TIMEOUT_S): the last line above is where it stopped`);
    process.exit(3);
  }, cfg.timeoutS * 1000);
  watchdog.unref();
  const store = cfg.store || (postgresReachable(cfg.postgresUrl) ? 'postgresql' : 'sqlite');
  if (!['postgresql', 'sqlite', 'uri'].includes(store)) throw new Error(`BENCH_STORE must be postgresql, sqlite or uri, not ${store}`);
  if (store === 'uri' && !env.MONGODB_URI) throw new Error('BENCH_STORE=uri needs MONGODB_URI');
  const mongoServer =
    store === 'uri'
      ? undefined
      : await startDedicatedFerretDb(
          cfg.ferretdbBin || ferretDbBinary(),
          store === 'postgresql' ? { handler: 'postgresql', postgresUrl: cfg.postgresUrl } : { handler: 'sqlite', sqliteParams: cfg.ferretdbSqliteParams },
        );
  const mongoUri = mongoServer?.uri ?? env.MONGODB_URI!;
  if (!fs.existsSync(path.join(ROOT, 'dist', 'main.js'))) throw new Error('dist/main.js missing: run `npm run build` (npm run bench does)');

  const redisServer: RedisServer = cfg.dedicatedRedis
    ? await startDedicatedRedis()
    : { url: env.REDIS_URL ?? 'redis://127.0.0.1:6379', dedicated: false, stop: async () => undefined };
  const redis = new Redis(redisServer.url);
  const runId = `bench_${new Date().toISOString().replace(/\D/g, '').slice(0, 14)}_${randomBytes(3).toString('hex')}`;
  const sysOpts = { redisUrl: redisServer.url, concurrency: cfg.concurrency, env: {} };
  const orch = new OrchestratorSystem(`${runId}_orc`, runId, mongoUri, sysOpts);
  const chains = [cfg.chainStages, ...cfg.chainAlso.filter((s) => s !== cfg.chainStages)];
  const baselines = chains.map((s) => new BaselineSystem(`${runId}_raw${s}`, s, sysOpts));
  const baseline = baselines[0];
  const closeAll = async () => {
    for (const b of baselines) await b.close().catch((e: unknown) => log(`cleanup: ${String(e)}`));
    await orch.close().catch((e: unknown) => log(`cleanup: ${String(e)}`));
    if (!redisServer.dedicated) {
      // A shared Redis: remove this run's keys.
      let cursor = '0';
      do {
        const [next, keys] = await redis.scan(cursor, 'MATCH', `${runId}_*`, 'COUNT', 1000);
        cursor = next;
        if (keys.length) await redis.del(...keys);
      } while (cursor !== '0');
    }
    redis.disconnect();
    await redisServer.stop();
    await mongoServer?.stop();
  };
  process.once('SIGINT', () => {
    log('interrupted: cleaning up');
    void closeAll().finally(() => process.exit(130));
  });

  try {
    await orch.init();
    const uriServerPid = mongoServer ? undefined : await orch.serverPid();
    const ctx: Context = { redis, redisServer, mongoCpu: mongoServer ? () => mongoServer.cpuMs() : () => procCpuMs(uriServerPid) };
    const ferret = await orch.buildInfo();
    const versions = {
      node: process.version,
      bullmq: pkgVersion('bullmq'),
      xstate: pkgVersion('xstate'),
      mongodbDriver: pkgVersion('mongodb'),
      ioredis: pkgVersion('ioredis'),
      nest: pkgVersion('@nestjs/core'),
      redis: await redisInfoField(redis, 'server', 'redis_version'),
      mongoWireServer: ferret.ferretdbVersion ? `FerretDB ${ferret.ferretdbVersion} (wire ${ferret.version})` : `MongoDB ${ferret.version}`,
      mongoWireServerSetup: mongoServer?.setup ?? 'MONGODB_URI',
      nproc: os.availableParallelism(),
      cpu: os.cpus()[0]?.model ?? 'unknown',
      commit: execSync('git rev-parse --short HEAD', { cwd: ROOT, encoding: 'utf8' }).trim(),
      dirty: execSync('git status --porcelain -- src', { cwd: ROOT, encoding: 'utf8' }).trim() !== '',
    };
    log(`versions: ${JSON.stringify(versions)}`);
    const loadAverageAtStart = os.loadavg();
    log(`config: ${JSON.stringify(cfg)}; run id ${runId}`);

    const sat: SaturatedResult[] = [];
    const lat: LatencyResult[] = [];
    const floors: StoreFloorResult[] = [];
    for (const procs of cfg.procs) {
      const firstConfig = procs === cfg.procs[0];
      const systems: BenchSystem[] = firstConfig ? [...baselines, orch] : [baseline, orch];
      log(`${procs} worker process(es) per system: starting workers`);
      for (const s of systems) {
        await s.startWorkers(procs);
        log(`  ${s.name} ×${procs}: workers ready`);
      }
      // Warm-up: JIT, connection pools, Lua script cache.
      // Warm-up (JIT, pools, Lua script cache), which also sizes each system's repetitions so that
      // they complete within BENCH_SAT_MAX_S: per-lifecycle costs are then exact.
      const sizes = new Map<BenchSystem, number>();
      for (const s of systems) {
        log(`  ${s.name} ×${procs}: warm-up`);
        const w = await saturated(ctx, s, Math.min(500, cfg.n), cfg.submitParallel, 10);
        const n = Math.max(200, Math.min(cfg.n, Math.floor(w.lifecyclesPerSecond * cfg.satMaxS * 0.6)));
        sizes.set(s, n);
        if (n < cfg.n) log(`  ${s.name} ×${procs}: warm-up ran ${w.lifecyclesPerSecond}/s, so N=${n} per repetition (BENCH_SAT_MAX_S=${cfg.satMaxS})`);
      }
      for (let r = 1; r <= cfg.runs; r++) {
        for (const s of systems) {
          const res = await saturated(ctx, s, sizes.get(s)!, cfg.submitParallel, cfg.satMaxS);
          sat.push(res);
          if (env.BENCH_DEBUG) for (const w of s.workers) log(`${w.label} output:\n${w.output()}`);
          log(
            `  run ${r} saturated ${s.name} ×${procs}: ${res.lifecyclesPerSecond}/s (${res.lifecycles}/${res.submitted} in ${res.seconds} s${res.timedOut ? ', time limit' : ''}; ${res.completedInStore} completed in store)`,
          );
        }
        if (firstConfig && cfg.durationS > 0) {
          // At BENCH_RATE; and, when the orchestrator cannot sustain that rate (a queue builds up and
          // the latency is mostly waiting), also at half of its measured throughput, for both.
          const orchRate = sat.filter((x) => x.system === orch.name && x.procs === procs).at(-1)?.lifecyclesPerSecond ?? cfg.rate;
          const rates = orchRate < cfg.rate * 1.2 ? [cfg.rate, Math.max(1, Math.floor(orchRate / 2))] : [cfg.rate];
          for (const rate of rates) {
            for (const s of [baseline, orch]) {
              const res = await latency(ctx, s, rate, rate === cfg.rate ? cfg.durationS : Math.min(cfg.durationS, 10));
              lat.push(res);
              log(`  run ${r} latency ${s.name} @${rate}/s: p50 ${res.p50} p90 ${res.p90} p99 ${res.p99} ms (${res.completed}/${res.submitted})`);
            }
          }
        }
      }
      if (firstConfig && cfg.floor) {
        // The store floor, while the orchestrator's workers idle (their sweeper included, as deployed).
        const sample = await orch.sampleCompleted();
        for (let r = 1; r <= cfg.runs; r++) {
          const f = await storeFloor(orch.mongoClient, `${runId}_floor`, sample, sizes.get(orch)!, cfg.concurrency * procs, cfg.satMaxS, ctx.mongoCpu);
          floors.push(f);
          log(`  run ${r} store floor: ${f.lifecyclesPerSecond}/s (${f.lifecycles} in ${f.seconds} s; ${f.mongoOpsPerLifecycle} MongoDB ops and ${f.mongoServerCpuMsPerLifecycle} ms server CPU per lifecycle)`);
        }
      }
      for (const s of systems) {
        const peak = Math.max(...(await workerStats(s)).map((w) => w.maxRss));
        sat.filter((x) => x.system === s.name && x.procs === procs).forEach((x) => ((x as SaturatedResult & { peakRssMb?: number }).peakRssMb = mb(peak)));
        await s.stopWorkers();
      }
    }

    let vol: VolumeResult | undefined;
    if (cfg.volumeJobs > 0) {
      log(`volume: up to ${cfg.volumeJobs} lifecycles or ${cfg.volumeSeconds} s, one fresh worker process`);
      await orch.startWorkers(1);
      vol = await volume(ctx, orch, cfg.volumeJobs, cfg.volumeSeconds, cfg.volumeWindow);
      await orch.stopWorkers();
      log(`  volume: ${vol.lifecycles} lifecycles, RSS start/mid/end ${vol.rssMb.start}/${vol.rssMb.mid}/${vol.rssMb.end} MB`);
    }

    let cli: CliOverheadResult | undefined;
    if (cfg.cliJobs > 0) {
      log(`CLI overhead: ${cfg.cliJobs} lifecycles with a no-op AGENT_CLI=custom, one at a time`);
      cli = await cliOverhead({ redisUrl: redisServer.url, mongoUri, prefix: `${runId}_cli`, jobs: cfg.cliJobs, log });
      log(`  spawn → committed stage minus the CLI's own run time: planning p50 ${cli.overheadMs.planning.p50} ms (p95 ${cli.overheadMs.planning.p95}), coding p50 ${cli.overheadMs.coding.p50} ms (p95 ${cli.overheadMs.coding.p95})`);
    }

    let dashboardStore: { uri: string; setup: string; stop(): Promise<void> } | undefined;
    if ((cfg.listJobs > 0 || cfg.fanoutClients > 0) && cfg.dashboardStore === 'documentdb') {
      log(`dashboard phases: starting FerretDB v2 + DocumentDB from ${docdbDir(ROOT)}`);
      dashboardStore = await startDocumentDb(docdbDir(ROOT));
    }
    let jobList: (JobListResult & { store: string }) | undefined;
    let fanout: (FanoutResult & { store: string }) | undefined;
    try {
      const dashboardOpts: DashboardBenchOptions = { redisUrl: redisServer.url, mongoUri: dashboardStore?.uri ?? mongoUri, prefix: `${runId}_dash`, log, ...cfg };
      if (cfg.listJobs > 0) {
        log(`job list: ${cfg.listJobs} jobs through POST /jobs, then ${cfg.listRequests} requests per listing`);
        jobList = { ...(await jobListBench(dashboardOpts)), store: dashboardStore?.setup ?? versions.mongoWireServerSetup };
        log(`  first page p50 ${jobList.firstPageMs.p50} ms (raw query ${jobList.rawFirstPageMs.p50} ms), counts p50 ${jobList.countsMs.p50} ms`);
      }
      if (cfg.fanoutClients > 0) {
        log(`SSE fan-out: ${cfg.fanoutJobs} lifecycles per round with 0 and ${cfg.fanoutClients} clients, ${cfg.fanoutRuns} times`);
        fanout = { ...(await fanoutBench(dashboardOpts)), store: dashboardStore?.setup ?? versions.mongoWireServerSetup };
        log(`  ${fanout.withoutClients}/s without, ${fanout.withClients}/s with ${fanout.clients} clients: ratio ${fanout.ratio}`);
      }
    } finally {
      await dashboardStore?.stop(); // on every exit path: a failed phase must not leave PostgreSQL and FerretDB running
    }

    // Medians per (system, procs).
    const key = (r: { system: string; procs?: number }) => `${r.system}|${r.procs ?? 1}`;
    const satMed = new Map<string, SaturatedResult>();
    for (const k of new Set(sat.map(key))) satMed.set(k, medianRow(sat.filter((r) => key(r) === k)));
    const latMed = new Map<string, LatencyResult>();
    for (const k of new Set(lat.filter((r) => r.rate === cfg.rate).map((r) => r.system))) {
      latMed.set(k, medianRow(lat.filter((r) => r.system === k && r.rate === cfg.rate)));
    }
    // The lower rate differs per repetition (half the orchestrator's throughput): median per system.
    const latLow = [...new Set(lat.filter((r) => r.rate !== cfg.rate).map((r) => r.system))].map((k) => medianRow(lat.filter((r) => r.system === k && r.rate !== cfg.rate)));
    const p1 = cfg.procs[0];
    const p2 = cfg.procs[1];
    const get = (s: BenchSystem, p: number | undefined) => (p === undefined ? undefined : satMed.get(`${s.name}|${p}`));
    const tput = (s: BenchSystem, p: number | undefined) => get(s, p)?.lifecyclesPerSecond ?? NaN;
    const floor = floors.length ? medianRow(floors) : undefined;
    const ratios = {
      throughput: round(tput(orch, p1) / tput(baseline, p1), 3),
      p50: round((latMed.get(orch.name)?.p50 ?? NaN) / (latMed.get(baseline.name)?.p50 ?? NaN), 3),
      scalingOrchestrator: round(tput(orch, p2) / tput(orch, p1), 3),
      scalingBaseline: round(tput(baseline, p2) / tput(baseline, p1), 3),
      /** Orchestrator throughput / what the MongoDB-wire server allows for a lifecycle's commits alone. */
      throughputOfStoreFloor: round(tput(orch, p1) / (floor?.lifecyclesPerSecond ?? NaN), 3),
    };
    const likeForLike = baselines.slice(1).map((b) => ({
      system: b.name,
      throughputRatio: round(tput(orch, p1) / tput(b, p1), 3),
      p50Ratio: round((latMed.get(orch.name)?.p50 ?? NaN) / (latMed.get(b.name)?.p50 ?? NaN), 3),
    }));
    const totalSeconds = round((performance.now() - began) / 1000, 1);
    const result = {
      date: new Date().toISOString(),
      label: cfg.label,
      runId,
      versions,
      config: cfg,
      totalSeconds,
      /** 1/5/15-min load averages at start and end: other work on the machine skews every figure. */
      loadAverage: { start: loadAverageAtStart.map((x) => round(x, 2)), end: os.loadavg().map((x) => round(x, 2)) },
      ratios,
      likeForLike,
      latencyBelowCapacity: latLow,
      p50RatioBelowCapacity: round((latLow.find((r) => r.system === orch.name)?.p50 ?? NaN) / (latLow.find((r) => r.system === baseline.name)?.p50 ?? NaN), 3),
      saturated: [...satMed.values()],
      latency: [...latMed.values()],
      volume: vol,
      cliOverhead: cli,
      jobList,
      fanout,
      storeFloor: floor,
      raw: { saturated: sat, latency: lat, storeFloor: floors },
    };
    fs.mkdirSync(path.join(ROOT, 'bench', 'results'), { recursive: true });
    const file = path.join(ROOT, 'bench', 'results', `${result.date.replace(/:/g, '-').replace(/\.\d+Z$/, 'Z')}.json`);
    fs.writeFileSync(file, JSON.stringify(result, null, 2) + '\n');
    console.log(`load average at start ${result.loadAverage.start.join(' ')}, at end ${result.loadAverage.end.join(' ')} (nproc ${versions.nproc})`);
    for (const l of latLow) console.log(`below capacity: ${l.system} @~${l.rate}/s p50 ${l.p50} p90 ${l.p90} p99 ${l.p99} ms (${l.completed}/${l.submitted})`);
    if (latLow.length) console.log(`p50 ratio below capacity (orchestrator / ${baseline.name}): ${result.p50RatioBelowCapacity}`);
    console.log(report(result, { p1, p2, orch, baseline, baselines, satMed, latMed }));
    if (cli) console.log(cliReport(cli));
    if (jobList || fanout) console.log(dashboardReport(jobList, fanout));
    console.log(`\nresults: ${path.relative(ROOT, file)} (total ${totalSeconds} s)`);
  } finally {
    await closeAll();
  }
}

function dashboardReport(l: (JobListResult & { store: string }) | undefined, f: (FanoutResult & { store: string }) | undefined): string {
  const lines = ['', `dashboard (store: ${l?.store ?? f?.store}):`, '', '| measure | p50 ms | p95 ms | target |', '|---|---:|---:|---|'];
  if (l) {
    lines.push(
      `| **job list, first page of 50 (${l.jobs} jobs of the tenant + ${l.otherTenantJobs} of another), GET /jobs over HTTP** | ${l.firstPageMs.p50} | ${l.firstPageMs.p95} | p50 ≤ 100 |`,
      `| raw baseline: the same query through the MongoDB driver alone | ${l.rawFirstPageMs.p50} | ${l.rawFirstPageMs.p95} | |`,
      `| a page 40 deep, by cursor | ${l.deepPageMs.p50} | ${l.deepPageMs.p95} | |`,
      `| state filter (FAILED) | ${l.stateFilterMs.p50} | ${l.stateFilterMs.p95} | |`,
      `| repository filter | ${l.repositoryFilterMs.p50} | ${l.repositoryFilterMs.p95} | |`,
      `| GET /jobs/counts (8 counts) | ${l.countsMs.p50} | ${l.countsMs.p95} | |`,
    );
  }
  if (f) {
    lines.push('', '| SSE fan-out | lifecycles/s | target |', '|---|---:|---|');
    lines.push(`| no SSE client (median of ${f.runs}) | ${f.withoutClients} | |`);
    lines.push(`| ${f.clients} clients on GET /events/stream (each got ≥ ${f.minCompletedEventsPerClient}/${f.jobs} COMPLETED events per round) | ${f.withClients} | |`);
    lines.push(`| **ratio** (of the medians) | ${f.ratio} | ≥ 0.9 |`);
    lines.push(`| each run's ratio (its two rounds back to back); median | ${f.pairedRatios.join(', ')}; ${f.medianPairedRatio} | |`);
  }
  return lines.join('\n');
}

function cliReport(c: CliOverheadResult): string {
  return [
    '',
    `orchestration overhead around an agent CLI call (${c.jobs} lifecycles, no-op AGENT_CLI=custom, one at a time):`,
    '',
    '| measure | p50 ms | p95 ms | target |',
    '|---|---:|---:|---|',
    `| raw baseline: the no-op CLI spawned directly, spawn → exit | ${c.rawSpawnMs.p50} | ${c.rawSpawnMs.p95} | |`,
    `| the same CLI under the supervisor (process group, marker scan), spawn → exit | ${c.supervisedCliMs.p50} | ${c.supervisedCliMs.p95} | |`,
    `| **overhead, planning: spawn → stage committed, minus the CLI's own run time (raw p50)** | ${c.overheadMs.planning.p50} | ${c.overheadMs.planning.p95} | p50 ≤ 50 |`,
    `| of which after the CLI's exit (parse, artifact, attempt record, CAS commit) | ${c.afterExitMs.planning.p50} | ${c.afterExitMs.planning.p95} | |`,
    `| overhead, coding: the same (+ the orchestrator's git commit and diff artifact) | ${c.overheadMs.coding.p50} | ${c.overheadMs.coding.p95} | |`,
    `| of which after the CLI's exit | ${c.afterExitMs.coding.p50} | ${c.afterExitMs.coding.p95} | |`,
    `| before the spawn, planning: mirror fetch + worktree | ${c.preSpawnMs.planning.p50} | ${c.preSpawnMs.planning.p95} | |`,
    `| before the spawn, coding: worktree check + reset | ${c.preSpawnMs.coding.p50} | ${c.preSpawnMs.coding.p95} | |`,
    `| whole lifecycle, submit → COMPLETED | ${c.lifecycleMs.p50} | ${c.lifecycleMs.p95} | |`,
  ].join('\n');
}

function report(
  result: { label: string; versions: Record<string, unknown>; config: typeof cfg; ratios: Record<string, number>; likeForLike: { system: string; throughputRatio: number; p50Ratio: number }[]; volume?: VolumeResult; storeFloor?: StoreFloorResult },
  x: {
    p1: number;
    p2?: number;
    orch: BenchSystem;
    baseline: BenchSystem;
    baselines: BenchSystem[];
    satMed: Map<string, SaturatedResult>;
    latMed: Map<string, LatencyResult>;
  },
): string {
  const v = result.versions;
  const lines: string[] = [];
  lines.push(
    `node ${v.node}, bullmq ${v.bullmq}, xstate ${v.xstate}, mongodb driver ${v.mongodbDriver}, redis ${v.redis}, ${v.mongoWireServer}; nproc ${v.nproc} (${v.cpu}); commit ${v.commit}${v.dirty ? '+dirty' : ''}`,
  );
  lines.push(
    `median of ${result.config.runs} runs; N=${result.config.n} saturated, concurrency ${result.config.concurrency}/stage/process; latency open loop ${result.config.rate}/s for ${result.config.durationS} s${result.label ? `; ${result.label}` : ''}`,
  );
  lines.push('');
  lines.push('| system | procs | lifecycles/s | p50 ms | p90 ms | p99 ms | worker CPU ms/lc | total CPU ms/lc | Mongo ops/lc | Redis cmds/lc | peak RSS MB |');
  lines.push('|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|');
  const systems = [...x.baselines, x.orch];
  for (const p of [x.p1, x.p2].filter((p): p is number => p !== undefined)) {
    for (const s of systems) {
      const r = x.satMed.get(`${s.name}|${p}`) as (SaturatedResult & { peakRssMb?: number }) | undefined;
      if (!r) continue;
      const l = p === x.p1 ? x.latMed.get(s.name) : undefined;
      const cpuTotal = r.workerCpuMsPerLifecycle + r.producerCpuMsPerLifecycle + r.redisServerCpuMsPerLifecycle + (Number.isFinite(r.mongoServerCpuMsPerLifecycle) ? r.mongoServerCpuMsPerLifecycle : 0);
      lines.push(
        `| ${s.name} | ${p} | ${r.lifecyclesPerSecond} | ${l?.p50 ?? '–'} | ${l?.p90 ?? '–'} | ${l?.p99 ?? '–'} | ${r.workerCpuMsPerLifecycle} | ${round(cpuTotal, 2)} | ${r.mongoOpsPerLifecycle} | ${r.redisCommandsPerLifecycle} | ${r.peakRssMb ?? '–'} |`,
      );
    }
  }
  const f = result.storeFloor;
  if (f) {
    lines.push(
      `| store floor: a lifecycle's MongoDB work alone (insert + 4 CAS commits) | ${x.p1} | ${f.lifecyclesPerSecond} | – | – | – | ${f.clientCpuMsPerLifecycle} (client) | ${round(f.clientCpuMsPerLifecycle + (Number.isFinite(f.mongoServerCpuMsPerLifecycle) ? f.mongoServerCpuMsPerLifecycle : 0), 2)} | ${f.mongoOpsPerLifecycle} | 0 | – |`,
    );
  }
  const r = result.ratios;
  lines.push('');
  lines.push(`| ratio (orchestrator / ${x.baseline.name}) | value | target |`);
  lines.push('|---|---:|---|');
  lines.push(`| throughput | ${r.throughput} | ≥ 0.5 |`);
  lines.push(`| p50 latency | ${r.p50} | ≤ 2 |`);
  if (x.p2) {
    lines.push(`| scaling ${x.p1}→${x.p2} processes, orchestrator | ${r.scalingOrchestrator} | near ${x.p2 / x.p1} (CPU permitting) |`);
    lines.push(`| scaling ${x.p1}→${x.p2} processes, raw chain | ${r.scalingBaseline} | (reference) |`);
  }
  if (f) lines.push(`| throughput / store floor (share of what the MongoDB-wire server allows) | ${r.throughputOfStoreFloor} | |`);
  for (const l of result.likeForLike) {
    lines.push(`| throughput vs ${l.system} (like-for-like hops) | ${l.throughputRatio} | |`);
    lines.push(`| p50 vs ${l.system} | ${l.p50Ratio} | |`);
  }
  const vol = result.volume;
  if (vol) {
    lines.push('');
    lines.push(
      `memory over volume: ${vol.lifecycles} lifecycles in ${vol.seconds} s (${vol.lifecyclesPerSecond}/s, ${vol.window} in flight); worker RSS idle/start/mid/end ${vol.rssMb.idle}/${vol.rssMb.start}/${vol.rssMb.mid}/${vol.rssMb.end} MB (mid→end ${vol.rssGrowthMidToEndPct}%), peak ${vol.rssMb.peak} MB; heapUsed start/mid/end ${vol.heapUsedMb.start}/${vol.heapUsedMb.mid}/${vol.heapUsedMb.end} MB, heapTotal ${vol.heapTotalMb.start}/${vol.heapTotalMb.mid}/${vol.heapTotalMb.end} MB, external ${vol.externalMb.start}/${vol.externalMb.mid}/${vol.externalMb.end} MB; MongoDB ${vol.mongo.objects} docs, dataSize ${vol.mongo.dataSizeMb} MB (${vol.mongo.bytesPerJob} B/job), storageSize ${vol.mongo.storageSizeMb} MB; Redis used_memory ${vol.redisUsedMemoryMb} MB`,
    );
  }
  return lines.join('\n');
}

main().catch((e: unknown) => {
  console.error(e);
  process.exit(1);
});
