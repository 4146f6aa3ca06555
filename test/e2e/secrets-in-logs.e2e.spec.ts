import { Webhooks } from '@octokit/webhooks';
import examples from '@octokit/webhooks-examples';
import { MongoClient } from 'mongodb';
import { spawn, type ChildProcess } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { MongoTenantRepository } from '../../src/tenants/mongo-tenant.repository';
import { issueApiKey } from '../../src/tenants/tenant-admin';
import { dropTestData, eventually, issueBody, uniqueName } from '../support/test-app';
import { freePort } from '../../scripts/lib/free-port';


/**
 * Runs the real entry point (src/main.ts through ts-node, as a separate process) at LOG_LEVEL=trace
 * with every byte of its stdout and stderr captured, sends requests that carry the API key and the
 * webhook secret (valid and failing authentication), stops it, and searches the whole output.
 */
describe('no API key or webhook secret in the logs', () => {
  const prefix = uniqueName('secrets');
  const secret = `whsec-${randomBytes(16).toString('hex')}`;
  let child: ChildProcess | undefined;
  let output = '';
  let apiKey = '';

  afterAll(async () => {
    if (child && child.exitCode === null) child.kill('SIGKILL');
    await dropTestData(prefix, prefix);
  });

  it('keeps them out of every log line, also for failed authentication and bad signatures', async () => {
    const mongo = await MongoClient.connect(process.env.MONGODB_URI!);
    try {
      const repo = new MongoTenantRepository(mongo.db(prefix));
      await repo.ensureIndexes();
      apiKey = (await issueApiKey(repo, { tenantId: 'acme', repositories: ['codertocat/*'] })).apiKey;
    } finally {
      await mongo.close();
    }
    const port = await freePort();
    child = spawn(process.execPath, ['-r', 'ts-node/register/transpile-only', 'src/main.ts'], {
      cwd: `${__dirname}/../..`,
      env: {
        ...process.env,
        PORT: String(port),
        QUEUE_PREFIX: prefix,
        MONGODB_DB: prefix,
        GITHUB_WEBHOOK_SECRET: secret,
        ALLOW_TENANT_HEADER: 'false',
        LOG_LEVEL: 'trace',
        MOCK_AGENT_DELAY_MS: '0',
        STAGE_BACKOFF_MS: '50',
        SWEEP_INTERVAL_MS: '0',
      },
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    child.stdout!.on('data', (c: Buffer) => (output += c.toString('utf8')));
    child.stderr!.on('data', (c: Buffer) => (output += c.toString('utf8')));
    const exited = new Promise<number | null>((r) => child!.once('exit', (code) => r(code)));
    const base = `http://127.0.0.1:${port}`;
    const call = (path: string, init: RequestInit = {}) => fetch(`${base}${path}`, { ...init, signal: AbortSignal.timeout(10_000) });
    await eventually(async () => ((await call('/healthz').catch(() => null))?.status === 200 ? true : undefined), 30_000, () => `service did not start:\n${output}`);

    const json = { 'content-type': 'application/json' };
    // A valid key: a job that runs through every stage (workers log at debug/trace meanwhile).
    const created = await call('/jobs', { method: 'POST', headers: { ...json, authorization: `Bearer ${apiKey}` }, body: JSON.stringify(issueBody(1)) });
    expect(created.status).toBe(201);
    const id = ((await created.json()) as { id: string }).id;
    await eventually(
      async () => (((await (await call(`/jobs/${id}`, { headers: { authorization: `Bearer ${apiKey}` } })).json()) as { state: string }).state === 'COMPLETED' ? true : undefined),
      20_000,
      () => 'job not completed',
    );
    // Failed authentication that carries the key or the secret.
    for (const authorization of [`Bearer ${apiKey}x`, `Basic ${apiKey}`, apiKey, `Bearer ${secret}`, `Bearer  ${apiKey} trailing`]) {
      expect((await call('/jobs', { headers: { authorization } })).status).toBe(401);
    }
    expect((await call('/jobs', { headers: { 'x-tenant-id': apiKey } })).status).toBe(401);
    expect((await call(`/jobs?api_key=${apiKey}&token=${secret}`, { headers: { 'x-api-key': apiKey, cookie: `key=${apiKey}` } })).status).toBe(401);
    expect((await call('/jobs', { method: 'POST', headers: { ...json, authorization: `Bearer ${apiKey}` }, body: `{"apiKey":"${apiKey}","secret":"${secret}"` })).status).toBe(400);
    expect((await call('/jobs', { method: 'POST', headers: { ...json, authorization: `Bearer ${apiKey}` }, body: JSON.stringify({ apiKey, secret }) })).status).toBe(400);
    // Webhooks: signed with the secret (accepted), the secret itself as the signature, a wrong one.
    const payload = (examples as unknown as { name: string; examples: { action: string }[] }[]).find((g) => g.name === 'issues')!.examples.find((e) => e.action === 'opened')!;
    const raw = JSON.stringify(payload);
    const hook = (signature: string, body = raw) => call('/webhooks/github', { method: 'POST', headers: { ...json, 'x-github-event': 'issues', 'x-hub-signature-256': signature }, body });
    expect((await hook(await new Webhooks({ secret }).sign(raw))).status).toBe(202);
    expect((await hook(`sha256=${secret}`)).status).toBe(401);
    expect((await hook(secret, JSON.stringify({ ...payload, secret }))).status).toBe(401);
    expect((await hook(await new Webhooks({ secret: 'wrong' }).sign(raw))).status).toBe(401);

    child.kill('SIGTERM');
    await exited;

    const lines = output.split('\n').filter((l) => l.trim());
    // The capture is real: start-up, request lines (debug) with their redacted headers, worker logs.
    expect(output).toContain('listening on');
    expect(lines.length).toBeGreaterThan(20);
    expect(output).toContain('"url":"/jobs"');
    expect(output).toContain('"x-github-event":"issues"');
    for (const needle of [apiKey, apiKey.slice(5, 25), secret, secret.slice(6)]) {
      const hits = lines.filter((l) => l.includes(needle));
      expect(hits).toEqual([]);
    }
  });
});
