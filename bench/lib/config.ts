/**
 * The knobs of `npm run bench` (bench/run.ts) and BENCH_ONLY, which keeps only the phases it names.
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
import * as fs from 'node:fs';
import * as path from 'node:path';
import { pipelineConfig } from './pipelines';

/** The phases BENCH_ONLY can name (comma-separated). */
export const BENCH_PHASES = ['saturated', 'latency', 'floor', 'volume', 'cli', 'list', 'fanout', 'pipelines'] as const;
export type BenchPhase = (typeof BENCH_PHASES)[number];

export function benchConfig(env: NodeJS.ProcessEnv, docdb: string) {
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
    timeoutS: int('BENCH_TIMEOUT_S', 1800),
    chainStages: int('BENCH_CHAIN_STAGES', 5),
    chainAlso: (env.BENCH_CHAIN_ALSO ?? '4').split(',').filter(Boolean).map(Number),
    procs: (env.BENCH_PROCS ?? '1,2').split(',').filter(Boolean).map(Number),
    prefillJobs: int('BENCH_PREFILL_JOBS', 100_000),
    scalingAgentMs: int('BENCH_SCALING_AGENT_MS', 200),
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
    dashboardStore: env.BENCH_DASHBOARD_STORE ?? (fs.existsSync(path.join(docdb, 'start.sh')) ? 'documentdb' : 'same'),
    store: env.BENCH_STORE ?? '',
    postgresUrl: env.BENCH_POSTGRES_URL ?? 'postgres://postgres@127.0.0.1:5432/postgres',
    ferretdbBin: env.BENCH_FERRETDB_BIN ?? '',
    ferretdbSqliteParams: env.BENCH_FERRETDB_SQLITE_PARAMS ?? '',
    label: env.BENCH_LABEL ?? '',
    ...pipelineConfig(env),
  };
  return only(cfg, env.BENCH_ONLY ?? '');
}
export type BenchConfig = ReturnType<typeof benchConfig>;

/**
 * BENCH_ONLY=pipelines (or e.g. `list,fanout`): every phase not named is off, whatever its own
 * knobs say; `saturated` is the raw-chain comparison (BENCH_PROCS), `latency` and `floor` run
 * inside it (naming either keeps it, with only one worker-process count).
 */
function only<T extends { procs: number[]; durationS: number; floor: boolean; prefillJobs: number; scalingAgentMs: number; volumeJobs: number; cliJobs: number; listJobs: number; fanoutClients: number; pipelineRuns: number }>(cfg: T, list: string): T {
  if (!list.trim()) return cfg;
  const want = new Set(list.split(',').map((p) => p.trim()).filter(Boolean));
  const unknown = [...want].filter((p) => !(BENCH_PHASES as readonly string[]).includes(p));
  if (unknown.length) throw new Error(`BENCH_ONLY: unknown phase(s) ${unknown.join(', ')}; known: ${BENCH_PHASES.join(', ')}`);
  const has = (p: BenchPhase) => want.has(p);
  const sat = has('saturated') || has('latency') || has('floor');
  return {
    ...cfg,
    procs: sat ? (has('saturated') ? cfg.procs : cfg.procs.slice(0, 1)) : [],
    durationS: has('saturated') || has('latency') ? cfg.durationS : 0,
    floor: (has('saturated') || has('floor')) && cfg.floor,
    prefillJobs: has('saturated') ? cfg.prefillJobs : 0,
    scalingAgentMs: has('saturated') ? cfg.scalingAgentMs : 0,
    volumeJobs: has('volume') ? cfg.volumeJobs : 0,
    cliJobs: has('cli') ? cfg.cliJobs : 0,
    listJobs: has('list') ? cfg.listJobs : 0,
    fanoutClients: has('fanout') ? cfg.fanoutClients : 0,
    pipelineRuns: has('pipelines') ? cfg.pipelineRuns : 0,
  };
}
