/**
 * Part 3 of "reliability proven by fault tests": the test's own redis-server (with AOF, and
 * without any persistence) and its own FerretDB are killed mid-run and restarted on the same
 * port and data dir. Meanwhile `/healthz` answers 503 naming the dependency; afterwards the
 * workers resume and every job still reaches the final state its script implies, with a legal
 * history and no step applied twice. Without Redis persistence the queues come back empty: the
 * sweeper re-creates every stage message from MongoDB, the source of truth.
 */
import { buildMain, checkJob, Cluster, FerretServer, FINAL, findFerretdb, findRedisServer, killEverything, poll, RedisServer, sleep } from './harness';

const JOBS = 40;
const NO_PROGRESS_MS = 60_000;
const SCRIPTS = ['mock: delay=300', 'mock: reject=1\nmock: delay=200', 'mock: transient=coding:1\nmock: delay=300', 'mock: fail=reviewing', 'mock: delay=coding:800'];

/**
 * Submits JOBS jobs, waits until some finished, runs `outage` (which must take the dependency
 * down, call `during()` and bring it back), then waits for every job and checks them all.
 * @returns the figures line.
 */
async function runThrough(c: Cluster, dependency: 'redis' | 'mongodb', outageMs: number, outage: (during: () => Promise<string>) => Promise<void>): Promise<string> {
  await c.startApi();
  await Promise.all([c.startWorker(), c.startWorker()]);
  const ids: string[] = [];
  for (let n = 0; n < JOBS; n++) ids.push(await c.submit(n, SCRIPTS[n % SCRIPTS.length]));
  await poll(async () => ((await c.count(FINAL)) >= 5 ? true : undefined), 60_000, () => 'no job finished before the outage');
  const before = await c.count(FINAL);

  let health = '';
  const downAt = Date.now();
  await outage(async () => {
    // While the dependency is down: /healthz is 503 and names it.
    const res = await poll(
      async () => {
        const r = await c.request('GET', '/healthz', undefined, 15_000);
        return r.status === 503 && r.body?.details?.[dependency]?.status === 'down' ? r : undefined;
      },
      20_000,
      () => `/healthz never reported ${dependency} down`,
      200,
    );
    health = `503 ${JSON.stringify(Object.fromEntries(Object.entries(res.body.details as Record<string, { status: string }>).map(([k, v]) => [k, v.status])))}`;
    await sleep(Math.max(0, downAt + outageMs - Date.now()));
    return health;
  });
  const outageTook = Date.now() - downAt;

  // Workers back off and resume: every job finishes (fail when nothing finishes for a minute).
  let done = 0;
  let progressAt = Date.now();
  while (done < JOBS) {
    await sleep(1000);
    const now = await c.count(FINAL).catch(() => done);
    if (now > done) progressAt = Date.now();
    done = now;
    if (Date.now() - progressAt > NO_PROGRESS_MS) throw new Error(`${JOBS - done} jobs unfinished after the ${dependency} outage:\n${await c.diagnose()}\n${c.logs()}`);
  }
  await c.drain(30_000);
  const verdicts = await Promise.all((await c.jobs()).map(checkJob));
  const lost = JOBS - verdicts.filter((v) => !v.lost).length;
  const doubleApplied = verdicts.filter((v) => v.doubleApplied).length;
  expect(verdicts.flatMap((v) => v.problems)).toEqual([]);
  expect(lost).toBe(0);
  expect(doubleApplied).toBe(0);
  await poll(async () => ((await c.request('GET', '/healthz')).status === 200 ? true : undefined), 20_000, () => '/healthz did not recover');
  // Nobody crashed or had to be restarted: the API and both workers rode the outage out.
  expect([c.api!, ...c.workers].filter((p) => !p.alive).map((p) => `${p.name} ${JSON.stringify(p.exit)}`)).toEqual([]);
  const sweeps = (c.logs(1e9).match(/sweep repaired jobs: \{[^}]*\}/g) ?? []).map((l) => l.replace(/.*: /, '').replace(/\\/g, ''));
  return `jobs=${JOBS} (${before} finished before) outage=${outageTook}ms healthz-during=${health} lost=${lost} double-applied=${doubleApplied} sweeper-repairs=${sweeps.join(' ') || 'none'}`;
}

describe('infrastructure faults: the test’s own Redis and FerretDB restarted mid-run', () => {
  const clusters: Cluster[] = [];
  const servers: Array<RedisServer | FerretServer> = [];
  let main: string;

  beforeAll(() => {
    main = buildMain();
  });

  afterAll(async () => {
    for (const c of clusters) await c.cleanup();
    for (const s of servers) await s.stop();
    killEverything();
  });

  const redisBin = findRedisServer();
  if (!redisBin) console.warn('chaos: SKIPPING the Redis restart tests: no redis-server on PATH');
  const itRedis = redisBin ? it : it.skip;

  itRedis('Redis killed (kill -9) and restarted with its append-only file: nothing lost', async () => {
    const redis = await RedisServer.start(true);
    servers.push(redis);
    const c = new Cluster('redis-aof', main, { redisUrl: redis.url });
    clusters.push(c);
    const figures = await runThrough(c, 'redis', 5000, async (during) => {
      await redis.down('SIGKILL');
      await during();
      await redis.up();
    });
    console.log(`chaos: redis kill -9 + restart (AOF): ${figures}`);
  }, 300_000);

  itRedis('Redis killed and restarted empty (no persistence): the sweeper re-creates the stage messages from MongoDB', async () => {
    const redis = await RedisServer.start(false);
    servers.push(redis);
    // One job per stage and worker at a time, so most messages wait in Redis and are lost with it.
    const one = { CONCURRENCY_PLANNING: '1', CONCURRENCY_CODING: '1', CONCURRENCY_REVIEWING: '1', CONCURRENCY_PR_OPEN: '1' };
    const c = new Cluster('redis-empty', main, { redisUrl: redis.url, env: one });
    clusters.push(c);
    const figures = await runThrough(c, 'redis', 5000, async (during) => {
      await redis.down('SIGKILL');
      await during();
      await redis.up();
    });
    expect(figures).toMatch(/sweeper-repairs=\{/); // the emptied queues were refilled by the sweeper
    console.log(`chaos: redis kill -9 + restart EMPTY (no AOF): ${figures}`);
  }, 300_000);

  const ferretBin = findFerretdb();
  if (!ferretBin) {
    console.warn('chaos: SKIPPING the FerretDB restart test: no FerretDB binary (set FERRETDB_BIN, or run scripts/build-ferretdb.sh to fill ~/.cache/aicd-orchestrator)');
  }
  (ferretBin ? it : it.skip)('FerretDB killed (kill -9) and restarted on its data dir: nothing lost', async () => {
    const ferret = await FerretServer.start(ferretBin!);
    servers.push(ferret);
    // 11 s down: longer than the driver's 5 s server selection, so repository calls fail; with 2
    // attempts a message can run out of them on infrastructure errors and wait for the sweeper.
    const c = new Cluster('ferret', main, { mongoUri: ferret.uri, env: { STAGE_ATTEMPTS: '2' } });
    clusters.push(c);
    const figures = await runThrough(c, 'mongodb', 11_000, async (during) => {
      await ferret.down('SIGKILL');
      await during();
      await ferret.up();
    });
    console.log(`chaos: FerretDB kill -9 + restart: ${figures}`);
  }, 300_000);
});
