/**
 * Part 2 of "reliability proven by fault tests": 300 jobs with scripted outcomes run through an
 * API process and three worker processes while a bounded loop kill -9s, every 1–2 s, a worker with
 * an agent call in flight (while another one is up) and starts a replacement. Every job must reach
 * the final state its script implies (nothing lost), and its history must be a legal path of the
 * statechart and exactly the script's steps with one commit each (nothing applied twice),
 * although agent calls were re-delivered. Prints
 * `chaos: jobs=N kills=K redeliveries=R lost=L double-applied=D`.
 *
 * At most WINDOW jobs are unfinished at a time: each finished job is checked at once and its
 * document deleted. Stock FerretDB v1 scans the whole collection for every query (BENCHMARKS.md),
 * so this keeps the run's cost linear in the number of jobs instead of quadratic. A finished job
 * accepts no stage work (COMPLETED/CANCELLED are final, FAILED only takes external events), so
 * checking it when it finishes is checking its last word.
 */
import type { MockCallLogEntry } from '../../src/agents/mock.agent';
import { buildMain, checkJob, Cluster, FINAL, killEverything, redeliveries, sleep, type JobVerdict } from './harness';
import { startChaosStore, type ChaosStore } from './chaos-store';

const JOBS = Number(process.env.CHAOS_JOBS ?? 300);
const WINDOW = 75;
const WORKERS = 3;
/** Kills stop after this long or this many (then the survivors must finish the jobs). */
const KILL_WINDOW_MS = 150_000;
const MAX_KILLS = 40;
/** Fail when no job finished for this long: every repair path (stalled check ≤ 3 s, retry
 * backoff ≤ 0.8 s, sweeper 3 s + 5 s grace, claim roll-forward) acts well within it. */
const NO_PROGRESS_MS = 60_000;

/** Scripted outcomes, cycled over the jobs. */
const SCRIPTS = [
  '',
  'mock: reject=1',
  'mock: reject=2',
  'mock: transient=planning:1',
  'mock: transient=coding:1',
  'mock: transient=reviewing:1',
  'mock: transient=pr-open:1',
  'mock: fail=coding',
  'mock: fail=reviewing',
  'mock: delay=coding:400',
  'mock: delay=reviewing:400\nmock: reject=1',
  'mock: fail=planning',
  'mock: fail=pr-open',
  'mock: delay=200',
  '',
  'mock: transient=coding:1\nmock: reject=1',
];

describe('kill -9 of worker processes under load', () => {
  let c: Cluster;
  let store: ChaosStore | undefined;

  beforeAll(async () => {
    const main = buildMain();
    // The test's own server (see chaos-store.ts): FerretDB v2 + DocumentDB where it is, else FerretDB v1.
    store = await startChaosStore('kill9');
    console.log(`chaos store: ${store.name}`);
    // A slower sweeper than the harness default: each sweep is a collection scan on FerretDB.
    c = new Cluster('kill9', main, { ...(store.uri ? { mongoUri: store.uri } : {}), env: { SWEEP_INTERVAL_MS: '3000', SWEEP_GRACE_MS: '5000' } });
  }, 60_000);

  afterAll(async () => {
    await c?.cleanup();
    await store?.stop();
    killEverything();
  });

  it(`${JOBS} jobs, workers killed every 1–2 s: none lost, no transition applied twice`, async () => {
    const started = Date.now();
    await c.startApi();
    await Promise.all(Array.from({ length: WORKERS }, () => c.startWorker()));

    // Submit over REST (keeping ≤ WINDOW unfinished) and check each job as it finishes.
    const ids: string[] = [];
    const verdicts = new Map<string, JobVerdict>();
    let failure: Error | undefined;
    const pump = (async () => {
      let progressAt = Date.now();
      while (verdicts.size < JOBS) {
        const room = Math.min(JOBS - ids.length, WINDOW - (ids.length - verdicts.size));
        const batch = Array.from({ length: Math.max(0, room) }, (_, k) => ids.length + k);
        for (let i = 0; i < batch.length; i += 8) {
          const got = await Promise.all(batch.slice(i, i + 8).map((n) => c.submit(n, `Chaos job ${n}.\n${SCRIPTS[n % SCRIPTS.length]}`, 60_000)));
          ids.push(...got);
        }
        for (const job of await c.jobsIn(FINAL)) {
          verdicts.set(job.id, await checkJob(job));
          await c.deleteJob(job.id);
          progressAt = Date.now();
        }
        if (Date.now() - progressAt > NO_PROGRESS_MS) {
          throw new Error(`${ids.length - verdicts.size} jobs unfinished, none finished for ${NO_PROGRESS_MS} ms:\n${await c.diagnose()}\n${c.logs()}`);
        }
        await sleep(1000);
      }
    })().catch((e: Error) => {
      failure = e;
    });

    // Calls in flight per pid, from the call log read incrementally: kill where work is running.
    const open = new Map<number, Set<string>>();
    let seen = 0;
    const calls: MockCallLogEntry[] = [];
    const readCalls = async () => {
      const fresh = await c.calls(seen);
      seen += fresh.length;
      calls.push(...fresh);
      for (const x of fresh) {
        const set = open.get(x.pid) ?? new Set<string>();
        open.set(x.pid, set);
        if (x.phase === 'start') set.add(x.key);
        else set.delete(x.key);
      }
    };

    let kills = 0;
    const killedPids: number[] = [];
    const killUntil = Date.now() + KILL_WINDOW_MS;
    while (verdicts.size < JOBS && !failure && Date.now() < killUntil && kills < MAX_KILLS) {
      await sleep(1000 + Math.random() * 1000);
      await readCalls();
      // Kill mid-call, and only while another worker is up (replacements need a while to boot
      // on a busy machine; killing the last one would only measure boot time).
      const ready = c.readyWorkers();
      const busy = ready.filter((w) => (open.get(w.pid)?.size ?? 0) > 0);
      if (ready.length < 2 || busy.length === 0) continue;
      const victim = busy[Math.floor(Math.random() * busy.length)];
      victim.kill('SIGKILL');
      await victim.waitExit(5000);
      kills++;
      killedPids.push(victim.pid);
      await c.startWorker(undefined, {}, false); // replacement; boots while the loop goes on
    }
    await pump;
    await readCalls();

    const lost = ids.length < JOBS ? JOBS - ids.length : ids.filter((id) => !verdicts.has(id) || verdicts.get(id)!.lost).length;
    const doubleApplied = [...verdicts.values()].filter((v) => v.doubleApplied).length;
    const redelivered = redeliveries(calls);
    const settled = new Set(calls.filter((x) => x.phase !== 'start').map((x) => `${x.pid} ${x.key}`));
    const callsKilled = calls.filter((x) => x.phase === 'start' && killedPids.includes(x.pid) && !settled.has(`${x.pid} ${x.key}`)).length;
    const sweeps = c.logs(1e9).match(/sweep repaired jobs/g)?.length ?? 0;
    console.log(`chaos: jobs=${JOBS} kills=${kills} redeliveries=${redelivered} lost=${lost} double-applied=${doubleApplied}`);
    console.log(
      `chaos: ${calls.filter((x) => x.phase === 'start').length} agent calls, ${callsKilled} of them killed mid-call; ` +
        `${sweeps} sweeper repairs; ${Math.round((Date.now() - started) / 1000)} s`,
    );
    if (failure) throw failure;

    await c.drain(30_000); // nothing left behind in the queues
    const bad = [...verdicts.entries()].filter(([, v]) => v.problems.length).slice(0, 5);
    expect(bad).toEqual([]);
    expect(lost).toBe(0);
    expect(doubleApplied).toBe(0);
    expect(await c.count()).toBe(0); // every job was finished and checked
    expect(kills).toBeGreaterThanOrEqual(5);
    expect(callsKilled).toBeGreaterThan(0);
    expect(redelivered).toBeGreaterThan(0); // kills mid-call happened, so calls were re-delivered
  }, 900_000);
});
