import { createHash } from 'node:crypto';
import { mkdtempSync, rmSync, writeFileSync, mkdirSync } from 'node:fs';
import { request as httpRequest } from 'node:http';
import type { AddressInfo } from 'node:net';
import { hostname, tmpdir } from 'node:os';
import * as path from 'node:path';
import { TenantEventLog } from '../../src/events/tenant-event-log';
import { LogBus } from '../../src/logs/log-bus';
import { STAGES } from '../../src/lifecycle/job.types';
import { TenantRepository } from '../../src/tenants/tenant.repository';
import { issueApiKey } from '../../src/tenants/tenant-admin';
import { readEvents } from '../support/sse-client';
import { eventually, issueBody, startTestApp, waitForState, type TestApp } from '../support/test-app';

const ADMIN_TOKEN = 'admin-token-for-the-dashboard-test';

describe('dashboard API: whoami, filtered listing and counts, workers and queues, the tenant event stream, Bull Board, /ui', () => {
  let t: TestApp;
  let base: string;
  let uiDir: string;
  let acme: Record<string, string>;
  let globex: Record<string, string>;

  beforeAll(async () => {
    uiDir = mkdtempSync(path.join(tmpdir(), 'aicd-ui-'));
    mkdirSync(path.join(uiDir, 'assets'));
    writeFileSync(path.join(uiDir, 'index.html'), '<!doctype html><div id="root">dashboard</div>');
    writeFileSync(path.join(uiDir, 'assets', 'app-1234abcd.js'), 'console.log(1)');
    t = await startTestApp('dashboard', { ALLOW_TENANT_HEADER: 'false', ADMIN_TOKEN, UI_DIR: uiDir, EVENTS_STREAM_MAXLEN: '100', SSE_CLIENT_MAX_BUFFER_BYTES: '1024' });
    await t.app.listen(0, '127.0.0.1');
    base = `http://127.0.0.1:${(t.app.getHttpServer().address() as AddressInfo).port}`;
    const tenants = t.app.get(TenantRepository);
    acme = { authorization: `Bearer ${(await issueApiKey(tenants, { tenantId: 'acme', repositories: [] })).apiKey}` };
    globex = { authorization: `Bearer ${(await issueApiKey(tenants, { tenantId: 'globex', repositories: [] })).apiKey}` };
  });
  afterAll(async () => {
    await t?.close();
    if (uiDir) rmSync(uiDir, { recursive: true, force: true });
  });

  it('GET /whoami names the key\'s tenant; a wrong key is a 401 naming Authorization', async () => {
    expect((await t.http.get('/whoami').set(acme).expect(200)).body).toEqual({ tenantId: 'acme', via: 'api-key' });
    const wrong = await t.http.get('/whoami').set({ authorization: 'Bearer aicd_wrongwrongwrongwrongwrongwrongwrongwrong' }).expect(401);
    expect(wrong.body.errors[0].field).toBe('Authorization');
  });

  it('GET /jobs filters by state, repository and created/updated time; GET /jobs/counts counts per state; another tenant sees none of it', async () => {
    const before = new Date().toISOString();
    const a = (await t.http.post('/jobs').set(acme).send({ ...issueBody(1), repositoryId: 'acme/alpha' }).expect(201)).body.id;
    const b = (await t.http.post('/jobs').set(acme).send({ ...issueBody(2, 'mock: fail=planning'), repositoryId: 'acme/beta' }).expect(201)).body.id;
    await waitForState(t, a, ['COMPLETED']);
    await waitForState(t, b, ['FAILED']);
    const ids = async (query: Record<string, string>, headers = acme) => ((await t.http.get('/jobs').query(query).set(headers).expect(200)).body.items as { id: string }[]).map((j) => j.id);
    expect(await ids({ repositoryId: 'acme/alpha' })).toEqual([a]);
    expect(await ids({ state: 'FAILED' })).toEqual([b]);
    expect((await ids({ createdFrom: before })).sort()).toEqual([a, b].sort());
    expect(await ids({ createdTo: before })).toEqual([]);
    expect(await ids({ updatedFrom: new Date(Date.now() + 60_000).toISOString() })).toEqual([]);
    expect(await ids({}, globex)).toEqual([]);
    // Cursor paging with a filter: one per page, both seen once.
    const p1 = (await t.http.get('/jobs').query({ limit: '1', createdFrom: before }).set(acme).expect(200)).body;
    const p2 = (await t.http.get('/jobs').query({ limit: '1', createdFrom: before, cursor: p1.nextCursor }).set(acme).expect(200)).body;
    expect([p1.items[0].id, p2.items[0].id].sort()).toEqual([a, b].sort());

    const counts = (await t.http.get('/jobs/counts').set(acme).expect(200)).body;
    expect(counts.total).toBe(2);
    expect(counts.byState).toEqual(expect.objectContaining({ COMPLETED: 1, FAILED: 1, QUEUED: 0, CODING: 0 }));
    expect((await t.http.get('/jobs/counts').query({ repositoryId: 'acme/beta' }).set(acme).expect(200)).body.byState.FAILED).toBe(1);
    expect((await t.http.get('/jobs/counts').set(globex).expect(200)).body.total).toBe(0);

    const badDate = await t.http.get('/jobs').query({ createdFrom: 'yesterday' }).set(acme).expect(400);
    expect(JSON.stringify(badDate.body)).toContain('createdFrom');
    const inverted = await t.http.get('/jobs/counts').query({ createdFrom: '2026-12-02T00:00:00Z', createdTo: '2026-12-01T00:00:00Z' }).set(acme).expect(400);
    expect(inverted.body.errors[0].field).toBe('createdTo');
    // ISO-8601 forms a Date cannot read are refused, not read as 1970 (which would match every job).
    for (const odd of ['20260201', '2026-W05', '2026-032']) {
      const r = await t.http.get('/jobs/counts').query({ updatedFrom: odd }).set(acme).expect(400);
      expect(r.body.errors[0].field).toBe('updatedFrom');
    }
    const badRepo = await t.http.get('/jobs').query({ repositoryId: 'no-slash' }).set(acme).expect(400);
    expect(JSON.stringify(badRepo.body)).toContain('repositoryId');
  });

  it('GET /healthz names the store server and the compare-and-set its commits use', async () => {
    const mongodb = (await t.http.get('/healthz').expect(200)).body.info.mongodb;
    expect(mongodb.status).toBe('up');
    expect(mongodb.server).toMatch(/^(FerretDB v\d+\.\d+\.\d+ \(wire \d+\.\d+\.\d+\)|MongoDB \d+\.\d+\.\d+)$/);
    expect(mongodb.commits).toBe(/^FerretDB v1\./.test(mongodb.server) ? 'version-claim' : 'one-operation');
  });

  it('GET /workers lists this process with the stages it serves; GET /queues the depth of every queue', async () => {
    const workers = (await t.http.get('/workers').set(acme).expect(200)).body as { pid: number; stages: string[]; alive: boolean; breakers: object }[];
    const self = await eventually(async () => {
      const list = (await t.http.get('/workers').set(acme).expect(200)).body as typeof workers;
      return list.find((w) => w.pid === process.pid);
    }, 10_000, () => JSON.stringify(workers));
    expect(self).toEqual(expect.objectContaining({ alive: true, stages: [...STAGES], breakers: expect.any(Object) }));
    const queues = (await t.http.get('/queues').set(acme).expect(200)).body as { name: string; stage: string | null; counts: Record<string, number> }[];
    expect(queues.map((q) => q.stage)).toEqual([...STAGES, null]);
    for (const q of queues) expect(q.counts).toEqual(expect.objectContaining({ waiting: expect.any(Number), active: expect.any(Number), failed: expect.any(Number), delayed: expect.any(Number) }));
    await t.http.get('/queues').expect(401);
  });

  it('GET /events/stream carries the tenant\'s job transitions live, in order, and resumes after Last-Event-ID without gaps or repeats', async () => {
    const url = `${base}/events/stream`;
    let jobId = '';
    const otherTenant = readEvents(url, globex, () => false, 6000);
    const live = readEvents(url, acme, (ev) => ev.some((e) => e.event === 'job' && e.data.jobId === jobId && e.data.state === 'COMPLETED'), 20_000);
    await new Promise((r) => setTimeout(r, 300)); // both streams open
    jobId = (await t.http.post('/jobs').set(acme).send(issueBody(3)).expect(201)).body.id;
    const events = (await live).filter((e) => e.data.jobId === jobId);
    expect(events[0]).toEqual(expect.objectContaining({ event: 'job', data: expect.objectContaining({ kind: 'job', created: true, state: 'QUEUED', issueTitle: 'Issue 3: fix the widget' }) }));
    // A commit may take several transitions (one event); together they are the job's history.
    expect(events.at(-1)!.data.state).toBe('COMPLETED');
    const versions = events.map((e) => e.data.version);
    expect(versions).toEqual([...versions].sort((x, y) => x - y));
    const history = (await t.http.get(`/jobs/${jobId}/history`).set(acme).expect(200)).body as { from: string; to: string; event: string }[];
    expect(events.flatMap((e) => e.data.transitions)).toEqual(history);
    expect(history.map((h) => h.to)).toEqual(['PLANNING', 'CODING', 'REVIEWING', 'PR_OPEN', 'COMPLETED']);
    expect((await otherTenant).filter((e) => e.data.jobId === jobId)).toEqual([]);

    // Reconnect after the second event: the rest, in order, nothing twice.
    const resumed = await readEvents(url, { ...acme, 'last-event-id': events[1].id }, (ev) => ev.some((e) => e.data.jobId === jobId && e.data.state === 'COMPLETED'), 10_000);
    expect(resumed.filter((e) => e.data.jobId === jobId).map((e) => e.id)).toEqual(events.slice(2).map((e) => e.id));
    // The same with ?after= and a job filter.
    const filtered = await readEvents(`${url}?after=${events[0].id}&jobId=${jobId}&kinds=job`, acme, (ev) => ev.some((e) => e.data.state === 'COMPLETED'), 10_000);
    expect(filtered.map((e) => e.id)).toEqual(events.slice(1).map((e) => e.id));

    const bad = await fetch(url, { headers: { ...acme, 'last-event-id': 'not-an-id' } });
    expect(bad.status).toBe(400);
    expect(((await bad.json()) as { errors: { field: string }[] }).errors[0].field).toBe('Last-Event-ID');
    expect((await fetch(`${url}?kinds=jobs`, { headers: acme })).status).toBe(400);
    expect((await fetch(url)).status).toBe(401);
  });

  it('log lines reach the stream one event per line; a Last-Event-ID older than what is kept gets `resync` first', async () => {
    const url = `${base}/events/stream`;
    const line = (n: number) => ({ id: `l${n}`, at: new Date().toISOString(), stage: 'planning' as const, attempt: 1, stream: 'stdout' as const, text: `line ${n}` });
    const jobId = (await t.http.post('/jobs').set(acme).send(issueBody(4)).expect(201)).body.id;
    const [first] = (await readEvents(`${url}?after=0-0&jobId=${jobId}`, acme, (ev) => ev.some((e) => e.event === 'job'), 5000)).filter((e) => e.event === 'job');
    const got = readEvents(`${url}?kinds=log`, acme, (ev) => ev.length >= 3, 10_000);
    await new Promise((r) => setTimeout(r, 300));
    t.app.get(LogBus).publish(jobId, [line(1), line(2), line(3)], 'acme');
    const logs = await got;
    expect(logs.map((e) => [e.event, e.data.jobId, e.data.line.text])).toEqual([
      ['log', jobId, 'line 1'],
      ['log', jobId, 'line 2'],
      ['log', jobId, 'line 3'],
    ]);
    expect(logs[2].id).not.toBe(''); // the batch's id rides on its last line

    // EVENTS_STREAM_MAXLEN=100: 400 more events trim the stream past the first one.
    const events = t.app.get(TenantEventLog);
    for (let i = 0; i < 400; i++) events.append('acme', { kind: 'log', jobId, lines: [line(100 + i)] });
    await eventually(async () => ((await events.oldestId('acme')) !== first?.id ? true : undefined), 5000, () => 'stream not trimmed');
    const resync = await readEvents(url, { ...acme, 'last-event-id': first.id }, (ev) => ev.length >= 2, 5000);
    expect(resync[0].event).toBe('resync');
    expect(resync[1].event).toBe('log');
  });

  it('a client that stops reading is disconnected once SSE_CLIENT_MAX_BUFFER_BYTES are unsent, not buffered without bound', async () => {
    const jobId = (await t.http.post('/jobs').set(acme).send(issueBody(5)).expect(201)).body.id;
    const { port } = t.app.getHttpServer().address() as AddressInfo;
    let received = 0;
    const ended = new Promise<void>((resolve, reject) => {
      const req = httpRequest({ host: '127.0.0.1', port, path: '/events/stream?kinds=log', headers: acme }, (res) => {
        expect(res.statusCode).toBe(200);
        res.pause(); // a client that stops reading
        setTimeout(() => {
          res.on('data', (chunk: Buffer) => (received += chunk.length));
          res.on('end', () => resolve());
          res.on('error', () => resolve());
          res.resume();
        }, 4000);
      });
      req.on('error', reject);
      req.end();
    });
    await new Promise((r) => setTimeout(r, 500));
    const big = 'x'.repeat(64 * 1024);
    const bus = t.app.get(LogBus);
    let sent = 0;
    for (let i = 0; i < 400; i++) {
      bus.publish(jobId, [{ id: `b${i}`, at: new Date().toISOString(), stage: 'planning', attempt: 1, stream: 'stdout', text: big }], 'acme');
      sent += big.length;
      if (i % 50 === 49) await new Promise((r) => setTimeout(r, 50));
    }
    await ended; // the server closed the stream
    expect(received).toBeLessThan(sent);
  }, 30_000);

  it('POST /jobs/bulk cancels or retries every job matching a filter, each through its own compare-and-set; the rest are skipped with their code', async () => {
    const initechKey = (await issueApiKey(t.app.get(TenantRepository), { tenantId: 'initech', repositories: [] })).apiKey;
    const initech = { authorization: `Bearer ${initechKey}` };
    const keyId = `key:${createHash('sha256').update(initechKey).digest('hex').slice(0, 8)}`;
    const submit = async (n: number, repositoryId: string, body: string) => (await t.http.post('/jobs').set(initech).send({ ...issueBody(n, body), repositoryId }).expect(201)).body.id as string;
    const failed = await submit(105, 'initech/slow', 'mock: fail=planning');
    await waitForState(t, failed, ['FAILED']); // first: the slow ones below hold the planning workers
    const slow = [await submit(101, 'initech/slow', 'mock: delay=60000'), await submit(102, 'initech/slow', 'mock: delay=60000'), await submit(103, 'initech/slow', 'mock: delay=60000')];
    const other = await submit(104, 'initech/other', 'mock: delay=60000');
    const bulk = (body: object, headers: Record<string, string> = initech) => t.http.post('/jobs/bulk').set(headers).send(body);

    // Bad input: 400 naming the field; nothing changes.
    expect((await bulk({ type: 'MARK_CANCELLED', filter: {} }).expect(400)).body.errors[0].field).toBe('filter');
    expect(JSON.stringify((await bulk({ type: 'START_CODING', filter: { repositoryId: 'initech/slow' } }).expect(400)).body)).toContain('type');
    expect(JSON.stringify((await bulk({ type: 'MARK_CANCELLED', filter: { state: 'DONE' } }).expect(400)).body)).toContain('filter.state');
    expect(JSON.stringify((await bulk({ type: 'MARK_CANCELLED', filter: { state: 'QUEUED' }, limit: 0 }).expect(400)).body)).toContain('limit');
    const inverted = await bulk({ type: 'MARK_CANCELLED', filter: { createdFrom: '2026-12-02T00:00:00Z', createdTo: '2026-12-01T00:00:00Z' } }).expect(400);
    expect(inverted.body.errors[0].field).toBe('filter.createdTo');
    expect((await bulk({ type: 'MARK_CANCELLED', filter: { createdFrom: '20260201' } }).expect(400)).body.errors[0].field).toBe('filter.createdFrom');
    // Another tenant's identical filter matches none of initech's jobs.
    expect((await bulk({ type: 'MARK_CANCELLED', filter: { repositoryId: 'initech/slow' } }, globex).expect(200)).body).toEqual({ type: 'MARK_CANCELLED', matched: 0, applied: [], skipped: [], more: false });
    for (const id of [...slow, other]) expect((await t.http.get(`/jobs/${id}`).set(initech).expect(200)).body.state).not.toBe('CANCELLED');

    // RETRY by state: the failed job goes back to the stage it failed in; the others do not match.
    const retry = (await bulk({ type: 'RETRY', filter: { state: 'FAILED', repositoryId: 'initech/slow' } }).expect(200)).body;
    expect(retry).toEqual({ type: 'RETRY', matched: 1, applied: [{ jobId: failed, state: 'PLANNING' }], skipped: [], more: false });
    const retried = (await t.http.get(`/jobs/${failed}/history`).set(initech).expect(200)).body as { event: string; actor?: unknown }[];
    // The audit trail: the worker's PLAN_FAILED, then the bulk RETRY by initech's key (its fingerprint, never the key).
    expect(retried.find((h) => h.event === 'PLAN_FAILED')!.actor).toEqual({ kind: 'worker', id: `${hostname()}:${process.pid}` });
    expect(retried.find((h) => h.event === 'RETRY')!.actor).toEqual({ kind: 'bulk', id: keyId });
    expect(JSON.stringify(retried)).not.toContain(initechKey);

    // A limit of 2: two of the four matching jobs, and `more`.
    const first = (await bulk({ type: 'MARK_CANCELLED', filter: { repositoryId: 'initech/slow' }, limit: 2, reason: 'bulk test' }).expect(200)).body;
    expect(first.matched).toBe(2);
    expect(first.more).toBe(true);
    expect(first.applied.length + first.skipped.length).toBe(2);
    // Again without a limit: every matching job is applied or skipped, none twice; the cancelled ones are skipped as ILLEGAL_EVENT.
    const second = (await bulk({ type: 'MARK_CANCELLED', filter: { repositoryId: 'initech/slow' } }).expect(200)).body;
    expect(second.matched).toBe(4);
    expect(second.more).toBe(false);
    expect([...second.applied, ...second.skipped].map((j: { jobId: string }) => j.jobId).sort()).toEqual([...slow, failed].sort());
    for (const a of first.applied as { jobId: string }[]) {
      expect(second.skipped).toContainEqual(expect.objectContaining({ jobId: a.jobId, state: 'CANCELLED', code: 'ILLEGAL_EVENT', message: expect.stringContaining('MARK_CANCELLED') }));
    }
    for (const id of [...slow, failed]) {
      const job = (await t.http.get(`/jobs/${id}`).set(initech).expect(200)).body;
      expect(job.state).toBe('CANCELLED');
      expect(job.history.filter((h: { event: string }) => h.event === 'MARK_CANCELLED')).toEqual([expect.objectContaining({ actor: { kind: 'bulk', id: keyId } })]); // applied once, never twice
    }
    expect((await t.http.get(`/jobs/${other}`).set(initech).expect(200)).body.state).not.toBe('CANCELLED'); // another repository
    await t.http.post(`/jobs/${other}/cancel`).set(initech).expect(200);
  });

  it('Bull Board at /admin/queues needs ADMIN_TOKEN (Bearer or Basic) and lists the service\'s queues', async () => {
    const none = await t.http.get('/admin/queues').expect(401);
    expect(none.headers['www-authenticate']).toMatch(/^Basic/);
    expect(none.body.code).toBe('ADMIN_TOKEN_REQUIRED');
    const wrong = await t.http.get('/admin/queues').set('authorization', 'Bearer not-the-admin-token').expect(401);
    expect(wrong.body.code).toBe('INVALID_ADMIN_TOKEN');
    expect(JSON.stringify(wrong.body)).not.toContain(ADMIN_TOKEN);
    await t.http.get('/admin/queues').set(acme).expect(401); // a tenant key is not the admin token
    const page = await t.http.get('/admin/queues').set('authorization', `Bearer ${ADMIN_TOKEN}`).expect(200);
    expect(page.text).toContain('aicd-orchestrator');
    const basic = `Basic ${Buffer.from(`ops:${ADMIN_TOKEN}`).toString('base64')}`;
    const queues = await t.http.get('/admin/queues/api/queues').set('authorization', basic).expect(200);
    const names = (queues.body.queues as { name: string }[]).map((q) => q.name).sort();
    expect(names).toEqual(['coding', 'deadlines', 'planning', 'pr-open', 'reviewing']);
  });

  it('/ui serves the built dashboard (index.html for every route under it, hashed assets cached); / redirects to it', async () => {
    const index = await t.http.get('/ui/').expect(200);
    expect(index.text).toContain('<div id="root">');
    expect(index.headers['cache-control']).toBe('no-cache');
    expect((await t.http.get('/ui/jobs/123').expect(200)).text).toContain('<div id="root">');
    const asset = await t.http.get('/ui/assets/app-1234abcd.js').expect(200);
    expect(asset.headers['cache-control']).toContain('immutable');
    expect((await t.http.get('/').expect(302)).headers.location).toBe('/ui/');
    await t.http.post('/ui/').expect(404);
  });
});

describe('operator pages without configuration', () => {
  let t: TestApp;
  beforeAll(async () => {
    t = await startTestApp('dashboard_off', { UI_DIR: path.join(tmpdir(), 'aicd-no-such-ui-dir') }, { stages: [] });
  });
  afterAll(async () => t?.close());

  it('Bull Board answers 503 saying to set ADMIN_TOKEN; /ui says to run npm run build:ui', async () => {
    const admin = await t.http.get('/admin/queues').set('authorization', 'Bearer anything-at-all-here').expect(503);
    expect(admin.body).toEqual(expect.objectContaining({ code: 'ADMIN_DISABLED', message: expect.stringContaining('ADMIN_TOKEN') }));
    expect((await t.http.get('/ui/').expect(503)).text).toContain('npm run build:ui');
  });
});

