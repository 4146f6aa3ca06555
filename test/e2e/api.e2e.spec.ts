import { Webhooks } from '@octokit/webhooks';
import { randomUUID } from 'node:crypto';
import { spawn, type ChildProcess } from 'node:child_process';
import examples from '@octokit/webhooks-examples';
import { Sweeper } from '../../src/queues/sweeper';
import { JOB_MACHINE_VERSION } from '../../src/lifecycle/job.machine';
import { applyEvent } from '../../src/lifecycle/job.runtime';
import { drainQueues, eventually, issueBody, startTestApp, waitForState, type TestApp } from '../support/test-app';
import { freePort } from '../../scripts/lib/free-port';

const SECRET = 'webhook-test-secret';

function issuesExamples(action: string) {
  const group = (examples as unknown as { name: string; examples: Record<string, unknown>[] }[]).find((g) => g.name === 'issues')!;
  return group.examples.filter((e) => e.action === action);
}

describe('REST API contract, webhook and sweeper (real services)', () => {
  let t: TestApp;
  const acme = { 'x-tenant-id': 'acme' };
  const globex = { 'x-tenant-id': 'globex' };
  const sign = (body: string) => new Webhooks({ secret: SECRET }).sign(body);

  beforeAll(async () => {
    t = await startTestApp('api', { GITHUB_WEBHOOK_SECRET: SECRET, GITHUB_WEBHOOK_TENANT: 'hooks', GITHUB_WEBHOOK_LABEL: 'bug' });
  });
  afterAll(async () => {
    await t?.close();
  });

  describe('validation and visibility', () => {
    it('400 names the field at fault', async () => {
      const res = await t.http.post('/jobs').set(acme).send({ repositoryId: 'nope', issue: { id: '1', title: 'x', body: '', url: 'not a url' } }).expect(400);
      expect(res.body.errors.map((e: { field: string }) => e.field).sort()).toEqual(['issue.url', 'repositoryId']);
      const missing = await t.http.post('/jobs').set(acme).send({ repositoryId: 'a/b' }).expect(400);
      expect(missing.body.errors.map((e: { field: string }) => e.field)).toContain('issue');
      const extra = await t.http.post('/jobs').set(acme).send({ ...issueBody(1), admin: true }).expect(400);
      expect(extra.body.errors.map((e: { field: string }) => e.field)).toContain('admin');
      const badJson = await t.http.post('/jobs').set(acme).set('content-type', 'application/json').send('{"repositoryId":').expect(400);
      expect(badJson.body.statusCode).toBe(400);
      const bad = await t.http.get('/jobs?limit=1000&state=NOPE').set(acme).expect(400);
      expect(bad.body.errors.map((e: { field: string }) => e.field).sort()).toEqual(['limit', 'state']);
      await t.http.get('/jobs?cursor=forged').set(acme).expect(400);
      await t.http.post(`/jobs/${randomUUID()}/events`).set(acme).send({ type: 'EXPLODE' }).expect(400);
    });

    it('400 without a valid X-Tenant-Id header', async () => {
      const res = await t.http.get('/jobs').expect(400);
      expect(res.body.errors).toEqual([expect.objectContaining({ field: 'X-Tenant-Id' })]);
      await t.http.get('/jobs').set('x-tenant-id', 'bad tenant!').expect(400);
    });

    it('413 for a body over the limit', async () => {
      await t.http.post('/jobs').set(acme).send({ ...issueBody(1), pad: 'x'.repeat(1_100_000) }).expect(413);
    });

    it('404 for an unknown job, a malformed id, and another tenant\'s job', async () => {
      await t.http.get(`/jobs/${randomUUID()}`).set(acme).expect(404);
      await t.http.get('/jobs/not-a-uuid').set(acme).expect(404);
      const id = (await t.http.post('/jobs').set(acme).send(issueBody(50)).expect(201)).body.id;
      await t.http.get(`/jobs/${id}`).set(globex).expect(404);
      await t.http.get(`/jobs/${id}/history`).set(globex).expect(404);
      await t.http.post(`/jobs/${id}/cancel`).set(globex).expect(404);
      await t.http.post(`/jobs/${id}/events`).set(globex).send({ type: 'MARK_CANCELLED' }).expect(404);
      expect((await t.http.get('/jobs').set(globex).expect(200)).body.items.map((j: { id: string }) => j.id)).not.toContain(id);
      await waitForState(t, id, ['COMPLETED']);
    });

    it('a repeated idempotency key returns the existing job (200) and creates nothing', async () => {
      const first = await t.http.post('/jobs').set(acme).send(issueBody(51, '', { idempotencyKey: 'order-51' })).expect(201);
      const again = await t.http.post('/jobs').set(acme).send(issueBody(51, '', { idempotencyKey: 'order-51' })).expect(200);
      expect(again.body.id).toBe(first.body.id);
      const list = await t.http.get('/jobs?limit=100').set(acme).expect(200);
      expect(list.body.items.filter((j: { id: string }) => j.id === first.body.id)).toHaveLength(1);
      await waitForState(t, first.body.id, ['COMPLETED']);
    });

    it('lists with state filter and cursor pagination', async () => {
      const tenant = { 'x-tenant-id': 'pager' };
      const ids: string[] = [];
      for (let i = 0; i < 3; i++) ids.push((await t.http.post('/jobs').set(tenant).send(issueBody(60 + i)).expect(201)).body.id);
      for (const id of ids) await waitForState(t, id, ['COMPLETED']);
      const p1 = await t.http.get('/jobs?limit=2&state=COMPLETED').set(tenant).expect(200);
      const p2 = await t.http.get(`/jobs?limit=2&state=COMPLETED&cursor=${p1.body.nextCursor}`).set(tenant).expect(200);
      expect([...p1.body.items, ...p2.body.items].map((j: { id: string }) => j.id).sort()).toEqual([...ids].sort());
      expect(p2.body.nextCursor).toBeNull();
      expect((await t.http.get('/jobs?state=FAILED').set(tenant).expect(200)).body.items).toEqual([]);
    });

    it('serves health and the OpenAPI description', async () => {
      const h = await t.http.get('/healthz').expect(200);
      expect(h.body.details).toEqual({ mongodb: { status: 'up', server: expect.stringMatching(/^(FerretDB|MongoDB) /), commits: expect.stringMatching(/^(one-operation|version-claim)$/) }, redis: { status: 'up' }, tools: { status: 'up', degraded: false, breakers: [], workers: 1 } });
      const doc = await t.http.get('/docs-json').expect(200);
      expect(Object.keys(doc.body.paths)).toEqual(
        expect.arrayContaining(['/jobs', '/jobs/{id}', '/jobs/{id}/events', '/jobs/{id}/logs', '/jobs/{id}/logs/stream', '/jobs/{id}/attempts', '/jobs/{id}/artifacts', '/webhooks/github', '/healthz']),
      );
    });
  });

  describe('GitHub webhook', () => {
    const deliver = async (payload: unknown, status: number, opts: { event?: string; signature?: string | null; delivery?: string } = {}) => {
      const body = JSON.stringify(payload);
      const signature = opts.signature === null ? null : (opts.signature ?? (await sign(body)));
      const req = t.http
        .post('/webhooks/github')
        .set('content-type', 'application/json')
        .set('x-github-event', opts.event ?? 'issues')
        .set('x-github-delivery', opts.delivery ?? randomUUID());
      if (signature !== null) req.set('x-hub-signature-256', signature);
      return req.send(body).expect(status);
    };

    it('maps a real `issues.opened` example to a job of the webhook tenant; redeliveries answer with the same job', async () => {
      const [opened] = issuesExamples('opened');
      const res = await deliver(opened, 202, { delivery: 'd-1' });
      expect(res.body).toEqual({ accepted: true, jobId: expect.any(String), tenantId: 'hooks', created: true });
      const again = await deliver(opened, 202, { delivery: 'd-1' });
      expect(again.body).toEqual({ accepted: true, jobId: res.body.jobId, tenantId: 'hooks', created: false });
      // Every real `opened` example is the same issue: all map to the one job.
      for (const ex of issuesExamples('opened')) {
        expect((await deliver(ex, 202)).body.jobId).toBe(res.body.jobId);
      }
      const job = (await t.http.get(`/jobs/${res.body.jobId}`).set('x-tenant-id', 'hooks').expect(200)).body;
      const issue = (opened as { issue: { number: number; title: string; html_url: string } }).issue;
      expect(job.repositoryId).toBe('Codertocat/Hello-World');
      expect(job.issue).toEqual(expect.objectContaining({ id: String(issue.number), title: issue.title, url: issue.html_url }));
      await waitForState(t, res.body.jobId, ['COMPLETED']);
    });

    it('`labeled` creates a job only for the configured label', async () => {
      const [labeled] = issuesExamples('labeled') as { label: { name: string }; issue: { number: number } }[];
      const other = { ...labeled, label: { ...labeled.label, name: 'wontfix' }, issue: { ...labeled.issue, number: 9001 } };
      expect((await deliver(other, 202)).body).toEqual({ accepted: false, ignored: expect.stringContaining('wontfix') });
      const bug = { ...labeled, label: { ...labeled.label, name: 'bug' }, issue: { ...labeled.issue, number: 9002 } };
      const res = await deliver(bug, 202);
      expect(res.body.created).toBe(true);
      await waitForState(t, res.body.jobId, ['COMPLETED']);
    });

    it('a bad or missing signature gets a 401 and creates nothing', async () => {
      const [opened] = issuesExamples('opened') as { issue: Record<string, unknown> }[];
      const forged = { ...opened, issue: { ...opened.issue, number: 777 } };
      const before = (await t.http.get('/jobs?limit=100').set('x-tenant-id', 'hooks')).body.items.length;
      await deliver(forged, 401, { signature: 'sha256=' + '0'.repeat(64) });
      await deliver(forged, 401, { signature: null });
      await deliver(forged, 401, { signature: await new Webhooks({ secret: 'other' }).sign(JSON.stringify(forged)) });
      const after = (await t.http.get('/jobs?limit=100').set('x-tenant-id', 'hooks')).body.items.length;
      expect(after).toBe(before);
    });

    it('ping and other actions get a 2xx and create nothing; a malformed issues payload is a 400', async () => {
      expect((await deliver({ zen: 'Keep it logically awesome.' }, 202, { event: 'ping' })).body.accepted).toBe(false);
      const [closed] = issuesExamples('edited');
      expect((await deliver(closed, 202)).body.accepted).toBe(false);
      const res = await deliver({ action: 'opened', issue: { number: 'x' }, repository: {} }, 400);
      expect(res.body.errors.map((e: { field: string }) => e.field)).toEqual(expect.arrayContaining(['issue.number', 'repository.full_name']));
    });
  });

  describe('no job is lost between commit and enqueue', () => {
    it('the sweeper re-sends the stage message of a job committed without one', async () => {
      // Simulate a worker that committed QUEUED → PLANNING and crashed before enqueueing:
      // create the job directly in the repository (no message) and commit START_PLANNING.
      const res = await t.http.post('/jobs').set(acme).send(issueBody(70, 'mock: fail=planning')).expect(201);
      await waitForState(t, res.body.id, ['FAILED']);
      const job = (await t.jobs.findById(res.body.id))!;
      const id = randomUUID();
      const snapshot = JSON.parse(JSON.stringify(job.snapshot).split(job.id).join(id).replace('mock: fail=planning', ''));
      snapshot.value = 'QUEUED';
      snapshot.children = {};
      snapshot.context = { ...snapshot.context, error: null, failedStage: null };
      const now = new Date();
      const created = await t.jobs.create({ ...job, id, idempotencyKey: id, state: 'QUEUED', version: 0, snapshot, history: [], error: null, createdAt: now, updatedAt: now });
      const planning = applyEvent(snapshot, { type: 'START_PLANNING' });
      const committed = await t.jobs.commit(created.job, {
        state: planning.state,
        snapshot: planning.snapshot,
        machineVersion: JOB_MACHINE_VERSION,
        error: null,
        transitions: planning.transitions.map((tr) => ({ ...tr, at: new Date().toISOString(), attempt: 1 })),
      });
      expect(committed!.state).toBe('PLANNING');
      await drainQueues(t.queues);
      expect((await t.jobs.findById(id))!.state).toBe('PLANNING'); // stuck: no message
      const report = await t.app.get(Sweeper).sweep(0);
      expect(report.enqueued).toBeGreaterThanOrEqual(1);
      const done = await waitForState(t, id, ['COMPLETED']);
      expect(done.history.map((h) => h.to)).toEqual(['PLANNING', 'CODING', 'REVIEWING', 'PR_OPEN', 'COMPLETED']);
      // A second sweep finds nothing to do for it.
      const again = await t.app.get(Sweeper).sweep(0);
      expect(again.enqueued).toBe(0);
    });
  });
});


describe('dependency outage', () => {
  let redis: ChildProcess | undefined;
  let t: TestApp | undefined;

  afterAll(async () => {
    await t?.close();
    redis?.kill('SIGKILL');
  });

  const startRedis = async (port: number) => {
    const proc = spawn('redis-server', ['--port', String(port), '--bind', '127.0.0.1', '--save', '', '--appendonly', 'no'], { stdio: 'ignore' });
    const url = `redis://127.0.0.1:${port}`;
    const { default: Redis } = await import('ioredis');
    const deadline = Date.now() + 10_000;
    for (;;) {
      const c = new Redis(url, { lazyConnect: true, maxRetriesPerRequest: 0, retryStrategy: () => null });
      c.on('error', () => undefined);
      try {
        await c.connect();
        await c.ping();
        return proc;
      } catch {
        if (Date.now() > deadline) throw new Error('own redis-server did not start');
        await new Promise((r) => setTimeout(r, 50));
      } finally {
        c.disconnect();
      }
    }
  };

  it('answers 503 while Redis is down, /healthz reports it, and work resumes when Redis is back', async () => {
    const port = await freePort();
    redis = await startRedis(port);
    t = await startTestApp('outage', { REDIS_URL: `redis://127.0.0.1:${port}` });
    const first = await t.http.post('/jobs').set({ 'x-tenant-id': 'acme' }).send(issueBody(80)).expect(201);
    await waitForState(t, first.body.id, ['COMPLETED']);
    redis.kill('SIGKILL');
    await new Promise((resolve) => redis!.once('exit', resolve));

    const res = await t.http.post('/jobs').set({ 'x-tenant-id': 'acme' }).send(issueBody(81)).expect(503);
    expect(res.body).toEqual(expect.objectContaining({ code: 'DEPENDENCY_UNAVAILABLE', dependency: 'redis' }));
    const health = await t.http.get('/healthz').expect(503);
    expect(health.body.details.redis.status).toBe('down');
    expect(health.body.details.mongodb.status).toBe('up');
    // The refused submission created nothing.
    const list = await t.http.get('/jobs?limit=100').set({ 'x-tenant-id': 'acme' }).expect(200);
    expect(list.body.items.map((j: { issue: { id: string } }) => j.issue.id)).toEqual(['80']);

    // Redis comes back (empty: it keeps nothing on disk): the service recovers by itself.
    redis = await startRedis(port);
    await eventually(async () => ((await t!.http.get('/healthz')).status === 200 ? true : undefined), 20_000, () => 'healthz not 200');
    const again = await t.http.post('/jobs').set({ 'x-tenant-id': 'acme' }).send(issueBody(82)).expect(201);
    await waitForState(t, again.body.id, ['COMPLETED'], 30_000);
  });
});
