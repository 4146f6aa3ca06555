import { hostname } from 'node:os';
import examples from '@octokit/webhooks-examples';
import { issueBody, startTestApp, waitForState, type TestApp } from '../support/test-app';

/**
 * `pull_request.closed` deliveries (shaped from @octokit/webhooks-examples' real payload) find the
 * job by its branch: merged → MARK_COMPLETED (what AUTO_COMPLETE=false waits for), closed without
 * merging → MARK_CANCELLED; other cases are acknowledged and ignored with the reason.
 */
describe('GitHub pull_request webhook', () => {
  let t: TestApp;
  const tenant = { 'x-tenant-id': 'acme' };
  const closedExample = (examples as { name: string; examples: { action: string }[] }[]).find((e) => e.name === 'pull_request')!.examples.find((e) => e.action === 'closed') as Record<string, any>;

  beforeAll(async () => {
    t = await startTestApp('prhook', { AUTO_COMPLETE: 'false' });
  });
  afterAll(async () => {
    await t?.close();
  });

  const deliver = (branch: string, merged: boolean, repo = 'acme/widgets') => {
    const payload = structuredClone(closedExample);
    payload.pull_request.merged = merged;
    payload.pull_request.head.ref = branch;
    payload.repository.full_name = repo;
    return t.http
      .post('/webhooks/github')
      .set({ 'x-github-event': 'pull_request', 'x-github-delivery': `72d3162e-cc78-11e3-81ab-4c9367dc0958-${branch.length}`, 'content-type': 'application/json' })
      .send(payload);
  };

  async function jobAtPrOpen(n: number) {
    const created = (await t.http.post('/jobs').set(tenant).send(issueBody(n)).expect(201)).body;
    expect(created.branch).toBe(`aicd/${n}-${created.id.slice(0, 8)}`);
    const job = await waitForState(t, created.id, ['PR_OPEN']);
    expect(job.branch).toBe(created.branch);
    return job;
  }

  it('merged: the job waiting in PR_OPEN completes; a second delivery is acknowledged and ignored', async () => {
    const job = await jobAtPrOpen(21);
    const res = await deliver(job.branch!, true).expect(202);
    expect(res.body).toEqual({ accepted: true, jobId: job.id, tenantId: 'acme', created: false });
    const done = await waitForState(t, job.id, ['COMPLETED']);
    expect(done.history.at(-1)).toEqual(expect.objectContaining({ from: 'PR_OPEN', to: 'COMPLETED', event: 'MARK_COMPLETED' }));
    // The audit trail names the delivery, and the worker behind each stage's transition.
    expect(done.history.at(-1)!.actor).toEqual({ kind: 'webhook', id: `72d3162e-cc78-11e3-81ab-4c9367dc0958-${job.branch!.length}` });
    expect(done.history.at(-2)!.actor).toEqual({ kind: 'worker', id: `${hostname()}:${process.pid}` });
    const again = await deliver(job.branch!, true).expect(202);
    expect(again.body).toEqual(expect.objectContaining({ accepted: false, jobId: job.id, ignored: expect.stringContaining('COMPLETED') }));
  });

  it('closed without merging: the job is CANCELLED', async () => {
    const job = await jobAtPrOpen(22);
    await deliver(job.branch!, false).expect(202);
    const cancelled = await waitForState(t, job.id, ['CANCELLED']);
    expect(cancelled.history.at(-1)).toEqual(expect.objectContaining({ from: 'PR_OPEN', to: 'CANCELLED', event: 'MARK_CANCELLED' }));
  });

  it('a branch no job works on, another repository, other actions: acknowledged, nothing changes', async () => {
    const job = await jobAtPrOpen(23);
    expect((await deliver('aicd/23-ffffffff', true).expect(202)).body).toEqual({ accepted: false, ignored: expect.stringContaining('no job works on') });
    expect((await deliver(job.branch!, true, 'someone/else').expect(202)).body.accepted).toBe(false);
    const opened = structuredClone(closedExample);
    opened.action = 'opened';
    expect((await t.http.post('/webhooks/github').set({ 'x-github-event': 'pull_request' }).send(opened).expect(202)).body).toEqual({ accepted: false, ignored: 'pull_request.opened is not handled' });
    const bad = await t.http.post('/webhooks/github').set({ 'x-github-event': 'pull_request' }).send({ action: 'closed', pull_request: { head: {} } }).expect(400);
    expect(bad.body.errors.map((e: { field: string }) => e.field)).toEqual(expect.arrayContaining(['pull_request.head.ref', 'repository']));
    expect((await t.jobs.findById(job.id))!.state).toBe('PR_OPEN');
  });
});
