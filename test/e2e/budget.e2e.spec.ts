import { MongoClient } from 'mongodb';
import { MongoTenantRepository } from '../../src/tenants/mongo-tenant.repository';
import { issueBody, startTestApp, waitForState, type TestApp } from '../support/test-app';

/**
 * Budgets over HTTP with real workers: usage reported by the agent accumulates on the job; once
 * it is over the job's budget, the statechart's guard fails the job (BUDGET_EXCEEDED) before the
 * next stage; RETRY with a raised budget resumes there. The MockAgent reports usage scripted by
 * `mock: usage=<stage>:<tokens>[:<usd>]`.
 */
describe('budgets (JOB_BUDGET_USD / JOB_BUDGET_TOKENS, tenant override)', () => {
  let t: TestApp;
  const tenant = { 'x-tenant-id': 'acme' };

  beforeAll(async () => {
    t = await startTestApp('budget', { JOB_BUDGET_USD: '1', JOB_BUDGET_TOKENS: '100000' });
  });
  afterAll(async () => {
    await t?.close();
  });

  it('usage and budget show on GET /jobs/:id; within budget the job completes', async () => {
    const id = (await t.http.post('/jobs').set(tenant).send(issueBody(1, 'mock: usage=planning:1000:0.1\nmock: usage=coding:3000:0.25')).expect(201)).body.id;
    await waitForState(t, id, ['COMPLETED']);
    const job = (await t.http.get(`/jobs/${id}`).set(tenant).expect(200)).body;
    expect(job.context.usage).toEqual({ inputTokens: 2000, outputTokens: 2000, costUsd: 0.35 });
    expect(job.context.budget).toEqual({ usd: 1, tokens: 100000 });
  });

  it('over the budget after coding: FAILED with BUDGET_EXCEEDED before REVIEWING, the code kept; RETRY with a raised budget reviews it', async () => {
    const id = (await t.http.post('/jobs').set(tenant).send(issueBody(2, 'mock: usage=coding:2000:1.5')).expect(201)).body.id;
    const failed = await waitForState(t, id, ['FAILED']);
    expect(failed.error).toEqual(expect.objectContaining({ code: 'BUDGET_EXCEEDED', stage: 'coding' }));
    expect(failed.history.at(-1)).toEqual(expect.objectContaining({ from: 'CODING', to: 'FAILED', event: 'CODE_SUCCEEDED', guard: 'isOverBudget(coding)' }));
    const shown = (await t.http.get(`/jobs/${id}`).set(tenant).expect(200)).body;
    expect(shown.context).toEqual(expect.objectContaining({ failedStage: 'reviewing', usage: { inputTokens: 1000, outputTokens: 1000, costUsd: 1.5 } }));
    expect(shown.context.changedFiles).not.toBeNull();
    expect(shown.acceptedEvents).toEqual(expect.arrayContaining(['RETRY', 'START_REVIEWING']));
    // A bad raise is a 400 naming the field; nothing changes.
    const bad = await t.http.post(`/jobs/${id}/events`).set(tenant).send({ type: 'RETRY', budgetUsd: -1 }).expect(400);
    expect(JSON.stringify(bad.body.errors)).toContain('budgetUsd');
    expect((await t.jobs.findById(id))!.version).toBe(failed.version);
    // Raised: the review runs (no usage: stays within 5 USD), the job completes.
    await t.http.post(`/jobs/${id}/events`).set(tenant).send({ type: 'RETRY', budgetUsd: 5 }).expect(200);
    const done = await waitForState(t, id, ['COMPLETED']);
    expect(done.snapshot.context.limits.budget).toEqual({ usd: 5, tokens: 100000 });
    expect(done.history.map((h) => h.to)).toEqual(['PLANNING', 'CODING', 'FAILED', 'REVIEWING', 'PR_OPEN', 'COMPLETED']);
  });

  it('tokens count too, also the usage of failed attempts: transient failures that spent tokens push the job over on the attempt that succeeds', async () => {
    // Each planning attempt reports 40,000 tokens; two fail transiently, the third succeeds: 120,000 > 100,000.
    const id = (await t.http.post('/jobs').set(tenant).send(issueBody(3, 'mock: usage=planning:40000\nmock: transient=planning:2')).expect(201)).body.id;
    const failed = await waitForState(t, id, ['FAILED']);
    expect(failed.error).toEqual(expect.objectContaining({ code: 'BUDGET_EXCEEDED', stage: 'planning' }));
    expect(failed.snapshot.context.usage).toEqual({ inputTokens: 60000, outputTokens: 60000, costUsd: 0 });
  });

  it('a tenant\'s budget setting wins over the service\'s; 0 means none', async () => {
    const mongo = await MongoClient.connect(process.env.MONGODB_URI!);
    try {
      const tenants = new MongoTenantRepository(mongo.db(t.dbName));
      await tenants.upsert('frugal', { settings: { budgetUsd: 0.2 } });
      await tenants.upsert('lavish', { settings: { budgetUsd: 0, budgetTokens: 0 } });
    } finally {
      await mongo.close();
    }
    const frugal = (await t.http.post('/jobs').set({ 'x-tenant-id': 'frugal' }).send(issueBody(4, 'mock: usage=planning:10:0.3')).expect(201)).body;
    expect(frugal.context.budget).toEqual({ usd: 0.2, tokens: 100000 });
    expect((await waitForState(t, frugal.id, ['FAILED'])).error?.code).toBe('BUDGET_EXCEEDED');
    const lavish = (await t.http.post('/jobs').set({ 'x-tenant-id': 'lavish' }).send(issueBody(5, 'mock: usage=planning:500000:50')).expect(201)).body;
    expect(lavish.context.budget).toEqual({ usd: null, tokens: null });
    await waitForState(t, lavish.id, ['COMPLETED']);
  });
});
