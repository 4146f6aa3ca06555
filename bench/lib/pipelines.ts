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
 * Store floor, same run, after each pair: bench/lib/pipeline-floor.ts — the step's MongoDB records
 * alone (attempt insert and end, the run's group commits) through the real repositories, per step
 * and batched per event-loop turn: the most any orchestrator writing those records could reach.
 *
 * steps/s = 20 × runs completed / seconds from the first start to the last end. Each side has a
 * warm-up round, then BENCH_PIPELINE_REPS repetitions of BENCH_PIPELINE_RUNS runs (more for a side
 * that would finish them in < BENCH_PIPELINE_MIN_S at its warm-up rate: the peer), alternated in
 * ABBA order; figures are medians. Then the soak: BENCH_PIPELINE_SOAK_RUNS more runs on the same
 * service, its RSS (/proc) sampled every BENCH_PIPELINE_SAMPLE_S seconds (see {@link rssFlatness}).
 */
import { BSON, MongoClient } from 'mongodb';
import Redis from 'ioredis';
import { mkdtempSync, rmSync } from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { ServiceProcess } from '../../scripts/lib/service-process';
import { diffCounts, median, percentile, procCpuMs, procRss, redisCommandStats, sum } from './measure';
import { BENCH_PIPELINE_TEMPLATE, FAN, FlowSide, OrchestratorSide, STEPS_PER_RUN, TEMPLATE_NAME, closedLoop, killOnExit, serviceStats } from './pipeline-sides';
import { monitoredUri } from './systems';
import { soakRuns, type PipelineSoak } from './pipeline-soak';

export { rssFlatness, type PipelineSoak, type RssSample } from './pipeline-soak';
import { pipelineFloor, succeededRun, type PipelineFloorResult } from './pipeline-floor';

export { BENCH_PIPELINE_TEMPLATE, STEPS_PER_RUN } from './pipeline-sides';

const round = (x: number, d = 1) => (Number.isFinite(x) ? Math.round(x * 10 ** d) / 10 ** d : NaN);
const mb = (b: number) => round(b / 2 ** 20, 1);
const int = (env: NodeJS.ProcessEnv, name: string, def: number) => (env[name] === undefined || env[name] === '' ? def : Number(env[name]));

/** The phase's knobs (documented in bench/lib/config.ts's header). */
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
  /**
   * The store floor (bench/lib/pipeline-floor.ts): the records a durable step needs, alone, one
   * round per repetition after its pair; the median round, and each round's steps/s.
   */
  floor?: PipelineFloorResult & { rounds: number[] };
  /** The same with the attempt records batched per event-loop turn (`batched` mode). */
  floorBatched?: PipelineFloorResult & { rounds: number[] };
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

export async function pipelineBench(opts: PipelineBenchOptions): Promise<PipelineResult> {
  const scratch = mkdtempSync(path.join(os.tmpdir(), 'aicd-bench-pipelines-'));
  const workRoot = path.join(scratch, 'runs');
  const db = `${opts.prefix}_pipelines`;
  const mongo = await MongoClient.connect(opts.mongoUri, { monitorCommands: true }); // the store floor counts its commands
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
    const floorRounds: PipelineFloorResult[] = [];
    const batchedRounds: PipelineFloorResult[] = [];
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
      const sample = await succeededRun(mongo, db);
      if (sample) {
        for (const mode of ['per-step', 'batched'] as const) {
          const fr = await pipelineFloor(mongo, `${db}_floor`, sample, runsPerSide.orchestrator, opts.pipelineParallel, opts.pipelineConcurrency, opts.storeCpuMs, mode);
          (mode === 'batched' ? batchedRounds : floorRounds).push(fr);
          opts.log(`  run ${rep} store floor, ${mode}: ${fr.stepsPerSecond} steps/s (${fr.runs} runs in ${fr.seconds} s; ${fr.mongoOpsPerStep} MongoDB ops/step, store CPU ${fr.storeCpuMsPerStep} ms/step)`);
        }
      }
    }
    const medianFloor = (rs: PipelineFloorResult[]) => {
      const m = rs.slice().sort((a, b) => a.stepsPerSecond - b.stepsPerSecond)[Math.floor((rs.length - 1) / 2)];
      return m && { ...m, rounds: rs.map((r) => r.stepsPerSecond) };
    };
    const [floor, floorBatched] = [medianFloor(floorRounds), medianFloor(batchedRounds)];
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

    const soak = opts.pipelineSoakRuns > 0
      ? await soakRuns({ runs: opts.pipelineSoakRuns, parallel: opts.pipelineParallel, sampleS: opts.pipelineSampleS, log: opts.log }, () => orch!.run(), pid, statsFile, redis, workRoot)
      : undefined;
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
      floor,
      floorBatched,
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

