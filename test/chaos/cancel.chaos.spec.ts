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

  beforeAll(() => {
    c = new Cluster('cancel', buildMain());
  });

  afterAll(async () => {
    await c?.cleanup();
    killEverything();
  });

  it('aborts the running call in another process within 1 s; CANCELLED; no later stage runs', async () => {
    await c.startApi();
    const workers = [await c.startWorker(), await c.startWorker()];
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
});
