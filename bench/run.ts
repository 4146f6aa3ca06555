/**
 * `npm run bench`: the orchestrator against a raw-BullMQ chain, on the same Redis and
 * MongoDB-wire server, same process layout (this process submits, N worker processes work).
 * Writes bench/results/<date>.json and prints a markdown table. See BENCHMARKS.md.
 *
 * Needs `nest build` first (npm run bench does it): the worker processes are `node dist/main.js
 * --role=worker`, and this process loads the producer from dist/ (tsx does not emit decorator
 * metadata, so Nest classes are never loaded from src/ here).
 *
 * Env (with the defaults the whole run takes ~30 minutes on 2 cores):
 *   BENCH_STORE=documentdb  the MongoDB-wire server: a private FerretDB v2 + DocumentDB (../shared/docdb or BENCH_DOCDB_DIR;
 *                           the default when its start.sh is there); `postgresql`: a private FerretDB v1 (built by scripts/build-ferretdb.sh,
 *                           or BENCH_FERRETDB_BIN) on a fresh PostgreSQL database at BENCH_POSTGRES_URL
 *                           (default postgres://postgres@127.0.0.1:5432/postgres; the default store without DocumentDB when psql reaches it);
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
 *   BENCH_PREFILL_JOBS=100000 after the first worker-process count's repetitions, the orchestrator's again with this many
 *                           finished jobs (clones of this run's, bench/lib/prefill.ts) in its collections (0 = skip)
 *   BENCH_SCALING_AGENT_MS=200  then 1 → 2 worker processes (BENCH_PROCS) of the orchestrator alone, each MockAgent call taking
 *                           this long, so the processes' stage slots bind before the store (0 = skip)
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
 *   BENCH_PIPELINE_RUNS=40  pipelines (bench/lib/pipelines.ts): runs of a 20-step fan-out/fan-in template of no-op function steps
 *                           per repetition, against BullMQ's FlowProducer doing the same, side by side (0 = skip; BENCH_PIPELINE_REPS=3,
 *                           BENCH_PIPELINE_PARALLEL=16 runs in flight, BENCH_PIPELINE_CONCURRENCY=8 step concurrency of both sides;
 *                           a side whose runs would last < BENCH_PIPELINE_MIN_S=5 s at its warm-up rate runs more, up to 20×);
 *                           then BENCH_PIPELINE_SOAK_RUNS=100 more runs with the service's RSS every BENCH_PIPELINE_SAMPLE_S=10 s
 *                           (0 = no soak; the issue's 10,000 take ~2 h here); on the dashboard phases' store (BENCH_DASHBOARD_STORE);
 *                           BENCH_PIPELINE_NODE_ARGS=… options of node for the service (e.g. '--cpu-prof --cpu-prof-dir=/tmp/prof')
 *                           (the service's MongoDB commands per step by command and by `<command> <collection>`, with the driver's ms)
 *   BENCH_ONLY=pipelines    run only the phases named (comma-separated: saturated, latency, floor, volume, cli, list, fanout,
 *                           pipelines; bench/lib/config.ts); the others are off whatever their knobs say. The pipeline phase alone:
 *                           BENCH_ONLY=pipelines BENCH_PIPELINE_RUNS=100 BENCH_PIPELINE_REPS=2 npx tsx bench/run.ts (dist/ built)
 *   BENCH_DEDICATED_REDIS=1 start a private redis-server (clean INFO commandstats), else use REDIS_URL
 *   BENCH_TIMEOUT_S=1800    the run exits 3 with a message if it has no result by then
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
  median,
  procCpuMs,
  redisInfoField,
  postgresReachable,
  startDedicatedFerretDb,
  startDedicatedRedis,
  startDocumentDb,
  docdbDir,
  type RedisServer,
} from './lib/measure';
import { BaselineSystem, OrchestratorSystem, type BenchSystem } from './lib/systems';
import { cliOverhead, type CliOverheadResult } from './lib/cli-overhead';
import { fanoutBench, jobListBench, type DashboardBenchOptions, type FanoutResult, type JobListResult } from './lib/dashboard';
import { latency, log, mb, round, saturated, volume, workerStats, type Context, type LatencyResult, type SaturatedResult, type VolumeResult } from './lib/phases';
import { benchConfig } from './lib/config';
import { pipelineBench, type PipelineResult } from './lib/pipelines';
import { cliReport, dashboardReport, pipelineReport, report } from './lib/report';
import { storeFloor, type StoreFloorResult } from './lib/store-floor';
import { agentBoundScaling } from './lib/agent-bound';
import { prefilledRepetitions, type HotQueryTimes, type PrefillResult } from './lib/prefill';

const ROOT = path.resolve(__dirname, '..');
const env = process.env;
const cfg = benchConfig(env, docdbDir(ROOT));
if (cfg.n > 10_000) throw new Error('BENCH_N must be ≤ 10000 (completed messages are kept up to 10000 per queue)');

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
  const store = cfg.store || (fs.existsSync(path.join(docdbDir(ROOT), 'start.sh')) ? 'documentdb' : postgresReachable(cfg.postgresUrl) ? 'postgresql' : 'sqlite');
  if (!['documentdb', 'postgresql', 'sqlite', 'uri'].includes(store)) throw new Error(`BENCH_STORE must be documentdb, postgresql, sqlite or uri, not ${store}`);
  if (store === 'uri' && !env.MONGODB_URI) throw new Error('BENCH_STORE=uri needs MONGODB_URI');
  const mongoServer =
    store === 'uri'
      ? undefined
      : store === 'documentdb'
        ? await startDocumentDb(docdbDir(ROOT))
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
  // SIGINT/SIGTERM: stop what this process started, then exit; the 'exit' hooks (bench/lib/measure.ts,
  // bench/lib/pipeline-sides.ts killOnExit) SIGKILL whatever a phase still runs and stop DocumentDB.
  let interrupted = false;
  const onSignal = (signal: NodeJS.Signals) => {
    if (interrupted) process.exit(130); // a second one: exit now (the 'exit' hooks still run)
    interrupted = true;
    log(`${signal}: cleaning up`);
    const hurry = setTimeout(() => process.exit(130), 30_000);
    hurry.unref();
    void closeAll().finally(() => process.exit(signal === 'SIGINT' ? 130 : 143));
  };
  process.on('SIGINT', onSignal);
  process.on('SIGTERM', onSignal);

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
    const prefilled: SaturatedResult[] = [];
    let prefillInfo: (PrefillResult & { hotQueryMs: { empty: HotQueryTimes; prefilled: HotQueryTimes } }) | undefined;
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
              const res = await latency(ctx, s, rate, rate === cfg.rate ? cfg.durationS : Math.min(cfg.durationS, 10), cfg.drainS);
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
      if (firstConfig && cfg.prefillJobs > 0) {
        // The same repetitions with BENCH_PREFILL_JOBS finished jobs already in the collections.
        await orch.sampleCompleted(); // a finished lifecycle of this run to clone (the repetitions' were reset)
        const done = await prefilledRepetitions(orch.db, cfg.prefillJobs, cfg.runs, () => saturated(ctx, orch, sizes.get(orch)!, cfg.submitParallel, cfg.satMaxS), (r, res, jobs) =>
          `  run ${r} saturated ${orch.name} ×${procs} with ${jobs} jobs in the collection: ${res.lifecyclesPerSecond}/s (${res.lifecycles}/${res.submitted} in ${res.seconds} s)`, log);
        prefillInfo = done.info;
        prefilled.push(...done.results);
      }
      for (const s of systems) {
        const peak = Math.max(...(await workerStats(s)).map((w) => w.maxRss));
        sat.filter((x) => x.system === s.name && x.procs === procs).forEach((x) => ((x as SaturatedResult & { peakRssMb?: number }).peakRssMb = mb(peak)));
        await s.stopWorkers();
      }
    }

    const agentBound = await agentBoundScaling(ctx, orch, cfg);

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

    let dashboardStore: { uri: string; setup: string; cpuMs(): number; stop(): Promise<void> } | undefined;
    if (store === 'documentdb' && mongoServer && 'setup' in mongoServer) {
      const main = mongoServer; // the main store already is one (stopped by closeAll): no second instance
      dashboardStore = { uri: main.uri, setup: main.setup, cpuMs: () => main.cpuMs(), stop: async () => undefined };
    } else if ((cfg.listJobs > 0 || cfg.fanoutClients > 0 || cfg.pipelineRuns > 0) && cfg.dashboardStore === 'documentdb') {
      log(`dashboard and pipeline phases: starting FerretDB v2 + DocumentDB from ${docdbDir(ROOT)}`);
      dashboardStore = await startDocumentDb(docdbDir(ROOT));
    }
    let jobList: (JobListResult & { store: string }) | undefined;
    let fanout: (FanoutResult & { store: string }) | undefined;
    let pipelines: PipelineResult | undefined;
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
      if (cfg.pipelineRuns > 0) {
        log(`pipelines: ${cfg.pipelineReps} × ${cfg.pipelineRuns} runs of a 20-step fan-out/fan-in per side, then a soak of ${cfg.pipelineSoakRuns} runs`);
        const store = dashboardStore ?? { setup: versions.mongoWireServerSetup, cpuMs: ctx.mongoCpu };
        pipelines = { ...(await pipelineBench({ ...cfg, redisUrl: redisServer.url, redisPid: redisServer.pid, mongoUri: dashboardStore?.uri ?? mongoUri, storeCpuMs: () => store.cpuMs(), prefix: `${runId}_pipe`, log })), store: store.setup };
        log(`  ${pipelines.orchestrator.stepsPerSecond} steps/s vs FlowProducer ${pipelines.flowProducer.stepsPerSecond}: ratio ${pipelines.ratio}`);
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
      /** Orchestrator throughput with BENCH_PREFILL_JOBS finished jobs in the collection / with an empty one (same worker process). */
      /** 1 → 2 worker processes with agent calls of BENCH_SCALING_AGENT_MS (the worker's slots bind, not the store). */
      scalingAgentBound: agentBound.length ? round(medianRow(agentBound.filter((x) => x.procs === p2)).lifecyclesPerSecond / medianRow(agentBound.filter((x) => x.procs === p1)).lifecyclesPerSecond, 3) : NaN,
      throughputPrefilledOverEmpty: prefilled.length ? round(medianRow(prefilled).lifecyclesPerSecond / tput(orch, p1), 3) : NaN,
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
      pipelines,
      storeFloor: floor,
      prefilled: prefilled.length ? { ...prefillInfo, saturated: medianRow(prefilled) } : undefined,
      agentBound: agentBound.length ? { agentMs: cfg.scalingAgentMs, byProcs: cfg.procs.map((p) => medianRow(agentBound.filter((x) => x.procs === p))) } : undefined,
      raw: { saturated: sat, latency: lat, storeFloor: floors, prefilled, agentBound },
    };
    fs.mkdirSync(path.join(ROOT, 'bench', 'results'), { recursive: true });
    const file = path.join(ROOT, 'bench', 'results', `${result.date.replace(/:/g, '-').replace(/\.\d+Z$/, 'Z')}.json`);
    fs.writeFileSync(file, JSON.stringify(result, null, 2) + '\n');
    console.log(`load average at start ${result.loadAverage.start.join(' ')}, at end ${result.loadAverage.end.join(' ')} (nproc ${versions.nproc})`);
    for (const l of latLow) console.log(`below capacity: ${l.system} @~${l.rate}/s p50 ${l.p50} p90 ${l.p90} p99 ${l.p99} ms (${l.completed}/${l.submitted})`);
    if (latLow.length) console.log(`p50 ratio below capacity (orchestrator / ${baseline.name}): ${result.p50RatioBelowCapacity}`);
    if (sat.length) console.log(report(result, { p1, p2, orch, baseline, baselines, satMed, latMed }));
    if (cli) console.log(cliReport(cli));
    if (jobList || fanout) console.log(dashboardReport(jobList, fanout));
    if (pipelines) console.log(pipelineReport(pipelines));
    console.log(`\nresults: ${path.relative(ROOT, file)} (total ${totalSeconds} s)`);
  } finally {
    await closeAll();
  }
}


main().catch((e: unknown) => {
  console.error(e);
  process.exit(1);
});
