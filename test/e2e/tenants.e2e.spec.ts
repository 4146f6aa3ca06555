import { Webhooks } from '@octokit/webhooks';
import examples from '@octokit/webhooks-examples';
import { Db, MongoClient } from 'mongodb';
import { randomUUID } from 'node:crypto';
import { generateApiKey, hashApiKey } from '../../src/tenants/api-key';
import { TenantRepository } from '../../src/tenants/tenant.repository';
import { issueApiKey } from '../../src/tenants/tenant-admin';
import { eventually, issueBody, startTestApp, waitForState, type TestApp } from '../support/test-app';

const SECRET = 'tenants-webhook-secret';
const bearer = (key: string) => ({ authorization: `Bearer ${key}` });

function openedExample(): Record<string, any> { // eslint-disable-line @typescript-eslint/no-explicit-any
  const group = (examples as unknown as { name: string; examples: Record<string, unknown>[] }[]).find((g) => g.name === 'issues')!;
  return structuredClone(group.examples.find((e) => e.action === 'opened')!);
}

describe('tenants: API keys (ALLOW_TENANT_HEADER off), webhook mapping', () => {
  let t: TestApp;
  let mongo: MongoClient;
  let db: Db;
  let acmeKey: string;
  let globexKey: string;

  beforeAll(async () => {
    t = await startTestApp('tenants', { ALLOW_TENANT_HEADER: 'false', GITHUB_WEBHOOK_SECRET: SECRET, GITHUB_WEBHOOK_TENANT: 'fallback' });
    const tenants = t.app.get(TenantRepository);
    acmeKey = (await issueApiKey(tenants, { tenantId: 'acme', repositories: ['Codertocat/Hello-World'] })).apiKey;
    globexKey = (await issueApiKey(tenants, { tenantId: 'globex', repositories: ['codertocat/*', 'globex/*'] })).apiKey;
    mongo = await MongoClient.connect(process.env.MONGODB_URI!);
    db = mongo.db(t.dbName);
  });
  afterAll(async () => {
    await mongo?.close();
    await t?.close();
  });

  it('401 naming the Authorization header without a key, with X-Tenant-Id only, with a wrong or malformed key', async () => {
    const none = await t.http.get('/jobs').expect(401);
    expect(none.headers['www-authenticate']).toMatch(/^Bearer/);
    expect(none.body).toEqual(expect.objectContaining({ statusCode: 401, code: 'AUTH_REQUIRED', errors: [expect.objectContaining({ field: 'Authorization' })] }));
    expect(none.body.message).toContain('Authorization');
    const header = await t.http.get('/jobs').set('x-tenant-id', 'acme').expect(401);
    expect(header.body.message).toContain('ALLOW_TENANT_HEADER');
    for (const value of [`Bearer ${generateApiKey()}`, `Bearer ${acmeKey}x`, `Basic ${acmeKey}`, 'Bearer', `Bearer ${acmeKey.slice(0, -1)}`, '']) {
      const res = await t.http.get('/jobs').set('authorization', value).expect(401);
      expect(res.body.code).toBe('INVALID_API_KEY');
      expect(JSON.stringify(res.body)).not.toContain(acmeKey.slice(5));
    }
    await t.http.post('/jobs').send(issueBody(1)).expect(401);
    await t.http.get(`/jobs/${randomUUID()}/statechart`).expect(401);
    expect(await db.collection('jobs').countDocuments()).toBe(0);
  });

  it('a valid key names the tenant; another tenant\'s job is a 404 on every route; X-Tenant-Id cannot override the key', async () => {
    const created = await t.http.post('/jobs').set(bearer(acmeKey)).set('x-tenant-id', 'globex').send(issueBody(2)).expect(201);
    expect(created.body.tenantId).toBe('acme');
    const id = created.body.id;
    await t.http.get(`/jobs/${id}`).set(bearer(acmeKey)).expect(200);
    await t.http.get(`/jobs/${id}`).set(bearer(globexKey)).expect(404);
    await t.http.get(`/jobs/${id}/history`).set(bearer(globexKey)).expect(404);
    await t.http.get(`/jobs/${id}/statechart`).set(bearer(globexKey)).expect(404);
    await t.http.post(`/jobs/${id}/cancel`).set(bearer(globexKey)).expect(404);
    await t.http.post(`/jobs/${id}/retry`).set(bearer(globexKey)).expect(404);
    await t.http.post(`/jobs/${id}/events`).set(bearer(globexKey)).send({ type: 'MARK_CANCELLED' }).expect(404);
    expect((await t.http.get('/jobs').set(bearer(globexKey)).expect(200)).body.items).toEqual([]);
    expect((await t.http.get('/jobs').set(bearer(acmeKey)).expect(200)).body.items.map((j: { id: string }) => j.id)).toEqual([id]);
    await waitForState(t, id, ['COMPLETED']);
    await t.http.get(`/jobs/${id}/statechart`).set(bearer(acmeKey)).expect(200);
  });

  it('health, diagrams and the OpenAPI description need no key; OpenAPI declares bearer auth', async () => {
    await t.http.get('/healthz').expect(200);
    await t.http.get('/statecharts/job').expect(200);
    const doc = (await t.http.get('/docs-json').expect(200)).body;
    expect(doc.components.securitySchemes.bearer).toEqual(expect.objectContaining({ type: 'http', scheme: 'bearer' }));
    expect(doc.paths['/jobs'].post.security).toEqual([{ bearer: [] }]);
    expect(doc.paths['/jobs/{id}/statechart'].get.security).toEqual([{ bearer: [] }]);
    expect(doc.paths['/healthz'].get.security).toBeUndefined();
  });

  it('stores only SHA-256 hashes of keys, unique', async () => {
    const keys = await db.collection('api_keys').find().toArray();
    expect(keys).toHaveLength(2);
    const stored = JSON.stringify(keys);
    expect(stored).not.toContain(acmeKey);
    expect(stored).not.toContain(acmeKey.slice(9));
    expect(keys.map((k) => k.hash).sort()).toEqual([hashApiKey(acmeKey), hashApiKey(globexKey)].sort());
    await expect(db.collection('api_keys').insertOne({ _id: 'dup' as never, tenantId: 'x', hash: hashApiKey(acmeKey) })).rejects.toMatchObject({ code: 11000 });
  });

  it('webhook deliveries go to the tenant listing the repository (exact before owner/*), else GITHUB_WEBHOOK_TENANT', async () => {
    const deliver = async (fullName: string, n: number) => {
      const p = openedExample();
      p.repository.full_name = fullName;
      p.issue.number = n;
      const raw = JSON.stringify(p);
      const res = await t.http
        .post('/webhooks/github')
        .set('content-type', 'application/json')
        .set('x-github-event', 'issues')
        .set('x-hub-signature-256', await new Webhooks({ secret: SECRET }).sign(raw))
        .send(raw)
        .expect(202);
      return res.body as { tenantId: string; jobId: string };
    };
    expect((await deliver('Codertocat/Hello-World', 11)).tenantId).toBe('acme'); // exact, case-insensitive
    expect((await deliver('codertocat/other-repo', 12)).tenantId).toBe('globex'); // owner/*
    expect((await deliver('GLOBEX/anything', 13)).tenantId).toBe('globex');
    const stray = await deliver('someone/else', 14);
    expect(stray.tenantId).toBe('fallback');
    // The fallback tenant has no key here: its job is nobody else's.
    await t.http.get(`/jobs/${stray.jobId}`).set(bearer(acmeKey)).expect(404);
  });

  it('tenant:create refuses a repository pattern another tenant lists, and bad names or limits', async () => {
    const tenants = t.app.get(TenantRepository);
    await expect(issueApiKey(tenants, { tenantId: 'initech', repositories: ['codertocat/hello-world'] })).rejects.toMatchObject({ code: 'REPOSITORY_CLAIMED' });
    await expect(issueApiKey(tenants, { tenantId: 'bad name' })).rejects.toThrow('tenant name');
    await expect(issueApiKey(tenants, { tenantId: 'initech', repositories: ['not a repo'] })).rejects.toThrow('owner/name');
    await expect(issueApiKey(tenants, { tenantId: 'initech', maxActiveJobs: -1 })).rejects.toThrow('max active jobs');
    expect(await db.collection('tenants').countDocuments({ _id: 'initech' as never })).toBe(0);
  });
});

describe('per-tenant active-job limit (excess waits in QUEUED)', () => {
  let t: TestApp;

  beforeAll(async () => {
    t = await startTestApp('limit', { TENANT_MAX_ACTIVE_JOBS: '2', TENANT_LIMIT_RETRY_MS: '40', CONCURRENCY_PLANNING: '8', STAGE_ATTEMPTS: '2' });
    const tenants = t.app.get(TenantRepository);
    await issueApiKey(tenants, { tenantId: 'solo', maxActiveJobs: 1 }); // record overrides the default
    await issueApiKey(tenants, { tenantId: 'free', maxActiveJobs: 0 }); // no limit
  });
  afterAll(async () => {
    await t?.close();
  });

  /** Most jobs of `ids` doing agent work at once: from their first planning call to their final commit. */
  async function peak(ids: string[]): Promise<number> {
    const edges: [number, number][] = [];
    for (const id of ids) {
      const job = (await t.jobs.findById(id))!;
      const start = Math.min(...t.calls.filter((c) => c.jobId === id).map((c) => c.startedAt));
      edges.push([start, 1], [Date.parse(job.history.at(-1)!.at) + 1, -1]);
    }
    edges.sort((a, b) => a[0] - b[0] || a[1] - b[1]);
    let now = 0;
    let max = 0;
    for (const [, d] of edges) max = Math.max(max, (now += d));
    return max;
  }

  it('a tenant at its limit has its next jobs wait in QUEUED; they start as slots free, without spending attempts', async () => {
    const submit = async (tenant: string, n: number) =>
      (await t.http.post('/jobs').set('x-tenant-id', tenant).send(issueBody(n, 'mock: delay=60')).expect(201)).body.id as string;
    const solo = await Promise.all([1, 2, 3, 4].map((n) => submit('solo', n)));
    const dflt = await Promise.all([5, 6, 7, 8].map((n) => submit('dflt', n)));
    const free = await Promise.all([9, 10, 11, 12].map((n) => submit('free', n)));
    const all = [...solo, ...dflt, ...free];
    for (const id of all) await waitForState(t, id, ['COMPLETED'], 30_000);

    expect(await peak(solo)).toBe(1); // tenant record: 1
    expect(await peak(dflt)).toBe(2); // TENANT_MAX_ACTIVE_JOBS: 2
    expect(await peak(free)).toBeGreaterThan(2); // record: 0 = no limit
    for (const id of all) {
      const job = (await t.jobs.findById(id))!;
      expect(job.history.map((h) => h.to)).toEqual(['PLANNING', 'CODING', 'REVIEWING', 'PR_OPEN', 'COMPLETED']);
      expect(job.history.every((h) => h.attempt === 1)).toBe(true); // deferral spent no attempt
    }
    expect(t.calls.filter((c) => c.stage === 'planning')).toHaveLength(all.length);
  });

  it('a cancelled waiting job frees nothing and blocks nothing', async () => {
    const slow = (await t.http.post('/jobs').set('x-tenant-id', 'solo').send(issueBody(20, 'mock: delay=300')).expect(201)).body.id;
    await waitForState(t, slow, ['CODING', 'REVIEWING', 'PR_OPEN']);
    const waiting = (await t.http.post('/jobs').set('x-tenant-id', 'solo').send(issueBody(21)).expect(201)).body.id;
    const next = (await t.http.post('/jobs').set('x-tenant-id', 'solo').send(issueBody(22)).expect(201)).body.id;
    // Its planning message is deferred (delayed, not failed), the job still QUEUED.
    const planning = t.queues[0];
    await eventually(async () => ((await (await planning.getJob(`${waiting}-planning-0`))?.getState()) === 'delayed' ? true : undefined), 5000, () => 'not deferred');
    expect((await t.jobs.findById(waiting))!.state).toBe('QUEUED');
    await t.http.post(`/jobs/${waiting}/cancel`).set('x-tenant-id', 'solo').expect(200);
    await waitForState(t, slow, ['COMPLETED']);
    await waitForState(t, next, ['COMPLETED']);
    expect(t.calls.some((c) => c.jobId === waiting)).toBe(false);
  });
});
