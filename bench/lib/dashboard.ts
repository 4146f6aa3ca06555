/**
 * The dashboard's two performance targets (issue "Operator surface"):
 *
 * 1. Job list with 10,000 jobs: an API process (`--role=api`) over a store seeded through
 *    `POST /jobs` with BENCH_LIST_JOBS jobs of one tenant (in BENCH_LIST_REPOS repositories, a
 *    quarter of them then marked COMPLETED and a tenth FAILED) and a fifth as many of another
 *    tenant. Sequential requests as the dashboard makes them — first page, a deep page by cursor,
 *    a state filter, a repository filter, the counts — timed end to end (HTTP included). The raw
 *    baseline, in the same run: the first page's query through the MongoDB driver alone.
 *
 * 2. SSE fan-out: one all-in-one service (API + every stage, MockAgent without delay); the commit
 *    path's throughput (lifecycles/s, BENCH_FANOUT_JOBS submitted BENCH_FANOUT_PARALLEL at a time)
 *    with no SSE client, then with BENCH_FANOUT_CLIENTS clients on `GET /events/stream`,
 *    alternated BENCH_FANOUT_RUNS times in ABBA order (medians). The clients run in a child process
 *    (bench/lib/sse-clients.cjs: they count, they do not parse), as remote browsers would not share
 *    the submitting process; each counts the COMPLETED events it got, so the fan-out is shown to
 *    have happened, not only to have been connected.
 */
import { MongoClient } from 'mongodb';
import { fork, type ChildProcess } from 'node:child_process';
import { randomUUID } from 'node:crypto';
import { mkdtempSync, rmSync } from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { performance } from 'node:perf_hooks';
import { ServiceProcess } from '../../scripts/lib/service-process';
import { median, percentile } from './measure';

const round = (x: number) => Math.round(x * 10) / 10;
const sleep = (n: number) => new Promise((r) => setTimeout(r, n));
const stats = (xs: number[]) => {
  const sorted = [...xs].sort((a, b) => a - b);
  return { p50: round(percentile(sorted, 50)), p95: round(percentile(sorted, 95)) };
};

export interface DashboardBenchOptions {
  redisUrl: string;
  mongoUri: string;
  prefix: string;
  log: (line: string) => void;
  listJobs: number;
  listRepos: number;
  listRequests: number;
  fanoutClients: number;
  fanoutJobs: number;
  fanoutParallel: number;
  fanoutRuns: number;
}

export interface JobListResult {
  jobs: number;
  otherTenantJobs: number;
  requests: number;
  /** Each request as the dashboard makes it, end to end over HTTP, ms. */
  firstPageMs: { p50: number; p95: number };
  deepPageMs: { p50: number; p95: number };
  stateFilterMs: { p50: number; p95: number };
  repositoryFilterMs: { p50: number; p95: number };
  countsMs: { p50: number; p95: number };
  /** The first page's query through the MongoDB driver alone, ms. */
  rawFirstPageMs: { p50: number; p95: number };
  seedSeconds: number;
}

export interface FanoutResult {
  clients: number;
  jobs: number;
  runs: number;
  /** Median lifecycles per second with no SSE client. */
  withoutClients: number;
  /** Median lifecycles per second with `clients` SSE clients connected. */
  withClients: number;
  /** withClients / withoutClients (of the medians). */
  ratio: number;
  /** Each run's with/without ratio (the two rounds of a run are back to back), and their median. */
  pairedRatios: number[];
  medianPairedRatio: number;
  /** COMPLETED events each client received per run, minimum over clients and runs (should be `jobs`). */
  minCompletedEventsPerClient: number;
}

function serviceEnv(opts: DashboardBenchOptions, db: string, extra: Record<string, string> = {}): NodeJS.ProcessEnv {
  return {
    PATH: process.env.PATH,
    HOME: process.env.HOME,
    REDIS_URL: opts.redisUrl,
    MONGODB_URI: opts.mongoUri,
    MONGODB_DB: db,
    QUEUE_PREFIX: db,
    ALLOW_TENANT_HEADER: 'true',
    LOG_LEVEL: 'warn',
    // The fan-out's and the store's settings may be varied from the bench's environment (EVENTS_COALESCE_MS=0, STORE_CAS=version-claim).
    ...Object.fromEntries(Object.entries(process.env).filter(([k]) => /^(EVENTS_|SSE_|STORE_)/.test(k))),
    ...extra,
  };
}

/** Runs `fn` over `items`, `parallel` at a time. */
async function pool<T>(items: T[], parallel: number, fn: (item: T) => Promise<void>): Promise<void> {
  let next = 0;
  await Promise.all(
    Array.from({ length: Math.min(parallel, items.length) }, async () => {
      while (next < items.length) await fn(items[next++]);
    }),
  );
}

async function timed(n: number, fn: () => Promise<void>): Promise<number[]> {
  for (let i = 0; i < Math.min(20, n); i++) await fn(); // warm-up
  const out: number[] = [];
  for (let i = 0; i < n; i++) {
    const t0 = performance.now();
    await fn();
    out.push(performance.now() - t0);
  }
  return out;
}

/** Phase 1: the job list over BENCH_LIST_JOBS jobs. */
export async function jobListBench(opts: DashboardBenchOptions): Promise<JobListResult> {
  const scratch = mkdtempSync(path.join(os.tmpdir(), 'aicd-bench-list-'));
  const db = `${opts.prefix}_list`;
  let service: ServiceProcess | undefined;
  const mongo = await MongoClient.connect(opts.mongoUri);
  try {
    service = await ServiceProcess.boot(serviceEnv(opts, db), path.join(scratch, 'service.log'), 60_000, () => undefined, opts.log, ['--role=api']);
    const s = service;
    const submit = async (tenant: string, n: number) => {
      const res = await s.http('POST', '/jobs', { 'x-tenant-id': tenant }, JSON.stringify({
        repositoryId: `bench/repo-${n % opts.listRepos}`,
        issue: { id: String(n), title: `Bench issue ${n}`, body: '', url: `https://example.test/${n}` },
      }));
      if (res.status !== 201) throw new Error(`POST /jobs → ${res.status} ${JSON.stringify(res.body)}`);
    };
    // 1,000 jobs (and a fifth as many of another tenant) through the API; the rest are copies of
    // those documents under new ids and times (seeding 12,000 through the API alone takes minutes).
    const t0 = performance.now();
    const other = Math.floor(opts.listJobs / 5);
    const viaApi = Math.min(1000, opts.listJobs);
    await pool([...Array(viaApi).keys()], 32, (n) => submit('bench', n));
    await pool([...Array(Math.floor(viaApi / 5)).keys()], 32, (n) => submit('other', n));
    const jobs = mongo.db(db).collection<Record<string, unknown> & { _id: string }>('jobs');
    for (const [tenant, total] of [['bench', opts.listJobs], ['other', other]] as const) {
      const models = await jobs.find({ tenantId: tenant }).toArray();
      const start = Date.now() - total * 1000;
      for (let from = models.length; from < total; from += 500) {
        const batch = [];
        for (let i = from; i < Math.min(total, from + 500); i++) {
          const m = models[i % models.length];
          const at = new Date(start + i * 1000);
          batch.push({ ...m, _id: randomUUID(), idempotencyKey: randomUUID(), repositoryId: `bench/repo-${i % opts.listRepos}`, createdAt: at, updatedAt: at });
        }
        await jobs.insertMany(batch);
      }
    }
    const seedSeconds = round((performance.now() - t0) / 1000);
    // States as a live system has them: most jobs done, some failed (no workers run here).
    const ids = (await jobs.find({ tenantId: 'bench' }, { projection: { _id: 1 } }).toArray()).map((d) => d._id);
    await jobs.updateMany({ _id: { $in: ids.filter((_, i) => i % 4 === 0) } }, { $set: { state: 'COMPLETED' } });
    await jobs.updateMany({ _id: { $in: ids.filter((_, i) => i % 10 === 1) } }, { $set: { state: 'FAILED' } });
    opts.log(`  seeded ${opts.listJobs} + ${other} jobs (${viaApi} through POST /jobs) in ${seedSeconds} s`);

    const headers = { 'x-tenant-id': 'bench' };
    const get = (url: string) => async () => {
      const res = await s.http('GET', url, headers);
      if (res.status !== 200) throw new Error(`GET ${url} → ${res.status} ${JSON.stringify(res.body)}`);
    };
    // A cursor 40 pages deep (or as deep as there are pages).
    let cursor = '';
    for (let i = 0; i < Math.min(40, Math.floor(opts.listJobs / 50) - 1); i++) cursor = (await s.http<{ nextCursor: string }>('GET', `/jobs?limit=50${cursor ? `&cursor=${encodeURIComponent(cursor)}` : ''}`, headers)).body.nextCursor;
    const n = opts.listRequests;
    const firstPage = stats(await timed(n, get('/jobs?limit=50')));
    const deepPage = stats(await timed(n, get(`/jobs?limit=50&cursor=${encodeURIComponent(cursor)}`)));
    const stateFilter = stats(await timed(n, get('/jobs?limit=50&state=FAILED')));
    const repositoryFilter = stats(await timed(n, get('/jobs?limit=50&repositoryId=bench/repo-3')));
    const counts = stats(await timed(n, get('/jobs/counts')));
    const raw = stats(
      await timed(n, async () => {
        await jobs.find({ tenantId: 'bench' }).sort({ updatedAt: -1, _id: -1 }).limit(51).toArray();
      }),
    );
    return {
      jobs: opts.listJobs,
      otherTenantJobs: other,
      requests: n,
      firstPageMs: firstPage,
      deepPageMs: deepPage,
      stateFilterMs: stateFilter,
      repositoryFilterMs: repositoryFilter,
      countsMs: counts,
      rawFirstPageMs: raw,
      seedSeconds,
    };
  } finally {
    await service?.stop(10_000, opts.log);
    await mongo.db(db).dropDatabase().catch(() => undefined);
    await mongo.close();
    rmSync(scratch, { recursive: true, force: true });
  }
}

/** BENCH_FANOUT_CLIENTS SSE clients in a child process (bench/lib/sse-clients.cjs). */
class ClientProcess {
  private readonly child: ChildProcess;
  readonly connected: Promise<void>;

  constructor(url: string, tenant: string, n: number) {
    this.child = fork(path.join(__dirname, 'sse-clients.cjs'), [url, tenant, String(n)], { stdio: ['ignore', 'inherit', 'inherit', 'ipc'] });
    // BENCH_FANOUT_CLIENT_NICE (default 0): the clients' scheduling priority, to tell how much of the
    // fan-out's cost is the clients' own reading on this machine (browsers would be elsewhere).
    const nice = Number(process.env.BENCH_FANOUT_CLIENT_NICE ?? 0);
    if (nice && this.child.pid) os.setPriority(this.child.pid, nice);
    this.connected = new Promise((resolve, reject) => {
      this.child.on('message', (m: { type: string; message?: string }) => {
        if (m.type === 'connected') resolve();
        if (m.type === 'error') reject(new Error(m.message));
      });
      this.child.once('exit', (code) => reject(new Error(`SSE client process exited (${code})`)));
    });
    this.connected.catch(() => undefined);
  }

  /** COMPLETED events each client has counted. */
  report(): Promise<number[]> {
    return new Promise((resolve) => {
      const on = (m: { type: string; completed?: number[] }) => {
        if (m.type !== 'report') return;
        this.child.off('message', on);
        resolve(m.completed!);
      };
      this.child.on('message', on);
      this.child.send({ type: 'report' });
    });
  }

  close(): void {
    if (this.child.exitCode === null && this.child.connected) this.child.send({ type: 'close' });
    setTimeout(() => this.child.kill('SIGKILL'), 2000).unref();
  }
}

/** Phase 2: commit throughput with and without SSE clients, side by side. */
export async function fanoutBench(opts: DashboardBenchOptions): Promise<FanoutResult> {
  const scratch = mkdtempSync(path.join(os.tmpdir(), 'aicd-bench-fanout-'));
  const db = `${opts.prefix}_fanout`;
  let service: ServiceProcess | undefined;
  let clients: ClientProcess | undefined;
  try {
    service = await ServiceProcess.boot(
      serviceEnv(opts, db, { MOCK_AGENT_DELAY_MS: '0', SWEEP_INTERVAL_MS: '0', CONCURRENCY_PLANNING: '16', CONCURRENCY_CODING: '16', CONCURRENCY_REVIEWING: '16', CONCURRENCY_PR_OPEN: '16' }),
      path.join(scratch, 'service.log'),
      60_000,
      () => undefined,
      opts.log,
    );
    const s = service;
    const tenant = { 'x-tenant-id': 'fan' };
    let serial = 0;
    /** Submits `jobs` lifecycles and waits for all to complete; lifecycles per second. */
    const round_ = async (): Promise<number> => {
      const base = (await s.http<{ byState: Record<string, number> }>('GET', '/jobs/counts', tenant)).body.byState.COMPLETED ?? 0;
      const t0 = performance.now();
      await pool([...Array(opts.fanoutJobs).keys()], opts.fanoutParallel, async () => {
        const n = serial++;
        const res = await s.http('POST', '/jobs', tenant, JSON.stringify({ repositoryId: 'bench/fanout', issue: { id: String(n), title: `Fan-out ${n}`, body: '', url: `https://example.test/f${n}` } }));
        if (res.status !== 201) throw new Error(`POST /jobs → ${res.status}`);
      });
      for (;;) {
        const done = (await s.http<{ byState: Record<string, number> }>('GET', '/jobs/counts', tenant)).body.byState.COMPLETED ?? 0;
        if (done - base >= opts.fanoutJobs) break;
        if (performance.now() - t0 > 120_000) throw new Error(`fan-out round: ${done - base}/${opts.fanoutJobs} completed after 120 s`);
        await sleep(100);
      }
      return opts.fanoutJobs / ((performance.now() - t0) / 1000);
    };
    await round_(); // warm-up
    const without: number[] = [];
    const withClients: number[] = [];
    let minCompleted = Infinity;
    const withRound = async () => {
      clients = new ClientProcess(`${s.base}/events/stream?kinds=job`, 'fan', opts.fanoutClients);
      await clients.connected;
      withClients.push(await round_());
      await sleep(500); // the last events reach the clients
      minCompleted = Math.min(minCompleted, ...(await clients.report()));
      clients.close();
      clients = undefined;
    };
    for (let r = 1; r <= opts.fanoutRuns; r++) {
      // ABBA order (odd runs without clients first, even runs with them first), so a drift over
      // the phase (the collection grows by every round) does not favour either side.
      if (r % 2) {
        without.push(await round_());
        await withRound();
      } else {
        await withRound();
        without.push(await round_());
      }
      opts.log(`  run ${r}: ${round(without.at(-1)!)}/s without clients, ${round(withClients.at(-1)!)}/s with ${opts.fanoutClients} (each got ≥ ${minCompleted} COMPLETED events)`);
    }
    const w0 = median(without);
    const w1 = median(withClients);
    const paired = withClients.map((w, i) => Math.round((w / without[i]) * 1000) / 1000);
    return {
      clients: opts.fanoutClients,
      jobs: opts.fanoutJobs,
      runs: opts.fanoutRuns,
      withoutClients: round(w0),
      withClients: round(w1),
      ratio: Math.round((w1 / w0) * 1000) / 1000,
      pairedRatios: paired,
      medianPairedRatio: median(paired),
      minCompletedEventsPerClient: minCompleted === Infinity ? 0 : minCompleted,
    };
  } finally {
    clients?.close();
    await service?.stop(10_000, opts.log);
    const mongo = await MongoClient.connect(opts.mongoUri);
    await mongo.db(db).dropDatabase().catch(() => undefined);
    await mongo.close();
    rmSync(scratch, { recursive: true, force: true });
  }
}
