/**
 * Property-based bad-input tests (fast-check) against the real application on the real Redis and
 * MongoDB-wire server: random bodies (any JSON value, wrong types, huge strings, deep nesting,
 * unicode, NUL, invalid UTF-8, over the size limit), random ids and query strings, random headers
 * (Authorization, X-Tenant-Id, content type, charset, content encoding) on every REST endpoint and
 * the GitHub webhook. For every request:
 * - never a 5xx;
 * - after every 4xx (and every GET), the database (every document of every collection) and the
 *   BullMQ queue counts are exactly as before;
 * - a tenant route answers 2xx only to a valid API key (or X-Tenant-Id in development mode), and
 *   never shows or changes another tenant's job;
 * - a webhook delivery without a valid signature is a 401 and creates nothing.
 * The apps run no stage workers, so nothing changes the database behind a request's back.
 */
import type { Queue } from 'bullmq';
import examples from '@octokit/webhooks-examples';
import fc from 'fast-check';
import { Db, MongoClient } from 'mongodb';
import { createHmac, randomUUID } from 'node:crypto';
import * as http from 'node:http';
import { getQueueToken } from '@nestjs/bullmq';
import { generateApiKey } from '../../src/tenants/api-key';
import { TenantRepository } from '../../src/tenants/tenant.repository';
import { issueApiKey } from '../../src/tenants/tenant-admin';
import { DEADLINE_QUEUE } from '../../src/queues/stage-queues';
import { MongoJobRepository } from '../../src/jobs/mongo-job.repository';
import { issueBody, startTestApp, type TestApp } from '../support/test-app';
import { bodyBytes, contentEncoding, contentType, headerName, headerValue, jsonish, mutatedJob, nastyString } from './arbitraries';
import { Case, describeRequest, fingerprint, fingerprintOthers, send, type RawRequest, type RawResponse } from './harness';

const LIMIT = 16_384;
/** Each property stops after this many runs or this much time, whichever comes first (slow machines run fewer cases). */
const budget = (numRuns: number, seconds: number): fc.Parameters<unknown> => ({ numRuns, interruptAfterTimeLimit: seconds * 1000, markInterruptAsFailure: false });
const SECRET = 'fuzz-webhook-secret';
let cases = 0;
const spent = { requests: 0, fingerprints: 0 };
const statuses: Record<number, number> = {};

/** A running app under fuzz: HTTP port, its database, queues and the last fingerprint. */
interface Target {
  t: TestApp;
  port: number;
  agent: http.Agent;
  mongo: MongoClient;
  db: Db;
  queues: Queue[];
  last: string;
}

async function target(label: string, env: Record<string, string>): Promise<Target> {
  const t = await startTestApp(label, { BODY_LIMIT_BYTES: String(LIMIT), GITHUB_WEBHOOK_SECRET: SECRET, LOG_LEVEL: 'fatal', ...env }, { stages: [] });
  await t.app.listen(0, '127.0.0.1');
  const port = (t.app.getHttpServer().address() as { port: number }).port;
  const mongo = await MongoClient.connect(process.env.MONGODB_URI!);
  const db = mongo.db(t.dbName);
  const queues = [...t.queues, t.app.get<Queue>(getQueueToken(DEADLINE_QUEUE))];
  return { t, port, agent: new http.Agent({ keepAlive: true, maxSockets: 1 }), mongo, db, queues, last: await fingerprint(db, queues) };
}

async function stop(x: Target | undefined): Promise<void> {
  if (!x) return;
  x.agent.destroy();
  await x.mongo.close();
  await x.t.close();
}

/** Runs `property` within `budget`, then checks that no collection but `jobs` changed. */
async function check<T>(x: Target, property: fc.IAsyncProperty<T>, params: fc.Parameters<T>): Promise<void> {
  // Applied version claims of accepted events are deleted in batches (≤ 50 ms later): flush them
  // first, so what is compared is what the requests left, not a claim still on its way out.
  const claims = x.t.app.get(MongoJobRepository);
  await claims.flushClaims();
  const others = await fingerprintOthers(x.db);
  await fc.assert(property, params);
  await claims.flushClaims();
  expect(await fingerprintOthers(x.db)).toBe(others);
}

/**
 * Sends `req` and checks the invariants every request must keep; `extra` checks more.
 * The fingerprint is taken after every request and compared with the one before when the
 * request must not have changed anything (4xx, or a GET).
 */
async function exercise(x: Target, req: RawRequest, extra?: (res: RawResponse) => void): Promise<RawResponse> {
  cases++;
  const t0 = Date.now();
  const res = await send(x.port, x.agent, req).catch((e: Error) => {
    throw new Error(`${e.message} for ${describeRequest(req)}`);
  });
  const t1 = Date.now();
  statuses[res.status] = (statuses[res.status] ?? 0) + 1;
  const before = x.last;
  x.last = await fingerprint(x.db, x.queues);
  spent.requests += t1 - t0;
  spent.fingerprints += Date.now() - t1;
  const why = `${res.status} ${res.body.slice(0, 300)} for ${describeRequest(req)}`;
  if (res.status >= 500 || res.status < 100) throw new Error(`server error: ${why}`);
  if ((res.status >= 400 || req.method === 'GET' || req.method === 'HEAD') && x.last !== before) {
    throw new Error(`a ${res.status} changed the database or queues: ${why}`);
  }
  extra?.(res);
  return res;
}

/** Percent-encodes the UTF-8 bytes of `s` (lone surrogates become U+FFFD) except unreserved characters. */
const enc = (s: string) => [...Buffer.from(s, 'utf8')].map((b) => (/[A-Za-z0-9\-._~]/.test(String.fromCharCode(b)) ? String.fromCharCode(b) : `%${b.toString(16).toUpperCase().padStart(2, '0')}`)).join('');
/** GitHub's X-Hub-Signature-256 over the exact bytes. */
const sign = (secret: string, body: Buffer) => `sha256=${createHmac('sha256', secret).update(body).digest('hex')}`;

describe('fuzz: bad input never gets a 5xx and a rejected request changes nothing', () => {
  let prod: Target;
  let dev: Target;
  /** API keys and jobs of two tenants in `prod`. */
  const keys: Record<'acme' | 'globex', string> = { acme: '', globex: '' };
  const jobIds: Record<'acme' | 'globex', string[]> = { acme: [], globex: [] };

  beforeAll(async () => {
    prod = await target('fuzzprod', { ALLOW_TENANT_HEADER: 'false' });
    dev = await target('fuzzdev', { ALLOW_TENANT_HEADER: 'true' });
    const tenants = prod.t.app.get(TenantRepository);
    keys.acme = (await issueApiKey(tenants, { tenantId: 'acme', repositories: ['acme/*'] })).apiKey;
    keys.globex = (await issueApiKey(tenants, { tenantId: 'globex', repositories: ['globex/*'] })).apiKey;
    for (const [tenant, n] of [['acme', 3], ['globex', 2]] as const) {
      for (let i = 0; i < n; i++) {
        const res = await prod.t.http.post('/jobs').set('authorization', `Bearer ${keys[tenant]}`).send(issueBody(100 + i)).expect(201);
        jobIds[tenant].push(res.body.id);
      }
    }
    await prod.t.http.post(`/jobs/${jobIds.acme[2]}/cancel`).set('authorization', `Bearer ${keys.acme}`).expect(200);
    for (let i = 0; i < 2; i++) await dev.t.http.post('/jobs').set('x-tenant-id', 'acme').send(issueBody(200 + i)).expect(201);
    prod.last = await fingerprint(prod.db, prod.queues);
    dev.last = await fingerprint(dev.db, dev.queues);
  }, 60_000);

  afterAll(async () => {
    console.log(`fuzz cases: ${cases} (${spent.requests} ms in requests, ${spent.fingerprints} ms in database/queue fingerprints); statuses ${JSON.stringify(statuses)}`);
    await stop(prod);
    await stop(dev);
  });

  /** Job ids worth trying: both tenants' real jobs, fresh UUIDs, and strings that are no id at all. */
  const idArb = () =>
    fc.oneof(
      { weight: 3, arbitrary: fc.constantFrom(...jobIds.acme, ...jobIds.globex) },
      { weight: 1, arbitrary: fc.uuid({ version: 4 }) },
      { weight: 2, arbitrary: nastyString.map((s) => enc(s.slice(0, 3000))) },
      { weight: 1, arbitrary: fc.constantFrom('%', '%00', '%zz', '%E0%A4%A', '..', '.', 'a%2Fb', '%2e%2e', '%uD800', '-', 'x'.repeat(20_000)) },
    );

  type Auth = { headers: Record<string, string>; tenant: 'acme' | 'globex' | null };
  const authArb: fc.Arbitrary<Auth> = fc.oneof(
    { weight: 3, arbitrary: fc.constantFrom('acme', 'globex').map((t): Auth => ({ headers: { authorization: `Bearer ${keys[t as 'acme']}` }, tenant: t as 'acme' })) },
    { weight: 1, arbitrary: fc.constant<Auth>({ headers: {}, tenant: null }) },
    {
      weight: 3,
      arbitrary: fc
        .oneof(
          fc.constant(() => `Bearer ${generateApiKey()}`),
          headerValue.map((v) => () => v),
          headerValue.map((v) => () => `Bearer ${v}`),
          fc.constant(() => `Bearer ${keys.acme}x`),
          fc.constant(() => `Bearer ${keys.acme} ${keys.globex}`),
          fc.constant(() => `Basic ${Buffer.from(`acme:${keys.acme}`).toString('base64')}`),
          fc.constant(() => keys.acme),
        )
        .map((f): Auth => ({ headers: { authorization: f() }, tenant: null })),
    },
    { weight: 1, arbitrary: fc.oneof(fc.constant('acme'), headerValue).map((v): Auth => ({ headers: { 'x-tenant-id': v }, tenant: null })) },
  );

  const extraHeaders = fc.dictionary(
    headerName.filter((n) => !['content-length', 'transfer-encoding', 'host', 'connection', 'expect', 'upgrade', 'authorization', 'x-tenant-id', 'content-type', 'content-encoding'].includes(n)),
    headerValue,
    { maxKeys: 2 },
  );

  /** A REST request: an endpoint, its id/query/body, and headers. */
  const restRequest = (ids: fc.Arbitrary<string>) =>
    fc
      .record({
        endpoint: fc.constantFrom(
          'POST /jobs',
          'GET /jobs',
          'GET /jobs/:id',
          'GET /jobs/:id/history',
          'GET /jobs/:id/statechart',
          'POST /jobs/:id/cancel',
          'POST /jobs/:id/retry',
          'POST /jobs/:id/events',
          'POST /jobs/bulk',
          'GET /statecharts/:machine',
          'GET /healthz',
          'ANY :path',
        ),
        id: ids,
        body: fc.option(bodyBytes(LIMIT), { freq: 6 }),
        eventBody: fc.oneof(
          jsonish.map((v) => Buffer.from(JSON.stringify(v) ?? 'null')),
          fc.record({ type: fc.oneof(fc.constantFrom('MARK_CANCELLED', 'RETRY', 'START_PLANNING', 'START_CODING', 'MARK_COMPLETED', 'MARK_FAILED', 'EXPLODE'), jsonish), reason: fc.option(jsonish) }, { requiredKeys: ['type'] }).map((v) => Buffer.from(JSON.stringify(v))),
          bodyBytes(LIMIT),
        ),
        bulkBody: fc.oneof(
          jsonish.map((v) => Buffer.from(JSON.stringify(v) ?? 'null')),
          fc
            .record(
              {
                type: fc.oneof(fc.constantFrom('MARK_CANCELLED', 'RETRY', 'START_CODING'), jsonish),
                filter: fc.oneof(
                  fc.record({ state: fc.oneof(fc.constantFrom('QUEUED', 'FAILED', 'DONE'), jsonish), repositoryId: fc.oneof(fc.constantFrom('acme/widgets', 'x'), jsonish), createdFrom: fc.oneof(fc.constantFrom('2026-01-01T00:00:00Z', 'yesterday'), jsonish) }, { requiredKeys: [] }),
                  jsonish,
                ),
                limit: fc.oneof(fc.integer({ min: -5, max: 600 }), jsonish),
                reason: jsonish,
              },
              { requiredKeys: ['type'] },
            )
            .map((v) => Buffer.from(JSON.stringify(v))),
        ),
        query: fc.oneof(
          fc.constant(''),
          fc
            .record(
              {
                limit: fc.oneof(fc.constantFrom('1', '100', '101', '0', '-1', '1.5', '1e400', 'NaN', 'Infinity', '0x10', ''), nastyString),
                state: fc.oneof(fc.constantFrom('QUEUED', 'COMPLETED', 'queued', '', 'CANCELLED'), nastyString),
                cursor: fc.oneof(nastyString, fc.base64String({ maxLength: 80 })),
                format: fc.oneof(fc.constantFrom('mmd', 'scxml', 'json', 'svg', 'dot', 'MMD', ''), nastyString),
                junk: nastyString,
              },
              { requiredKeys: [] },
            )
            .map((q) => Object.entries(q).map(([k, v]) => `${k}=${enc(v.slice(0, 2000))}`).join('&')),
          fc.constantFrom('limit=1&limit=2', 'state[]=QUEUED', 'state[$ne]=x', 'cursor[a]=b', '%zz=1', 'limit', '&&&', 'format=svg&format=mmd', '__proto__[x]=1', 'limit=%00'),
        ),
        machine: fc.oneof(fc.constantFrom('job', 'JOB', '__proto__', 'constructor', 'toString', 'hasOwnProperty'), nastyString.map((s) => enc(s.slice(0, 200)))),
        anyMethod: fc.constantFrom('GET', 'POST', 'PUT', 'PATCH', 'DELETE', 'HEAD', 'OPTIONS', 'TRACE', 'PROPFIND'),
        anyPath: fc.oneof(fc.constantFrom('/', '/jobs/', '/jobs//', '/Jobs', '/jobs/x/y/z', '/webhooks', '/docs-json', '/docs', '/healthz/x', '/statecharts', '//jobs', '/jobs?', '/%'), nastyString.map((s) => `/${enc(s.slice(0, 500))}`)),
        ct: contentType,
        ce: contentEncoding,
        extra: extraHeaders,
      })
      .map((r) => {
        const [method, template] = r.endpoint.split(' ');
        const withQuery = (p: string) => (r.query ? `${p}?${r.query}` : p);
        let path = template.replace(':id', r.id).replace(':machine', r.machine);
        let m = method;
        if (template === ':path') {
          m = r.anyMethod;
          path = r.anyPath;
        } else if (method === 'GET') path = withQuery(path);
        const body = r.endpoint.endsWith('/events') ? r.eventBody : r.endpoint.endsWith('/bulk') ? r.bulkBody : m === 'GET' || m === 'HEAD' ? undefined : (r.body ?? undefined);
        const headers: Record<string, string> = { ...r.extra };
        if (body) headers['content-type'] = r.ct;
        if (body && r.ce) headers['content-encoding'] = r.ce;
        return new Case({ method: m, path, headers, ...(body ? { body } : {}) }, { endpoint: r.endpoint, id: r.id });
      });

  const tenantRoute = (endpoint: string) => endpoint.includes('/jobs');
  const ownerOf = (id: string): 'acme' | 'globex' | null => (jobIds.acme.includes(id) ? 'acme' : jobIds.globex.includes(id) ? 'globex' : null);

  it('REST with API keys (ALLOW_TENANT_HEADER=false): every endpoint, random bodies, ids, queries and headers', async () => {
    await check(
      prod,
      fc.asyncProperty(restRequest(idArb()), authArb, async ({ req, meta: { endpoint, id } }, auth) => {
        const request = { ...req, headers: { ...req.headers, ...auth.headers } };
        await exercise(prod, request, (res) => {
          const ok = res.status >= 200 && res.status < 300;
          if (tenantRoute(endpoint) && ok) {
            if (!auth.tenant) throw new Error(`${res.status} without a valid key: ${describeRequest(request)}`);
            const owner = ownerOf(id);
            if (endpoint.includes(':id') && owner && owner !== auth.tenant) throw new Error(`${res.status} on another tenant's job: ${describeRequest(request)}`);
          }
          if (tenantRoute(endpoint) && !auth.tenant && ![401, 400, 404, 413, 414, 415, 431].includes(res.status)) {
            throw new Error(`expected 401 without a valid key, got ${res.status}: ${describeRequest(request)}`);
          }
        });
      }),
      budget(1200, 22),
    );
  });

  it('REST in development mode (ALLOW_TENANT_HEADER=true): random X-Tenant-Id and Authorization headers', async () => {
    const devAuth = fc.oneof(
      fc.constant({}),
      fc.oneof(fc.constantFrom('acme', 'globex', 'a'.repeat(64), 'a'.repeat(65), 'a b', '', '../x', 'ä'), headerValue).map((v) => ({ 'x-tenant-id': v })),
      headerValue.map((v) => ({ authorization: v })),
      fc.constant({ authorization: `Bearer ${generateApiKey()}`, 'x-tenant-id': 'acme' }),
    );
    await check(
      dev,
      fc.asyncProperty(restRequest(fc.oneof(fc.uuid({ version: 4 }), nastyString.map((s) => enc(s.slice(0, 200))))), devAuth, async ({ req }, auth) => {
        await exercise(dev, { ...req, headers: { ...req.headers, ...auth } });
      }),
      budget(400, 8),
    );
  });

  const issuesOpened = (examples as unknown as { name: string; examples: Record<string, unknown>[] }[]).find((g) => g.name === 'issues')!.examples.find((e) => e.action === 'opened')!;
  const webhookBody = fc.oneof(
    { weight: 3, arbitrary: fc.record({ n: fc.integer({ min: 1, max: 1_000_000 }), repo: fc.constantFrom('acme/widgets', 'globex/x', 'other/repo', 'Codertocat/Hello-World') }).map(({ n, repo }) => ({ ...issuesOpened, issue: { ...(issuesOpened.issue as object), number: n }, repository: { ...(issuesOpened.repository as object), full_name: repo } })) },
    { weight: 3, arbitrary: mutatedJob.map((m) => ({ ...issuesOpened, ...m })) },
    { weight: 2, arbitrary: fc.record({ path: fc.constantFrom('action', 'issue', 'issue.number', 'issue.title', 'issue.body', 'issue.html_url', 'repository', 'repository.full_name', 'label', 'label.name'), value: jsonish }).map(({ path, value }) => {
      const p = JSON.parse(JSON.stringify(issuesOpened)) as Record<string, Record<string, unknown>>;
      const [a, b] = path.split('.');
      if (b) p[a] = { ...(p[a] ?? {}), [b]: value };
      else (p as Record<string, unknown>)[a] = value;
      return p;
    }) },
    { weight: 2, arbitrary: jsonish },
  );
  const webhookRequest = fc
    .record({
      body: fc.oneof({ weight: 5, arbitrary: webhookBody.map((v) => Buffer.from(JSON.stringify(v) ?? 'null')) }, { weight: 2, arbitrary: bodyBytes(LIMIT) }),
      event: fc.option(fc.oneof(fc.constantFrom('issues', 'ping', 'push', 'ISSUES', ''), headerValue), { freq: 8 }),
      signature: fc.constantFrom('valid', 'none', 'wrong-secret', 'garbage', 'sha1', 'empty', 'valid-other-body'),
      garbage: headerValue,
      ct: fc.oneof({ weight: 4, arbitrary: fc.constant('application/json') }, { weight: 1, arbitrary: contentType }),
      ce: contentEncoding,
      extra: extraHeaders,
    })
    .map((w) => {
      const headers: Record<string, string> = { ...w.extra, 'content-type': w.ct };
      if (w.ce) headers['content-encoding'] = w.ce;
      if (w.event !== null) headers['x-github-event'] = w.event;
      const signature = {
        valid: () => sign(SECRET, w.body),
        none: () => undefined,
        'wrong-secret': () => sign('not-the-secret', w.body),
        garbage: () => w.garbage,
        sha1: () => `sha1=${'0'.repeat(40)}`,
        empty: () => '',
        'valid-other-body': () => sign(SECRET, Buffer.concat([w.body, Buffer.from(' ')])),
      }[w.signature]();
      if (signature !== undefined) headers['x-hub-signature-256'] = signature;
      return new Case({ method: 'POST', path: '/webhooks/github', headers, body: w.body }, { signature: w.signature });
    });

  it('webhook: a missing or bad signature is a 401 and creates nothing; signed garbage never gets a 5xx', async () => {
    await check(
      prod,
      fc.asyncProperty(webhookRequest, async ({ req, meta }) => {
        await exercise(prod, req, (res) => {
          // A body the JSON parser refuses (400/413/415) is rejected before the signature is read.
          if (meta.signature !== 'valid' && ![401, 400, 413, 415].includes(res.status)) {
            throw new Error(`expected 401 for signature ${meta.signature}, got ${res.status}: ${describeRequest(req)}`);
          }
        });
      }),
      budget(700, 12),
    );
  });

  it('bodies over BODY_LIMIT_BYTES get a 413 on every endpoint that takes one', async () => {
    await check(
      prod,
      fc.asyncProperty(
        fc.integer({ min: LIMIT + 1, max: LIMIT * 4 }),
        fc.constantFrom('/jobs', `/jobs/:id/events`, '/jobs/:id/cancel', '/webhooks/github'),
        fc.constantFrom('application/json', 'application/json; charset=utf-8', 'application/vnd.github+json'),
        fc.boolean(),
        async (size, path, ct, withKey) => {
          const body = Buffer.from(`{"pad":"${'é'.repeat(Math.ceil(size / 2))}"}`);
          const req = {
            method: 'POST',
            path: path.replace(':id', jobIds.acme[0]),
            headers: { 'content-type': ct, 'x-github-event': 'issues', 'x-hub-signature-256': 'sha256=00', ...(withKey ? { authorization: `Bearer ${keys.acme}` } : {}) },
            body,
          };
          await exercise(prod, req, (res) => {
            if (ct.includes('json') && !ct.includes('vnd') && res.status !== 413) throw new Error(`expected 413, got ${res.status}: ${describeRequest(req)}`);
          });
        },
      ),
      budget(60, 4),
    );
  });

  it('odd but valid strings (NUL, any unicode, `$` and `.` keys as values) are stored and read back as sent', async () => {
    const odd = fc.string({ unit: 'binary', minLength: 1, maxLength: 60 });
    await check(
      prod,
      fc.asyncProperty(fc.record({ id: odd, title: odd, body: fc.string({ unit: 'binary', maxLength: 300 }), repo: fc.stringMatching(/^[\w.-]{1,30}\/[\w.-]{1,30}$/) }), async (v) => {
        const body = { repositoryId: v.repo, issue: { id: v.id, title: v.title, body: v.body, url: 'https://example.test/1' }, idempotencyKey: randomUUID() };
        const auth = { authorization: `Bearer ${keys.acme}` };
        const res = await exercise(prod, { method: 'POST', path: '/jobs', headers: { ...auth, 'content-type': 'application/json' }, body: Buffer.from(JSON.stringify(body)) });
        if (res.status !== 201) return; // e.g. a title of spaces only is refused; never a 5xx
        const job = JSON.parse(res.body) as { id: string };
        const read = await exercise(prod, { method: 'GET', path: `/jobs/${job.id}`, headers: auth });
        const wf = (x: string) => Buffer.from(x, 'utf8').toString('utf8'); // lone surrogates cannot be stored as UTF-8: U+FFFD
        expect(JSON.parse(read.body).issue).toEqual({ id: wf(v.id), title: wf(v.title), body: wf(v.body), url: 'https://example.test/1' });
      }),
      budget(40, 5),
    );
  });

  it('fingerprint sanity: an accepted request does change it', async () => {
    const before = prod.last;
    await exercise(prod, {
      method: 'POST',
      path: '/jobs',
      headers: { 'content-type': 'application/json', authorization: `Bearer ${keys.acme}` },
      body: Buffer.from(JSON.stringify(issueBody(999, '', { idempotencyKey: randomUUID() }))),
    }, (res) => expect(res.status).toBe(201));
    expect(prod.last).not.toBe(before);
  });
});
