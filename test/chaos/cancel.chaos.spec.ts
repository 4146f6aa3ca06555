/**
 * Part 4 of "reliability proven by fault tests": a cancel sent over REST to the API process
 * aborts the agent call running in a worker process (Redis pub/sub) within 1 s of the REST
 * response; the job ends CANCELLED, the call's result is discarded and no later stage runs.
 */
import type { Stage } from '../../src/lifecycle/job.types';
import { buildMain, Cluster, killEverything, poll, replayHistory } from './harness';

const LATER: Record<string, Stage[]> = {
  planning: ['coding', 'reviewing', 'pr-open'],
  coding: ['reviewing', 'pr-open'],
  reviewing: ['pr-open'],
};

describe('cancellation across processes', () => {
  let c: Cluster;

  beforeAll(async () => {
    c = new Cluster('cancel', buildMain());
    await c.startApi();
    await Promise.all([c.startWorker(), c.startWorker()]);
  }, 120_000);

  afterAll(async () => {
    await c?.cleanup();
    killEverything();
  });

  it('aborts the running call in another process within 1 s; CANCELLED; no later stage runs', async () => {
    const workers = c.workers;
    // Two jobs per stage, each with a long call in that stage.
    const cases = await Promise.all(
      (['planning', 'coding', 'reviewing', 'planning', 'coding', 'reviewing'] as const).map(async (stage, i) => ({
        stage,
        id: await c.submit(i, `mock: delay=${stage}:60000`),
      })),
    );
    const latencies: number[] = [];
    for (const { stage, id } of cases) {
      const call = await poll(
        async () => (await c.calls()).find((x) => x.jobId === id && x.stage === stage && x.phase === 'start'),
        30_000,
        () => `${stage} call of ${id} never started`,
      );
      expect(workers.map((w) => w.pid)).toContain(call.pid); // the call runs in a worker, not the API
      const sentAt = Date.now();
      const res = await c.request('POST', `/jobs/${id}/cancel`);
      const answeredAt = Date.now();
      expect(res.status).toBe(200);
      expect(res.body.state).toBe('CANCELLED');
      const aborted = await poll(
        async () => (await c.calls()).find((x) => x.key === call.key && x.pid === call.pid && x.phase === 'aborted'),
        5000,
        () => `the ${stage} call of ${id} was not aborted`,
      );
      latencies.push(aborted.at - answeredAt);
      expect(aborted.at - answeredAt).toBeLessThan(1000);
      expect(aborted.at).toBeGreaterThanOrEqual(sentAt);
    }
    await c.drain();

    const calls = await c.calls();
    for (const { stage, id } of cases) {
      const job = (await c.job(id))!;
      expect(job.state).toBe('CANCELLED');
      expect(job.history.at(-1)).toEqual(expect.objectContaining({ event: 'MARK_CANCELLED', to: 'CANCELLED' }));
      expect(await replayHistory(job.history, job.snapshot.context.limits)).toEqual([]);
      // The aborted call's result was discarded: no result event of its stage, no later stage called.
      expect(calls.filter((x) => x.jobId === id && x.phase === 'done' && x.stage === stage)).toEqual([]);
      expect(calls.filter((x) => x.jobId === id && LATER[stage].includes(x.stage))).toEqual([]);
    }
    const sorted = [...latencies].sort((a, b) => a - b);
    console.log(
      `chaos: cancel → abort in the worker process, ms after the REST response: ${latencies.join(', ')} ` +
        `(max ${sorted.at(-1)}; negative = aborted before the response arrived)`,
    );
  });

  it('cancels racing each other and stage commits: exactly one wins per job, and a 200 is never undone', async () => {
    // Short stages, so cancels land on every kind of moment, also mid-commit; three identical
    // cancels at once per job race on the same version: the compare-and-set must let one win.
    const n = 30;
    const ids = await Promise.all(Array.from({ length: n }, (_, i) => c.submit(100 + i, `mock: delay=${20 + (i % 5) * 20}\nmock: reject=${i % 2}`)));
    const answers = await Promise.all(
      ids.map(async (id, i) => {
        await new Promise((r) => setTimeout(r, (i * 37) % 1500));
        const all = await Promise.all([1, 2, 3].map(() => c.request('POST', `/jobs/${id}/cancel`, undefined, 60_000)));
        const won = all.filter((r) => r.status === 200).length;
        return { id, won, status: won ? 200 : all[0].status, statuses: all.map((r) => r.status) };
      }),
    );
    for (const id of ids) await c.waitForState(id, ['COMPLETED', 'FAILED', 'CANCELLED'], 60_000);
    await c.drain();
    const problems: string[] = [];
    for (const a of answers) {
      const job = (await c.job(a.id))!;
      const legal = await replayHistory(job.history, job.snapshot.context.limits);
      if (legal.length) problems.push(`${a.id}: ${legal.join('; ')}`);
      if (a.status === 200 && (job.state !== 'CANCELLED' || job.history.at(-1)?.event !== 'MARK_CANCELLED')) {
        problems.push(`${a.id}: cancel answered 200 CANCELLED but the job is ${job.state}: ${job.history.map((h) => h.event).join(',')}`);
      }
      if (a.won > 1) problems.push(`${a.id}: ${a.won} concurrent cancels all won (${a.statuses.join(',')})`);
      if (a.statuses.some((st) => st !== 200 && st !== 409)) problems.push(`${a.id}: cancel answered ${a.statuses.join(',')}`);
      if (a.status !== 200 && job.state === 'CANCELLED') problems.push(`${a.id}: no cancel won, yet the job is CANCELLED`);
      const commits = job.history.filter((h) => h.event !== 'START_PLANNING').length;
      if (job.version !== commits) problems.push(`${a.id}: version ${job.version} but ${commits} commits in history`);
    }
    const cancelled = answers.filter((a) => a.status === 200).length;
    console.log(`chaos: ${n} jobs × 3 concurrent cancels racing short stages: ${cancelled} cancelled, ${n - cancelled} too late (409); problems: ${problems.length}`);
    expect(problems).toEqual([]);
  });
});
