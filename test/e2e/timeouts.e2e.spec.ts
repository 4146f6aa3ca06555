import { drainQueues, eventually, issueBody, startTestApp, waitForState, type TestApp } from '../support/test-app';

const tenant = { 'x-tenant-id': 'acme' };

describe('timeouts and shutdown (real workers, Redis, MongoDB-wire)', () => {
  it('a stage timeout aborts the agent call and counts as a failed attempt; attempts exhausted → FAILED', async () => {
    const t = await startTestApp('stagetimeout', { STAGE_TIMEOUT_MS: '150', STAGE_ATTEMPTS: '2' });
    try {
      const slow = (await t.http.post('/jobs').set(tenant).send(issueBody(1, 'mock: delay=coding:5000')).expect(201)).body.id;
      const job = await waitForState(t, slow, ['FAILED']);
      expect(job.error).toEqual(expect.objectContaining({ code: 'STAGE_TIMEOUT', stage: 'coding' }));
      const coding = t.calls.filter((c) => c.jobId === slow && c.stage === 'coding');
      expect(coding.map((c) => c.attempt)).toEqual([1, 2]);
      expect(coding.every((c) => c.abortedAt !== undefined)).toBe(true);
      // A call under the limit is unaffected.
      const fast = (await t.http.post('/jobs').set(tenant).send(issueBody(2)).expect(201)).body.id;
      await waitForState(t, fast, ['COMPLETED']);
    } finally {
      await t.close();
    }
  });

  it('a job deadline moves a running job to FAILED with JOB_DEADLINE_EXCEEDED and aborts its call', async () => {
    const t = await startTestApp('deadline', { JOB_DEADLINE_MS: '400' });
    try {
      const id = (await t.http.post('/jobs').set(tenant).send(issueBody(3, 'mock: delay=reviewing:30000')).expect(201)).body.id;
      const job = await waitForState(t, id, ['FAILED']);
      expect(job.error).toEqual(expect.objectContaining({ code: 'JOB_DEADLINE_EXCEEDED', stage: 'lifecycle' }));
      expect(job.history.at(-1)).toEqual(expect.objectContaining({ from: 'REVIEWING', to: 'FAILED', event: 'MARK_FAILED' }));
      await drainQueues(t.queues);
      expect(t.calls.find((c) => c.jobId === id && c.stage === 'reviewing')!.abortedAt).toBeDefined();
      expect((await t.jobs.findById(id))!.state).toBe('FAILED');
      // A job that finishes in time is left alone by its deadline.
      const quick = (await t.http.post('/jobs').set(tenant).send(issueBody(4)).expect(201)).body.id;
      await waitForState(t, quick, ['COMPLETED']);
      const deadlines = t.app.get<import('bullmq').Queue>(require('@nestjs/bullmq').getQueueToken('deadlines'));
      await eventually(async () => ((await deadlines.getJobCounts('delayed', 'wait', 'active')).delayed === 0 ? true : undefined), 5000, () => 'deadline pending');
      expect((await t.jobs.findById(quick))!.state).toBe('COMPLETED');
    } finally {
      await t.close();
    }
  });

  it('a deadline that passed while no worker was alive fires when one comes back', async () => {
    // An API-only process accepts the job; no worker runs.
    const api = await startTestApp('deadline-offline', { JOB_DEADLINE_MS: '200' }, { stages: [] });
    const id = (await api.http.post('/jobs').set(tenant).send(issueBody(5)).expect(201)).body.id;
    // Let the deadline pass while nobody can fire it (waiting for time itself, not for work).
    await new Promise((r) => setTimeout(r, 400));
    expect((await api.jobs.findById(id))!.state).toBe('QUEUED');
    await api.app.close();
    // A worker process comes up on the same Redis and database: the deadline fires first.
    const worker = await startTestApp('deadline-offline', { JOB_DEADLINE_MS: '200', QUEUE_PREFIX: api.prefix, MONGODB_DB: api.dbName });
    try {
      const job = await waitForState(worker, id, ['FAILED', 'COMPLETED']);
      expect(job.error?.code).toBe('JOB_DEADLINE_EXCEEDED');
    } finally {
      await worker.close();
    }
  });

  it('on shutdown a running stage is released without spending an attempt and finishes in another process', async () => {
    const a = await startTestApp('shutdown', { SHUTDOWN_GRACE_MS: '100' });
    const id = (await a.http.post('/jobs').set(tenant).send(issueBody(6, 'mock: delay=coding:1500')).expect(201)).body.id;
    await eventually(async () => (a.calls.some((c) => c.jobId === id && c.stage === 'coding') ? true : undefined), 10_000, () => 'coding never started');
    await a.app.close(); // SIGTERM path: enableShutdownHooks → beforeApplicationShutdown
    expect(a.calls.find((c) => c.jobId === id && c.stage === 'coding')!.abortedAt).toBeDefined();
    const b = await startTestApp('shutdown', { QUEUE_PREFIX: a.prefix, MONGODB_DB: a.dbName });
    try {
      const job = await waitForState(b, id, ['COMPLETED', 'FAILED']);
      expect(job.error).toBeNull();
      const retried = b.calls.filter((c) => c.jobId === id && c.stage === 'coding');
      expect(retried.map((c) => c.attempt)).toEqual([1]); // released, not failed: still attempt 1
      expect(job.history.map((h) => h.to)).toEqual(['PLANNING', 'CODING', 'REVIEWING', 'PR_OPEN', 'COMPLETED']);
    } finally {
      await b.close();
    }
  });
});
