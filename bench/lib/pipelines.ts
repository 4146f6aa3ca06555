/**
 * The pipeline phase (issue "Pipelines": steps per second and RSS over 10,000 runs).
 *
 * Orchestrator: one all-in-one service (`node dist/main.js`: API, the step worker with
 * PIPELINE_STEP_CONCURRENCY, the sweepers, as deployed) runs a 20-step fan-out/fan-in template of
 * no-op `function` steps — `prep`, 18 steps needing `prep`, `join` needing the 18 — with
 * `maxParallel: 20`. Runs are started with `POST /runs`, BENCH_PIPELINE_PARALLEL in flight (closed
 * loop: a run that ends makes room for the next). The bench sees a run end by reading its status
 * from the store (one indexed `find` on `_id $in` the runs in flight, every 20–250 ms), not through
 * the API (bench/lib/pipeline-sides.ts has both sides). The service's MongoDB commands are counted
 * by bench/lib/preload.cjs (by command and by `<command> <collection>`, with the driver's ms).
 *
 * Raw-queue peer, same run, same Redis: bench/lib/flow-peer-worker.cjs — BullMQ's FlowProducer
 * doing the same fan-out/fan-in with no-op processors, one worker process with the same
 * concurrency; the bench adds each run's `prep` job (as POST /runs starts a run) and counts runs by
 * the `completed` events of their `join` (QueueEvents), BENCH_PIPELINE_PARALLEL in flight.
 *
 * steps/s = 20 × runs completed / seconds from the first start to the last end. Each side has a
 * warm-up round, then BENCH_PIPELINE_REPS repetitions of BENCH_PIPELINE_RUNS runs (more for a side
 * that would finish them in < BENCH_PIPELINE_MIN_S at its warm-up rate: the peer), alternated in
 * ABBA order; figures are medians. Then the soak: BENCH_PIPELINE_SOAK_RUNS more runs on the same
 * service, its RSS (/proc) sampled every BENCH_PIPELINE_SAMPLE_S seconds (see {@link rssFlatness}).
 */
import { BSON, MongoClient } from 'mongodb';
import Redis from 'ioredis';
import { mkdtempSync, readdirSync, rmSync } from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { performance } from 'node:perf_hooks';
import { ServiceProcess } from '../../scripts/lib/service-process';
import { diffCounts, median, percentile, procCpuMs, procRss, redisCommandStats, redisInfoField, sum } from './measure';
import { BENCH_PIPELINE_TEMPLATE, FAN, FlowSide, OrchestratorSide, STEPS_PER_RUN, TEMPLATE_NAME, closedLoop, killOnExit, serviceStats } from './pipeline-sides';
import { monitoredUri } from './systems';

export { BENCH_PIPELINE_TEMPLATE, STEPS_PER_RUN } from './pipeline-sides';

const round = (x: number, d = 1) => (Number.isFinite(x) ? Math.round(x * 10 ** d) / 10 ** d : NaN);
const mb = (b: number) => round(b / 2 ** 20, 1);
const int = (env: NodeJS.ProcessEnv, name: string, def: number) => (env[name] === undefined || env[name] === '' ? def : Number(env[name]));

/** The phase's knobs (documented in bench/run.ts's header). */
export function pipelineConfig(env: NodeJS.ProcessEnv) {
  return {
    /** Runs per repetition and side; 0 skips the phase (the soak too). */
    pipelineRuns: int(env, 'BENCH_PIPELINE_RUNS', 40),
    /** Runs in flight. */
    pipelineParallel: int(env, 'BENCH_PIPELINE_PARALLEL', 16),
    pipelineReps: int(env, 'BENCH_PIPELINE_REPS', 3),
    /** Step concurrency of both sides (the service's PIPELINE_STEP_CONCURRENCY, default 8). */
    pipelineConcurrency: int(env, 'BENCH_PIPELINE_CONCURRENCY', int(env, 'PIPELINE_STEP_CONCURRENCY', 8)),
    /** Runs of the RSS soak after the repetitions (0 = none). 10,000 take ~2 h on 2 CPUs (BENCHMARKS.md); the default is a smoke check. */
    pipelineSoakRuns: int(env, 'BENCH_PIPELINE_SOAK_RUNS', 100),
    pipelineSampleS: int(env, 'BENCH_PIPELINE_SAMPLE_S', 10),
    /** A side whose BENCH_PIPELINE_RUNS would take less than this (at its warm-up rate) runs more runs per repetition, up to 20×. */
    pipelineMinS: int(env, 'BENCH_PIPELINE_MIN_S', 5),
  };
}
export type PipelineConfig = ReturnType<typeof pipelineConfig>;

export interface PipelineBenchOptions extends PipelineConfig {
  redisUrl: string;
  /** The store (a private FerretDB v2 + DocumentDB in `npm run bench`). */
  mongoUri: string;
  /** CPU time of the store's server process so far, ms (NaN when unknown). */
  storeCpuMs: () => number;
  redisPid?: number;
  prefix: string;
  log: (line: string) => void;
}

/** One batch of runs on one side. */
export interface PipelineRound {
  side: 'orchestrator' | 'flowproducer';
  runs: number;
  /** Runs that ended otherwise than succeeded (orchestrator) or whose join failed (peer). */
  unsuccessful: number;
  steps: number;
  seconds: number;
  stepsPerSecond: number;
  /** A run's start → its end as the bench saw it, ms. */
  runMs: { p50: number; p95: number };
  /** CPU of the side's process (the service; the peer's worker process), ms per step. */
  processCpuMsPerStep: number;
  redisCpuMsPerStep: number;
  redisCommandsPerStep: number;
  /** The store's server (FerretDB v2 and its PostgreSQL), ms per step. */
  storeCpuMsPerStep: number;
  /** MongoDB commands the service sent per step (driver command monitoring), in all and by command. */
  mongoOpsPerStep: number;
  mongoOpsByCommand: Record<string, number>;
  /** The same by `<command> <collection>` per step, and the ms those commands took per step (send → reply, summed over concurrent commands). */
  mongoOpsByCollection: Record<string, number>;
  mongoMsByCollection: Record<string, number>;
}

export interface RssSample {
  /** Seconds since the soak started. */
  at: number;
  runs: number;
  rssMb: number;
  heapUsedMb: number;
}

export interface PipelineSoak {
  runs: number;
  unsuccessful: number;
  seconds: number;
  stepsPerSecond: number;
  sampleEveryS: number;
  samples: RssSample[];
  rss: ReturnType<typeof rssFlatness>;
  /** Entries left under PIPELINE_WORK_ROOT at the end (the sweeper removes ended runs' directories SWEEP_GRACE_MS after their last write, up to 100 per pass). */
  workDirsLeft: number;
  redisUsedMemoryMb: { start: number; end: number };
}

export interface PipelineResult {
  template: { name: string; steps: number; fan: number; maxParallel: number };
  store: string;
  concurrency: number;
  parallel: number;
  runsPerRep: number;
  /** Runs per repetition of each side: BENCH_PIPELINE_RUNS, or more so that a repetition lasts ≥ BENCH_PIPELINE_MIN_S. */
  runsPerSide: Record<'orchestrator' | 'flowproducer', number>;
  reps: number;
  orchestrator: PipelineRound;
  flowProducer: PipelineRound;
  /** Orchestrator steps/s ÷ FlowProducer steps/s (of the medians); target ≥ 0.5. */
  ratio: number;
  /** Each repetition's ratio (its two rounds back to back). */
  pairedRatios: number[];
  /** BSON bytes of a succeeded run's document (every commit $sets its snapshot and its whole events list), and its events. */
  runDocument: { bytes: number; snapshotBytes: number; eventsBytes: number; events: number; version: number };
  /** RSS of the service before the first round and after the repetitions, MB. */
  serviceRssMb: { idle: number; afterReps: number };
  soak?: PipelineSoak;
  rounds: PipelineRound[];
}

/**
 * RSS flatness over a soak. Warm-up = the samples before 10 % of the soak's runs were done;
 * start = median RSS of the samples from 10 % to 30 % of the runs; end = median of the samples
 * from 80 % of the runs on; growth = end / start − 1 (flat: < 10 %). Medians of windows, not single
 * samples, so a GC sawtooth does not decide it. Also the least-squares slope of RSS over runs after
 * the warm-up (MB per 1,000 runs), the first and last sample and the peak.
 */
export function rssFlatness(samples: RssSample[], totalRuns: number) {
  const window = (from: number, to: number, pick: (s: RssSample) => number = (s) => s.rssMb) => samples.filter((s) => s.runs >= from * totalRuns && s.runs <= to * totalRuns).map(pick);
  const after = samples.filter((s) => s.runs >= 0.1 * totalRuns);
  const start = median(window(0.1, 0.3));
  const end = median(window(0.8, 1));
  const n = after.length;
  const mx = after.reduce((a, s) => a + s.runs, 0) / n;
  const my = after.reduce((a, s) => a + s.rssMb, 0) / n;
  const slope = after.reduce((a, s) => a + (s.runs - mx) * (s.rssMb - my), 0) / after.reduce((a, s) => a + (s.runs - mx) ** 2, 0);
  const growthPct = round(((end - start) / start) * 100, 1);
  const heapStart = median(window(0.1, 0.3, (s) => s.heapUsedMb));
  const heapEnd = median(window(0.8, 1, (s) => s.heapUsedMb));
  return {
    /** The same windows' medians of the V8 heap in use. */
    heapUsed: { startMb: round(heapStart), endMb: round(heapEnd), growthPct: round(((heapEnd - heapStart) / heapStart) * 100, 1) },
    firstMb: samples[0]?.rssMb ?? NaN,
    startMb: round(start),
    endMb: round(end),
    lastMb: samples.at(-1)?.rssMb ?? NaN,
    peakMb: Math.max(...samples.map((s) => s.rssMb)),
    growthPct,
    slopeMbPer1000Runs: round(slope * 1000, 2),
    flat: Number.isFinite(growthPct) ? growthPct < 10 : null,
  };
}

export async function pipelineBench(opts: PipelineBenchOptions): Promise<PipelineResult> {
  const scratch = mkdtempSync(path.join(os.tmpdir(), 'aicd-bench-pipelines-'));
  const workRoot = path.join(scratch, 'runs');
  const db = `${opts.prefix}_pipelines`;
  const mongo = await MongoClient.connect(opts.mongoUri);
  const redis = new Redis(opts.redisUrl);
  let service: ServiceProcess | undefined;
  let orch: OrchestratorSide | undefined;
  let flow: FlowSide | undefined;
  const unhooks: (() => void)[] = [];
  // The scratch directory (service log, stats, PIPELINE_WORK_ROOT) also goes when the process exits mid-phase (SIGINT, the watchdog).
  const removeScratch = () => rmSync(scratch, { recursive: true, force: true });
  process.on('exit', removeScratch);
  unhooks.push(() => process.off('exit', removeScratch));
  try {
    // BENCH_PIPELINE_NODE_ARGS='--cpu-prof --cpu-prof-dir=/tmp/prof' profiles the service.
    const nodeArgs = ['-r', path.join(__dirname, 'preload.cjs'), ...(process.env.BENCH_PIPELINE_NODE_ARGS ?? '').split(' ').filter(Boolean)];
    const statsFile = path.join(scratch, 'service-stats.json');
    service = await ServiceProcess.boot(
      {
        PATH: process.env.PATH,
        HOME: process.env.HOME,
        REDIS_URL: opts.redisUrl,
        MONGODB_URI: monitoredUri(opts.mongoUri),
        MONGODB_DB: db,
        BENCH_MONGO_MONITOR: '1',
        BENCH_STATS_FILE: statsFile,
        QUEUE_PREFIX: db,
        ALLOW_TENANT_HEADER: 'true',
        LOG_LEVEL: 'warn',
        PIPELINE_STEP_CONCURRENCY: String(opts.pipelineConcurrency),
        PIPELINE_WORK_ROOT: workRoot,
        // PIPELINE_*, STORE_*, SWEEP_* and HEARTBEAT_* of the bench's environment reach the service.
        ...Object.fromEntries(Object.entries(process.env).filter(([k]) => /^(PIPELINE_(?!STEP_CONCURRENCY|WORK_ROOT)|STORE_|SWEEP_|HEARTBEAT_)/.test(k))),
      },
      path.join(scratch, 'service.log'),
      60_000,
      (s) => unhooks.push(killOnExit(s.child.pid)),
      opts.log,
      [],
      undefined,
      nodeArgs,
    );
    const s = service;
    const pid = s.child.pid;
    const saved = await s.http('POST', '/pipeline-templates', { 'x-tenant-id': 'bench' }, JSON.stringify(BENCH_PIPELINE_TEMPLATE));
    if (saved.status !== 201 && saved.status !== 200) throw new Error(`POST /pipeline-templates → ${saved.status} ${JSON.stringify(saved.body)}`);
    const runsCollection = mongo.db(db).collection<{ _id: string; status: string }>('runs');
    orch = new OrchestratorSide(s, runsCollection);
    flow = await FlowSide.open(opts.redisUrl, `${opts.prefix}_flow`, opts.pipelineConcurrency);
    unhooks.push(killOnExit(flow.worker.pid));
    const idleRss = procRss(pid).rss;

    const measure = async (side: 'orchestrator' | 'flowproducer', n: number): Promise<PipelineRound> => {
      const steps = n * STEPS_PER_RUN;
      const cpu = () => (side === 'orchestrator' ? procCpuMs(pid) : procCpuMs(flow!.worker.pid));
      const mongoOps = async () => {
        const st = side === 'orchestrator' ? await serviceStats(statsFile) : undefined;
        return { cmd: st?.mongo ?? {}, coll: st?.mongoByCollection ?? {}, ms: st?.mongoMsByCollection ?? {} };
      };
      const before = { cpu: cpu(), redisCpu: procCpuMs(opts.redisPid), store: opts.storeCpuMs(), cmds: await redisCommandStats(redis), mongo: await mongoOps() };
      const r = await closedLoop(n, opts.pipelineParallel, () => (side === 'orchestrator' ? orch!.run() : flow!.run()));
      const cmds = await redisCommandStats(redis);
      const after = await mongoOps();
      const mongo = diffCounts(after.cmd, before.mongo.cmd);
      const perStep = (counts: Record<string, number>, d = 2) => Object.fromEntries(Object.entries(counts).sort((a, b) => b[1] - a[1]).map(([k, v]) => [k, round(v / steps, d)]));
      const sorted = r.runMs.sort((a, b) => a - b);
      const commands = Object.entries(cmds).reduce((a, [k, v]) => (k === 'info' || k === 'xread' ? a : a + v - (before.cmds[k] ?? 0)), 0);
      return {
        side,
        runs: n,
        unsuccessful: r.unsuccessful,
        steps,
        seconds: round(r.seconds, 2),
        stepsPerSecond: round(steps / r.seconds),
        runMs: { p50: round(percentile(sorted, 50)), p95: round(percentile(sorted, 95)) },
        processCpuMsPerStep: round((cpu() - before.cpu) / steps, 3),
        redisCpuMsPerStep: round((procCpuMs(opts.redisPid) - before.redisCpu) / steps, 3),
        redisCommandsPerStep: round(commands / steps, 1),
        storeCpuMsPerStep: side === 'orchestrator' ? round((opts.storeCpuMs() - before.store) / steps, 3) : 0,
        mongoOpsPerStep: round(sum(mongo) / steps, 2),
        mongoOpsByCommand: perStep(mongo),
        mongoOpsByCollection: perStep(diffCounts(after.coll, before.mongo.coll)),
        mongoMsByCollection: perStep(diffCounts(after.ms, before.mongo.ms)),
      };
    };
    const say = (r: PipelineRound, label: string) =>
      opts.log(`  ${label} ${r.side}: ${r.stepsPerSecond} steps/s (${r.runs} runs in ${r.seconds} s, run p50 ${r.runMs.p50} ms${r.unsuccessful ? `, ${r.unsuccessful} not succeeded` : ''}; CPU ${r.processCpuMsPerStep} ms/step)`);

    // Warm-up (JIT, pools, Lua scripts), not counted.
    const warm = Math.min(50, opts.pipelineRuns);
    const size = async (side: 'orchestrator' | 'flowproducer') => {
      const w = await measure(side, warm);
      say(w, 'warm-up');
      const n = Math.max(opts.pipelineRuns, Math.min(20 * opts.pipelineRuns, Math.ceil((w.stepsPerSecond * opts.pipelineMinS) / STEPS_PER_RUN)));
      if (n > opts.pipelineRuns) opts.log(`  ${side}: ${n} runs per repetition (≥ ${opts.pipelineMinS} s at the warm-up's rate, BENCH_PIPELINE_MIN_S)`);
      return n;
    };
    const runsPerSide = { flowproducer: await size('flowproducer'), orchestrator: await size('orchestrator') };
    const rounds: PipelineRound[] = [];
    const paired: number[] = [];
    for (let rep = 1; rep <= opts.pipelineReps; rep++) {
      // ABBA: odd repetitions start with the peer, even ones with the orchestrator.
      const order: ('orchestrator' | 'flowproducer')[] = rep % 2 ? ['flowproducer', 'orchestrator'] : ['orchestrator', 'flowproducer'];
      const pair: Record<string, PipelineRound> = {};
      for (const side of order) {
        const r = await measure(side, runsPerSide[side]);
        rounds.push(r);
        pair[side] = r;
        say(r, `run ${rep}`);
      }
      paired.push(round(pair.orchestrator.stepsPerSecond / pair.flowproducer.stepsPerSecond, 3));
    }
    await flow.close();
    flow = undefined;
    const medianRound = (side: PipelineRound['side']): PipelineRound => {
      const rs = rounds.filter((r) => r.side === side);
      const out = { ...rs[0] } as Record<string, unknown>;
      const med = (xs: number[]) => round(median(xs), 3); // a median of two is a mean: no float noise in the report
      for (const [k, v] of Object.entries(rs[0])) if (typeof v === 'number') out[k] = med(rs.map((r) => (r as unknown as Record<string, number>)[k]));
      out.runMs = { p50: med(rs.map((r) => r.runMs.p50)), p95: med(rs.map((r) => r.runMs.p95)) };
      for (const field of ['mongoOpsByCommand', 'mongoOpsByCollection', 'mongoMsByCollection'] as const) {
        const keys = [...new Set(rs.flatMap((r) => Object.keys(r[field])))];
        out[field] = Object.fromEntries(keys.map((c) => [c, med(rs.map((r) => r[field][c] ?? 0))]).sort((a, b) => (b[1] as number) - (a[1] as number)));
      }
      return out as unknown as PipelineRound;
    };
    const o = medianRound('orchestrator');
    const f = medianRound('flowproducer');
    const afterReps = procRss(pid).rss;
    const doc = (await mongo.db(db).collection('runs').findOne({ status: 'succeeded' })) as { snapshot: object; events: object[]; version: number } | null;
    const runDocument = {
      bytes: doc ? BSON.calculateObjectSize(doc) : NaN,
      snapshotBytes: doc ? BSON.calculateObjectSize(doc.snapshot) : NaN,
      eventsBytes: doc ? BSON.calculateObjectSize({ events: doc.events }) : NaN,
      events: doc?.events.length ?? NaN,
      version: doc?.version ?? NaN,
    };

    let soak: PipelineSoak | undefined;
    if (opts.pipelineSoakRuns > 0) {
      opts.log(`  soak: ${opts.pipelineSoakRuns} runs, ${opts.pipelineParallel} in flight, service RSS every ${opts.pipelineSampleS} s`);
      const samples: RssSample[] = [];
      let done = 0;
      const t0 = performance.now();
      const sample = async () => {
        const heap = (await serviceStats(statsFile))?.heapUsed ?? NaN;
        samples.push({ at: round((performance.now() - t0) / 1000, 1), runs: done, rssMb: mb(procRss(pid).rss), heapUsedMb: mb(heap) });
      };
      const redisStart = mb(Number(await redisInfoField(redis, 'memory', 'used_memory')));
      await sample();
      const timer = setInterval(() => {
        void sample().then(() => {
          const last = samples.at(-1)!;
          if (samples.length % 6 === 0) opts.log(`  soak: ${done} runs in ${last.at} s, RSS ${last.rssMb} MB, heapUsed ${last.heapUsedMb} MB`);
        });
      }, opts.pipelineSampleS * 1000);
      let r;
      try {
        r = await closedLoop(opts.pipelineSoakRuns, opts.pipelineParallel, () => orch!.run(), (d) => (done = d));
      } finally {
        clearInterval(timer);
      }
      await sample();
      soak = {
        runs: opts.pipelineSoakRuns,
        unsuccessful: r.unsuccessful,
        seconds: round(r.seconds),
        stepsPerSecond: round((opts.pipelineSoakRuns * STEPS_PER_RUN) / r.seconds),
        sampleEveryS: opts.pipelineSampleS,
        samples,
        rss: rssFlatness(samples, opts.pipelineSoakRuns),
        workDirsLeft: readdirSync(workRoot).length,
        redisUsedMemoryMb: { start: redisStart, end: mb(Number(await redisInfoField(redis, 'memory', 'used_memory'))) },
      };
      opts.log(`  soak: ${soak.runs} runs in ${soak.seconds} s (${soak.stepsPerSecond} steps/s); RSS start ${soak.rss.startMb} → end ${soak.rss.endMb} MB (${soak.rss.growthPct} %), peak ${soak.rss.peakMb} MB`);
    }
    return {
      template: { name: TEMPLATE_NAME, steps: STEPS_PER_RUN, fan: FAN, maxParallel: BENCH_PIPELINE_TEMPLATE.maxParallel },
      store: '',
      concurrency: opts.pipelineConcurrency,
      parallel: opts.pipelineParallel,
      runsPerRep: opts.pipelineRuns,
      runsPerSide,
      reps: opts.pipelineReps,
      orchestrator: o,
      flowProducer: f,
      ratio: round(o.stepsPerSecond / f.stepsPerSecond, 3),
      pairedRatios: paired,
      runDocument,
      serviceRssMb: { idle: mb(idleRss), afterReps: mb(afterReps) },
      soak,
      rounds,
    };
  } finally {
    // Every step on its own: one failing must not leave the service or the peer running.
    const attempt = async (what: string, f: () => Promise<unknown> | undefined) => {
      try {
        await f();
      } catch (e) {
        opts.log(`pipelines cleanup, ${what}: ${String(e)}`);
      }
    };
    await attempt('watcher', () => orch?.stop());
    await attempt('flow peer', () => flow?.close());
    await attempt('service', () => service?.stop(10_000, opts.log));
    for (const u of unhooks) u();
    redis.disconnect();
    await attempt('database', () => mongo.db(db).dropDatabase());
    await attempt('client', () => mongo.close());
    rmSync(scratch, { recursive: true, force: true });
  }
}

