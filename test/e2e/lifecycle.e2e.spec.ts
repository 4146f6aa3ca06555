import { STAGE_QUEUE } from '../../src/queues/stage-queues';
import { drainQueues, issueBody, startTestApp, waitForState, type TestApp } from '../support/test-app';

/**
 * End to end over HTTP with the real workers, Redis and MongoDB-wire server: the lifecycle
 * scenarios of the main job.
 */
describe('job lifecycle over HTTP (real workers, Redis, MongoDB-wire)', () => {
  let t: TestApp;
  const tenant = { 'x-tenant-id': 'acme' };

  beforeAll(async () => {
    t = await startTestApp('lifecycle');
  });
  afterAll(async () => {
    await t?.close();
  });

  async function submit(n: number, body = '', extra: Record<string, unknown> = {}): Promise<string> {
    const res = await t.http.post('/jobs').set(tenant).send(issueBody(n, body, extra)).expect(201);
    expect(res.body.state).toBe('QUEUED');
    return res.body.id as string;
  }

  const path = (history: { from: string; to: string }[]) =>
    history.length ? [history[0].from, ...history.map((h) => h.to)] : [];

  it('the seed gate: QUEUED→PLANNING→CODING→REVIEWING→PR_OPEN→COMPLETED, and the stored history lists exactly those states', async () => {
    const id = await submit(1);
    await waitForState(t, id, ['COMPLETED']);
    const res = await t.http.get(`/jobs/${id}/history`).set(tenant).expect(200);
    expect(path(res.body)).toEqual(['QUEUED', 'PLANNING', 'CODING', 'REVIEWING', 'PR_OPEN', 'COMPLETED']);
    expect(res.body.map((h: { event: string }) => h.event)).toEqual([
      'START_PLANNING',
      'PLAN_SUCCEEDED',
      'CODE_SUCCEEDED',
      'REVIEW_APPROVED',
      'PR_OPENED',
    ]);
    const job = await t.http.get(`/jobs/${id}`).set(tenant).expect(200);
    expect(job.body.state).toBe('COMPLETED');
    expect(job.body.version).toBe(4); // one commit per stage: planning, coding, reviewing, pr-open
    expect(job.body.context.prUrl).toMatch(/^https:\/\/github\.com\/acme\/widgets\/pull\/\d+$/);
    expect(job.body.context.plan.length).toBeGreaterThan(0);
    expect(job.body.acceptedEvents).toEqual([]);
    expect(t.calls.filter((c) => c.jobId === id).map((c) => c.stage)).toEqual(['planning', 'coding', 'reviewing', 'pr-open']);
    // Fast MockAgent successes, its simulated PR (`pr:mock`) included, cost no attempt record.
    expect((await t.http.get(`/jobs/${id}/attempts`).set(tenant).expect(200)).body).toEqual([]);
  });

  it('review loop: rejected twice, the comments reach the next code call, then approved', async () => {
    const id = await submit(2, 'mock: reject=2');
    await waitForState(t, id, ['COMPLETED']);
    const job = (await t.http.get(`/jobs/${id}`).set(tenant).expect(200)).body;
    expect(path(job.history)).toEqual([
      'QUEUED', 'PLANNING', 'CODING', 'REVIEWING', 'CODING', 'REVIEWING', 'CODING', 'REVIEWING', 'PR_OPEN', 'COMPLETED',
    ]);
    expect(job.history.filter((h: { event: string }) => h.event === 'REVIEW_REJECTED')).toHaveLength(2);
    expect(job.context.reviewRounds).toBe(3);
    // The second and third code calls carry the review round (feedback present) in their key.
    const codeKeys = t.calls.filter((c) => c.jobId === id && c.stage === 'coding').map((c) => c.idempotencyKey);
    expect(codeKeys).toEqual([`${id}:coding:1:r1`, `${id}:coding:1:r2`, `${id}:coding:1:r3`]);
    const stored = await t.jobs.findById(id);
    const ctx = stored!.snapshot.context;
    expect(ctx.code!.changes[0].commitMessage).toContain('addresses 1 review comment');
  });

  it('review rounds are capped: past MAX_REVIEW_ROUNDS (3) the job FAILS with REVIEW_ROUNDS_EXCEEDED', async () => {
    const id = await submit(3, 'mock: reject=5');
    const job = await waitForState(t, id, ['FAILED']);
    expect(job.error).toEqual(expect.objectContaining({ code: 'REVIEW_ROUNDS_EXCEEDED', stage: 'reviewing' }));
    expect(job.history.filter((h) => h.event === 'REVIEW_REJECTED')).toHaveLength(3);
  });

  it('a transient failure is retried by BullMQ with backoff and then succeeds', async () => {
    const id = await submit(4, 'mock: transient=planning:2');
    const job = await waitForState(t, id, ['COMPLETED']);
    const planning = t.calls.filter((c) => c.jobId === id && c.stage === 'planning').map((c) => c.attempt);
    expect(planning).toEqual([1, 2, 3]);
    expect(job.history[0]).toEqual(expect.objectContaining({ from: 'QUEUED', to: 'PLANNING', attempt: 3 }));
    expect(path(job.history)).toEqual(['QUEUED', 'PLANNING', 'CODING', 'REVIEWING', 'PR_OPEN', 'COMPLETED']);
  });

  it('a permanent failure ends in FAILED with the error, and the message that ran the stage stays in the failed set', async () => {
    const id = await submit(5, 'mock: fail=coding');
    const job = await waitForState(t, id, ['FAILED']);
    expect(job.error).toEqual({ code: 'MOCK_PERMANENT_FAILURE', message: expect.stringContaining('coding'), stage: 'coding' });
    expect(t.calls.filter((c) => c.jobId === id && c.stage === 'coding')).toHaveLength(1);
    await drainQueues(t.queues);
    // With continuation (STAGE_CONTINUE_MAX > 0, the default) coding ran in the planning
    // message's delivery, so that message is the dead letter, and its reason names the stage.
    const failed = (await Promise.all(t.queues.map((q) => q.getFailed()))).flat().filter((m) => m.data?.jobId === id);
    expect(failed.map((m) => m.id)).toEqual([`${id}-planning-0`]);
    expect(failed[0].failedReason).toMatch(/^MOCK_PERMANENT_FAILURE: .*coding.* \(in coding, continued from planning\)$/);
    const res = await t.http.get(`/jobs/${id}`).set(tenant).expect(200);
    expect(res.body.acceptedEvents).toEqual(['START_CODING', 'RETRY', 'MARK_CANCELLED']);
  });

  it('attempts run out on a transient fault: FAILED with the last error; RETRY resumes at the failed stage', async () => {
    t.mock.defaults = { transient: { reviewing: 99 } };
    let id: string;
    try {
      id = await submit(6);
      const failed = await waitForState(t, id, ['FAILED']);
      expect(failed.error).toEqual(expect.objectContaining({ code: 'MOCK_TRANSIENT_FAILURE', stage: 'reviewing' }));
      expect(t.calls.filter((c) => c.jobId === id && c.stage === 'reviewing').map((c) => c.attempt)).toEqual([1, 2, 3]);
    } finally {
      t.mock.defaults = {};
    }
    const retried = await t.http.post(`/jobs/${id}/retry`).set(tenant).expect(200);
    expect(retried.body.state).toBe('REVIEWING');
    const done = await waitForState(t, id, ['COMPLETED']);
    expect(path(done.history)).toEqual(['QUEUED', 'PLANNING', 'CODING', 'REVIEWING', 'FAILED', 'REVIEWING', 'PR_OPEN', 'COMPLETED']);
    expect(done.history.find((h) => h.from === 'FAILED')).toEqual(expect.objectContaining({ event: 'RETRY', attempt: 0 }));
    // Failed attempts are recorded, MockAgent's too; its fast successes are not.
    const attempts = (await t.http.get(`/jobs/${id}/attempts`).set(tenant).expect(200)).body as { stage: string; attempt: number; status: string; tool: string }[];
    expect(attempts.map((a) => `${a.stage}:${a.attempt}:${a.status}:${a.tool}`).sort()).toEqual(['reviewing:1:failed:mock', 'reviewing:2:failed:mock', 'reviewing:3:failed:mock']);
  });

  it('cancel during CODING aborts the agent call, ends CANCELLED, and no later stage runs', async () => {
    const id = await submit(7, 'mock: delay=coding:30000');
    await waitForState(t, id, ['CODING']);
    // Wait until the coding call is really running.
    const deadline = Date.now() + 10_000;
    while (!t.calls.some((c) => c.jobId === id && c.stage === 'coding') && Date.now() < deadline) await new Promise((r) => setTimeout(r, 20));
    const res = await t.http.post(`/jobs/${id}/cancel`).set(tenant).expect(200);
    expect(res.body.state).toBe('CANCELLED');
    await drainQueues(t.queues);
    const call = t.calls.find((c) => c.jobId === id && c.stage === 'coding')!;
    expect(call.abortedAt).toBeDefined();
    const job = await t.jobs.findById(id);
    expect(job!.state).toBe('CANCELLED');
    expect(job!.history.at(-1)).toEqual(expect.objectContaining({ from: 'CODING', to: 'CANCELLED', event: 'MARK_CANCELLED' }));
    expect(t.calls.filter((c) => c.jobId === id).map((c) => c.stage)).toEqual(['planning', 'coding']);
    await t.http.post(`/jobs/${id}/cancel`).set(tenant).expect(409);
  });

  it('an illegal event gets a 409 naming the state and the events it accepts', async () => {
    const id = await submit(8, 'mock: delay=planning:30000');
    const res = await t.http.post(`/jobs/${id}/events`).set(tenant).send({ type: 'MARK_COMPLETED' }).expect(409);
    expect(res.body).toEqual(
      expect.objectContaining({ code: 'ILLEGAL_EVENT', state: expect.stringMatching(/QUEUED|PLANNING/), acceptedEvents: expect.arrayContaining(['MARK_CANCELLED']) }),
    );
    expect(res.body.message).toContain('MARK_COMPLETED');
    await t.http.post(`/jobs/${id}/events`).set(tenant).send({ type: 'MARK_CANCELLED', reason: 'test' }).expect(200);
    await t.http.post(`/jobs/${id}/retry`).set(tenant).expect(409);
  });

  it('a duplicated stage message causes no second transition (late duplicate and concurrent duplicate)', async () => {
    // Late duplicate: delivered after the job moved on; dropped before calling the agent.
    const id = await submit(9);
    const done = await waitForState(t, id, ['COMPLETED']);
    const planning = t.queues.find((q) => q.name === STAGE_QUEUE.planning)!;
    await planning.add('planning', { jobId: id, tenantId: 'acme', stage: 'planning', version: 0 }, { jobId: `${id}-dup` });
    await drainQueues(t.queues);
    const after = await t.jobs.findById(id);
    expect(after!.version).toBe(done.version);
    expect(after!.history).toEqual(done.history);
    expect(t.calls.filter((c) => c.jobId === id && c.stage === 'planning')).toHaveLength(1);

    // Concurrent duplicate: both deliveries run the agent (at least once), one commit wins.
    const id2 = await submit(10, 'mock: delay=planning:300');
    await planning.add('planning', { jobId: id2, tenantId: 'acme', stage: 'planning', version: 0 }, { jobId: `${id2}-dup` });
    const done2 = await waitForState(t, id2, ['COMPLETED']);
    await drainQueues(t.queues);
    expect(t.calls.filter((c) => c.jobId === id2 && c.stage === 'planning').length).toBeGreaterThanOrEqual(1);
    expect(path(done2.history)).toEqual(['QUEUED', 'PLANNING', 'CODING', 'REVIEWING', 'PR_OPEN', 'COMPLETED']);
  });

  it('PR_OPEN waits for MARK_COMPLETED when auto-complete is off', async () => {
    const manual = await startTestApp('manual', { AUTO_COMPLETE: 'false' });
    try {
      const res = await manual.http.post('/jobs').set(tenant).send(issueBody(11)).expect(201);
      const id = res.body.id as string;
      await waitForState(manual, id, ['PR_OPEN']);
      await drainQueues(manual.queues);
      const open = (await manual.http.get(`/jobs/${id}`).set(tenant).expect(200)).body;
      expect(open.state).toBe('PR_OPEN');
      expect(open.context.prUrl).toMatch(/pull/);
      expect(open.acceptedEvents).toEqual(['MARK_COMPLETED', 'MARK_CANCELLED']);
      const done = await manual.http.post(`/jobs/${id}/events`).set(tenant).send({ type: 'MARK_COMPLETED' }).expect(200);
      expect(done.body.state).toBe('COMPLETED');
      expect(done.body.history.map((h: { event: string }) => h.event).slice(-2)).toEqual(['PR_OPENED', 'MARK_COMPLETED']);
    } finally {
      await manual.close();
    }
  });
});
