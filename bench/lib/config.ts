/**
 * The knobs of `npm run bench` (documented in bench/run.ts's header) and BENCH_ONLY, which keeps
 * only the phases it names.
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
