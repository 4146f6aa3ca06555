/**
 * Part 1 of "reliability proven by fault tests": a worker process that gets SIGTERM stops taking
 * messages, lets running calls finish within SHUTDOWN_GRACE_MS (committing them), aborts and
 * releases the rest without spending an attempt, and exits 0. Separate OS processes.
 */
import { buildMain, checkJob, Cluster, killEverything, poll } from './harness';

describe('worker SIGTERM (separate processes)', () => {
  let c: Cluster;

  beforeAll(() => {
    c = new Cluster('sigterm', buildMain(), { env: { SHUTDOWN_GRACE_MS: '1500' } });
  });

  afterAll(async () => {
    await c?.cleanup();
    killEverything();
  });

  it('stops taking messages, finishes or releases running calls (no attempt spent), exits 0', async () => {
    await c.startApi();
    const a = await c.startWorker(['planning', 'coding']);
    // Finishes within the 1500 ms grace; runs past it (released); arrives after the SIGTERM.
    const quick = await c.submit(1, 'mock: delay=coding:600');
    const slow = await c.submit(2, 'mock: delay=coding:8000');
    await poll(
      async () => {
        const calls = await c.calls();
        return [quick, slow].every((id) => calls.some((x) => x.jobId === id && x.stage === 'coding' && x.phase === 'start' && x.pid === a.pid)) ? true : undefined;
      },
      20_000,
      async () => `coding did not start in worker 1: ${JSON.stringify(await c.calls())}`,
    );

    const sigtermAt = Date.now();
    a.kill('SIGTERM');
    // The late job is submitted once the worker says it is shutting down (under load the signal
    // can take a while to be handled; a message fetched before that is not "after shutdown").
    await poll(async () => (a.log().includes('shutting down (SIGTERM)') ? true : undefined), 10_000, () => `no shutdown log:\n${a.log().slice(-2000)}`);
    const shutdownAt = Date.now();
    const late = await c.submit(3, '');
    const exit = await a.waitExit(15_000);
    const shutdownMs = Date.now() - sigtermAt;
    expect(exit).toEqual({ code: 0, signal: null });

    const calls = await c.calls();
    const mine = calls.filter((x) => x.pid === a.pid);
    // Nothing new started in the stopping worker once it was shutting down.
    expect(mine.filter((x) => x.phase === 'start' && x.at > shutdownAt)).toEqual([]);
    // The quick call finished in the grace period and was committed; the slow one was aborted.
    expect(mine.find((x) => x.jobId === quick && x.stage === 'coding' && x.phase === 'done')).toBeDefined();
    expect((await c.job(quick))!.history.map((h) => h.event)).toContain('CODE_SUCCEEDED');
    const aborted = mine.find((x) => x.jobId === slow && x.stage === 'coding' && x.phase === 'aborted');
    expect(aborted).toBeDefined();
    expect(aborted!.at - sigtermAt).toBeGreaterThanOrEqual(1400);
    expect((await c.job(slow))!.state).toBe('CODING');
    expect((await c.job(late))!.state).toBe('QUEUED');

    // Another worker takes over: the released message runs again as attempt 1 (not spent).
    const b = await c.startWorker();
    for (const id of [quick, slow, late]) await c.waitForState(id, ['COMPLETED', 'FAILED'], 30_000);
    const slowCoding = (await c.calls()).filter((x) => x.jobId === slow && x.stage === 'coding' && x.phase === 'start');
    expect(slowCoding.map((x) => [x.pid === a.pid ? 'a' : x.pid === b.pid ? 'b' : '?', x.attempt])).toEqual([
      ['a', 1],
      ['b', 1],
    ]);
    for (const id of [quick, slow, late]) {
      const verdict = await checkJob((await c.job(id))!);
      expect(verdict.problems).toEqual([]);
    }
    console.log(`chaos: SIGTERM worker exited 0 after ${shutdownMs} ms; finished 1 call in grace, released 1 (re-run as attempt 1 elsewhere)`);
  });
});
