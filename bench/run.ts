/**
 * `npm run bench`: the orchestrator against a raw-BullMQ chain, on the same Redis and
 * MongoDB-wire server, same process layout (this process submits, N worker processes work).
 * Writes bench/results/<date>.json and prints a markdown table. See BENCHMARKS.md.
 *
 * Needs `nest build` first (npm run bench does it): the worker processes are `node dist/main.js
 * --role=worker`, and this process loads the producer from dist/ (tsx does not emit decorator
 * metadata, so Nest classes are never loaded from src/ here).
 *
 * Its knobs (environment variables; the defaults take ~30 minutes on 2 cores) are documented
 * where they are read: bench/lib/config.ts.
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
