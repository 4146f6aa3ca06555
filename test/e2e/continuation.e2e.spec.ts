import type { Queue } from 'bullmq';
import { STAGE_QUEUE } from '../../src/queues/stage-queues';
import type { Stage } from '../../src/lifecycle/job.types';
import { drainQueues, eventually, issueBody, startTestApp, waitForState, type TestApp } from '../support/test-app';

/**
 * Continuation (STAGE_CONTINUE_MAX): a delivery goes on to the next stage in process when this
 * process serves it, instead of sending that stage's message; every stage still commits its own
 * version. Real workers, Redis and MongoDB-wire server.
 */
describe('continuation to the next stage in process', () => {
  const tenant = { 'x-tenant-id': 'acme' };
  const apps: TestApp[] = [];
  afterAll(async () => {
    await Promise.all(apps.map((a) => a.close()));
  });
  async function app(label: string, env: Record<string, string> = {}, stages?: Stage[]): Promise<TestApp> {
    const t = await startTestApp(label, env, stages ? { stages } : {});
    apps.push(t);
    return t;
  }
  async function submit(t: TestApp, n: number, body = ''): Promise<string> {
    const res = await t.http.post('/jobs').set(tenant).send(issueBody(n, body)).expect(201);
    return res.body.id as string;
  }
  /** Every stage message of the job, as `<stage>-<version>`, in queue order. */
  async function messagesOf(queues: Queue[], id: string): Promise<string[]> {
    const found: string[] = [];
    for (const q of queues) {
      const all = await q.getJobs(['completed', 'failed', 'waiting', 'delayed', 'active', 'prioritized']);
      for (const m of all) if (m.data?.jobId === id) found.push(m.id!.slice(id.length + 1));
    }
    return found.sort();
  }

  it('by default the whole lifecycle runs in the planning delivery, one compare-and-set commit per stage', async () => {
    const t = await app('cont-default');
    const id = await submit(t, 1);
    const done = await waitForState(t, id, ['COMPLETED']);
    await drainQueues(t.queues);
    expect(await messagesOf(t.queues, id)).toEqual(['planning-0']);
    expect(done.version).toBe(4);
    expect(done.history.map((h) => h.event)).toEqual(['START_PLANNING', 'PLAN_SUCCEEDED', 'CODE_SUCCEEDED', 'REVIEW_APPROVED', 'PR_OPENED']);
    expect(t.calls.filter((c) => c.jobId === id).map((c) => `${c.stage}:${c.attempt}`)).toEqual(['planning:1', 'coding:1', 'reviewing:1', 'pr-open:1']);
  });

  it('STAGE_CONTINUE_MAX=0: every stage is its own message; =1: every delivery runs two stages', async () => {
    const off = await app('cont-off', { STAGE_CONTINUE_MAX: '0' });
    const a = await submit(off, 2);
    await waitForState(off, a, ['COMPLETED']);
    await drainQueues(off.queues);
    expect(await messagesOf(off.queues, a)).toEqual(['coding-1', 'planning-0', 'pr-open-3', 'reviewing-2']);

    const one = await app('cont-one', { STAGE_CONTINUE_MAX: '1' });
    const b = await submit(one, 3);
    const done = await waitForState(one, b, ['COMPLETED']);
    await drainQueues(one.queues);
    expect(await messagesOf(one.queues, b)).toEqual(['planning-0', 'reviewing-2']);
    expect(done.version).toBe(4);
  });

  it('does not continue to a stage this process does not serve: it sends that message', async () => {
    const t = await app('cont-served', {}, ['planning', 'coding']);
    const id = await submit(t, 4);
    const reviewing = t.queues.find((q) => q.name === STAGE_QUEUE.reviewing)!;
    const job = await waitForState(t, id, ['REVIEWING']);
    expect(job.version).toBe(2);
    // The message is sent just after the commit that entered REVIEWING: wait for it.
    const message = await eventually(async () => reviewing.getJob(`${id}-reviewing-2`), 5_000, () => 'no reviewing message');
    expect(message?.data).toEqual({ jobId: id, tenantId: 'acme', stage: 'reviewing', version: 2 });
    expect(await message!.getState()).toBe('waiting');
    expect(t.calls.filter((c) => c.jobId === id).map((c) => c.stage)).toEqual(['planning', 'coding']);
  });

  it('a transient fault in a continued stage becomes that stage’s message, which counts the attempt already made', async () => {
    const t = await app('cont-retry');
    const id = await submit(t, 5, 'mock: transient=coding:2');
    const done = await waitForState(t, id, ['COMPLETED']);
    await drainQueues(t.queues);
    // Attempt 1 ran continued from planning; attempts 2 and 3 are BullMQ attempts of coding-1.
    expect(t.calls.filter((c) => c.jobId === id && c.stage === 'coding').map((c) => c.attempt)).toEqual([1, 2, 3]);
    const coding = t.queues.find((q) => q.name === STAGE_QUEUE.coding)!;
    const message = await coding.getJob(`${id}-coding-1`);
    expect(message!.data).toEqual({ jobId: id, tenantId: 'acme', stage: 'coding', version: 1, attemptsBefore: 1 });
    expect(message!.opts.attempts).toBe(2); // STAGE_ATTEMPTS 3, one made
    expect(message!.attemptsMade).toBe(2);
    expect(done.history.find((h) => h.event === 'CODE_SUCCEEDED')).toEqual(expect.objectContaining({ attempt: 3 }));
    // After the retried stage, the rest continued in coding-1's delivery.
    expect(await messagesOf(t.queues, id)).toEqual(['coding-1', 'planning-0']);
  });

  it('a transient fault that uses the last attempt in a continued stage fails the job, as from a message', async () => {
    const t = await app('cont-exhaust', { STAGE_ATTEMPTS: '1' });
    const id = await submit(t, 6, 'mock: transient=reviewing:1');
    const failed = await waitForState(t, id, ['FAILED']);
    expect(failed.error).toEqual(expect.objectContaining({ code: 'MOCK_TRANSIENT_FAILURE', stage: 'reviewing' }));
    expect(t.calls.filter((c) => c.jobId === id && c.stage === 'reviewing')).toHaveLength(1);
  });

  it('a late delivery of the message that started a run sends the message of the stage the job waits for (recovery after a crash mid-run)', async () => {
    // A process serving only planning (no continuation possible past it) stands in for one that
    // died after committing planning but before sending coding's message: the job waits in CODING
    // at version 1 with no coding message. A redelivery of planning-0 repairs that.
    const t = await app('cont-recover', { STAGE_CONTINUE_MAX: '0' }, ['planning']);
    const id = await submit(t, 7);
    await waitForState(t, id, ['CODING']);
    const planning = t.queues.find((q) => q.name === STAGE_QUEUE.planning)!;
    await drainQueues([planning]);
    const coding = t.queues.find((q) => q.name === STAGE_QUEUE.coding)!;
    await (await coding.getJob(`${id}-coding-1`))!.remove();
    expect(await coding.getJob(`${id}-coding-1`)).toBeUndefined();
    await planning.add('planning', { jobId: id, tenantId: 'acme', stage: 'planning', version: 0 }, { jobId: `${id}-redelivered` });
    await drainQueues([planning]);
    const resent = await coding.getJob(`${id}-coding-1`);
    expect(resent?.data).toEqual({ jobId: id, tenantId: 'acme', stage: 'coding', version: 1 });
    expect(t.calls.filter((c) => c.jobId === id && c.stage === 'planning')).toHaveLength(1);
  });
});
