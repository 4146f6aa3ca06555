/**
 * The main phases of `npm run bench` (bench/run.ts): saturated throughput, open-loop latency and
 * memory over volume, each against a {@link BenchSystem} (the raw BullMQ chain or the orchestrator).
 */
import { performance } from 'node:perf_hooks';
import type Redis from 'ioredis';
import { addCounts, diffCounts, percentile, procCpuMs, redisCommandStats, redisInfoField, sleep, sum, type RedisServer } from './measure';
import { Completions, type BenchSystem, type OrchestratorSystem } from './systems';
import { systemCpuMs, totalCpuMs, type WorkerStats } from './workers';

export const log = (msg: string) => process.stderr.write(`[bench ${new Date().toISOString().slice(11, 19)}] ${msg}\n`);
export const round = (x: number, d = 1) => (Number.isFinite(x) ? Math.round(x * 10 ** d) / 10 ** d : NaN);
export const mb = (b: number) => round(b / 2 ** 20, 1);

export interface Context {
  redis: Redis;
  redisServer: RedisServer;
  /** CPU time of the MongoDB-wire server so far, ms (NaN when it does not run on this host). */
  mongoCpu: () => number;
}

/** Everything measured while the workers of `system` ran `lifecycles` saturated lifecycles. */
export interface SaturatedResult {
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
  /** Of workerCpuMsPerLifecycle, the kernel's (system CPU: socket writes and reads, on loopback also the receiving side's TCP work). */
  workerSystemCpuMsPerLifecycle: number;
  /** The worker processes' MongoDB commands per lifecycle by `<command> <collection>`. */
  workerMongoOpsByCollection: Record<string, number>;
  redisCommandsPerLifecycle: number;
  redisEvalshaPerLifecycle: number;
  redisTopCommands: Record<string, number>;
}

export async function workerStats(system: BenchSystem): Promise<WorkerStats[]> {
  return Promise.all(system.workers.map((w) => w.stats()));
}

/** Submits `n` lifecycles as fast as `parallel` submitters can and waits for all to complete (or `maxS`). */
export async function saturated(ctx: Context, system: BenchSystem, n: number, parallel: number, maxS: number): Promise<SaturatedResult> {
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
  const workerMongoByCollection = (s: WorkerStats[]) => s.reduce((a, w) => addCounts(a, w.mongoByCollection ?? {}), {} as Record<string, number>);
  const mongoByCollection = diffCounts(workerMongoByCollection(after.workers), workerMongoByCollection(before.workers));
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
    workerSystemCpuMsPerLifecycle: round((systemCpuMs(after.workers) - systemCpuMs(before.workers)) / n, 3),
    producerCpuMsPerLifecycle: round((after.producerCpu.user + after.producerCpu.system) / 1000 / n, 3),
    redisServerCpuMsPerLifecycle: round((after.redisCpu - before.redisCpu) / n, 3),
    mongoServerCpuMsPerLifecycle: round((after.mongoCpu - before.mongoCpu) / n, 3),
    mongoOpsPerLifecycle: round(sum(mongoOps) / n, 2),
    mongoOpsByCommand: Object.fromEntries(Object.entries(mongoOps).map(([k, v]) => [k, round(v / n, 2)])),
    workerMongoOpsByCollection: Object.fromEntries(Object.entries(mongoByCollection).map(([k, v]) => [k, round(v / n, 2)])),
    redisCommandsPerLifecycle: round(sum(redisCmds) / n, 1),
    redisEvalshaPerLifecycle: round(((redisCmds.evalsha ?? 0) + (redisCmds.eval ?? 0)) / n, 2),
    redisTopCommands: top,
  };
}

export interface LatencyResult {
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

/** Open loop: one lifecycle every 1/rate s for `seconds`, whatever completes (waiting up to `drainS` more); latency from the scheduled start. */
export async function latency(ctx: Context, system: BenchSystem, rate: number, seconds: number, drainS: number): Promise<LatencyResult> {
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
  await Promise.race([allDone, sleep(drainS * 1000)]);
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

export interface VolumeResult {
  lifecycles: number;
  seconds: number;
  lifecyclesPerSecond: number;
  window: number;
  rssMb: { idle: number; start: number; mid: number; end: number; peak: number };
  heapUsedMb: { start: number; mid: number; end: number };
  heapTotalMb: { start: number; mid: number; end: number };
  externalMb: { start: number; mid: number; end: number };
  rssGrowthMidToEndPct: number;
  rssGrowthStartToEndPct: number;
  /** Every 10th sample: seconds, lifecycles done, RSS and heapUsed (MB). */
  samples: [number, number, number, number][];
  mongo: { objects: number; dataSizeMb: number; storageSizeMb: number; bytesPerJob: number };
  redisUsedMemoryMb: number;
}

/** Closed loop (`window` lifecycles in flight) until `maxJobs` or `maxSeconds`; RSS sampled along the way. */
export async function volume(ctx: Context, system: OrchestratorSystem, maxJobs: number, maxSeconds: number, window: number): Promise<VolumeResult> {
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
    /** RSS growth after warm-up: from the sample at 5 % of the lifecycles to the end. */
    rssGrowthStartToEndPct: round(((end.rss - start.rss) / start.rss) * 100, 1),
    samples: samples.filter((_, i) => i % 10 === 0).map((x) => [round(x.at, 0), x.done, mb(x.rss), mb(x.heap)]),
    mongo: { objects: db.objects, dataSizeMb: mb(db.dataSize), storageSizeMb: mb(db.storageSize), bytesPerJob: Math.round(db.dataSize / Math.max(1, db.objects)) },
    redisUsedMemoryMb: mb(Number(await redisInfoField(ctx.redis, 'memory', 'used_memory'))),
  };
}
