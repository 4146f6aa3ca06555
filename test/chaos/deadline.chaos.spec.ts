/**
 * Part 5 of "reliability proven by fault tests": a job deadline (JOB_DEADLINE_MS) that passes
 * while only the API process runs fires as soon as a worker process comes up — it is a delayed
 * BullMQ message in Redis, not a timer in any process.
 */
import { buildMain, Cluster, killEverything, poll, replayHistory, sleep } from './harness';

const DEADLINE_MS = 1500;

describe('job deadline across processes', () => {
  let c: Cluster;

  beforeAll(() => {
    c = new Cluster('deadline', buildMain(), { env: { JOB_DEADLINE_MS: String(DEADLINE_MS) } });
  });

  afterAll(async () => {
    await c?.cleanup();
    killEverything();
  });

  it('fires when no worker was alive at the deadline, as soon as one comes back', async () => {
    await c.startApi(); // API only: nobody processes stage or deadline messages
    const submittedAt = Date.now();
    const id = await c.submit(1, 'mock: delay=planning:20000');
    // Let the deadline pass while no worker is alive (waiting for time itself, not for work).
    await sleep(Math.max(0, submittedAt + DEADLINE_MS + 500 - Date.now()));
    expect((await c.job(id))!.state).toBe('QUEUED');

    const worker = await c.startWorker();
    const upAt = Date.now();
    const job = await c.waitForState(id, ['FAILED', 'COMPLETED'], 30_000);
    const firedAfterMs = Date.now() - upAt;
    expect(job.state).toBe('FAILED');
    expect(job.error).toEqual(expect.objectContaining({ code: 'JOB_DEADLINE_EXCEEDED', stage: 'lifecycle' }));
    expect(job.history.at(-1)).toEqual(expect.objectContaining({ event: 'MARK_FAILED', to: 'FAILED', actor: { kind: 'deadline', id: 'JOB_DEADLINE_MS' } }));
    expect(await replayHistory(job.history, job.snapshot.context.limits)).toEqual([]);
    await c.drain();
    // If planning had started in the worker, its call was aborted; nothing after planning ran.
    const calls = await poll(
      async () => {
        const mine = (await c.calls()).filter((x) => x.jobId === id);
        const starts = mine.filter((x) => x.phase === 'start');
        return starts.every((s) => mine.some((x) => x.key === s.key && x.phase === 'aborted')) ? mine : undefined;
      },
      10_000,
      async () => `a planning call was not aborted: ${JSON.stringify((await c.calls()).filter((x) => x.jobId === id))}`,
    );
    expect(calls.filter((x) => x.stage !== 'planning')).toEqual([]);
    expect(calls.every((x) => x.pid === worker.pid)).toBe(true);
    console.log(`chaos: deadline passed with no worker alive; fired ${firedAfterMs} ms after a worker process came up`);
  });
});
