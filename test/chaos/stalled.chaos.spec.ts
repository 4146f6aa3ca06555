/**
 * Part 8 of "reliability proven by fault tests": a worker process frozen past its BullMQ lock
 * (SIGSTOP) loses its stage message to another worker, which runs the stage again; when the
 * frozen worker resumes (SIGCONT) its call completes, and its late commit is rejected by the
 * compare-and-set. History shows the stage's transition once; the agent was called ≥ 2 times.
 */
import { buildMain, checkJob, Cluster, killEverything, poll } from './harness';

describe('a worker frozen past its lock (SIGSTOP/SIGCONT)', () => {
  let c: Cluster;

  beforeAll(() => {
    c = new Cluster('stalled', buildMain());
  });

  afterAll(async () => {
    for (const w of c?.workers ?? []) w.kill('SIGCONT');
    await c?.cleanup();
    killEverything();
  });

  it('the stage is re-delivered to another worker, completes once, and the late commit loses the CAS', async () => {
    await c.startApi();
    const a = await c.startWorker();
    const id = await c.submit(1, 'mock: delay=coding:3000');
    await poll(
      async () => ((await c.calls()).some((x) => x.jobId === id && x.stage === 'coding' && x.phase === 'start' && x.pid === a.pid) ? true : undefined),
      20_000,
      () => 'coding never started in worker A',
    );
    a.kill('SIGSTOP');
    const stoppedAt = Date.now();
    const b = await c.startWorker();

    // B gets the message once A's 2 s lock expired (stalled check every 1 s), runs coding, commits.
    const afterB = await c.waitForState(id, ['REVIEWING', 'PR_OPEN', 'COMPLETED'], 30_000);
    const redeliveredAfterMs = (await c.calls()).find((x) => x.jobId === id && x.stage === 'coding' && x.pid === b.pid && x.phase === 'start')!.at - stoppedAt;
    expect(afterB.history.filter((h) => h.event === 'CODE_SUCCEEDED')).toHaveLength(1);

    const contAt = Date.now();
    a.kill('SIGCONT');
    // A's call completes after SIGCONT, and its commit at the old version is refused.
    const late = await poll(
      async () => (await c.calls()).find((x) => x.jobId === id && x.stage === 'coding' && x.pid === a.pid && x.phase === 'done'),
      20_000,
      async () => `A's coding call never completed: ${JSON.stringify(await c.calls())}`,
    );
    expect(late.at).toBeGreaterThanOrEqual(contAt);
    await poll(async () => (a.log().includes(`job ${id} coding attempt 1: commit at version`) ? true : undefined), 10_000, () => `A did not try to commit:\n${a.log().slice(-3000)}`);
    expect(a.log()).toContain('lost the compare-and-set');

    const job = await c.waitForState(id, ['COMPLETED'], 30_000);
    await c.drain();
    const final = (await c.job(id))!;
    expect(final.history.filter((h) => h.event === 'CODE_SUCCEEDED')).toHaveLength(1);
    expect(final.version).toBe(job.version);
    expect((await checkJob(final)).problems).toEqual([]);
    const coding = (await c.calls()).filter((x) => x.jobId === id && x.stage === 'coding' && x.phase === 'start');
    expect(coding.length).toBeGreaterThanOrEqual(2);
    expect(new Set(coding.map((x) => x.pid))).toEqual(new Set([a.pid, b.pid]));
    expect(coding.every((x) => x.attempt === 1)).toBe(true); // a stall spends no attempt
    console.log(
      `chaos: stalled worker — coding re-delivered ${redeliveredAfterMs} ms after SIGSTOP; ${coding.length} coding calls (A and B), ` +
        `1 CODE_SUCCEEDED in history, A's late commit lost the CAS`,
    );
  });
});
