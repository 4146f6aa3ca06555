import { existsSync, mkdtempSync, readFileSync, rmSync } from 'node:fs';
import type { AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import * as path from 'node:path';
import { getQueueToken } from '@nestjs/bullmq';
import type { Queue } from 'bullmq';
import { STAGE_QUEUE, stageMessageId } from '../../src/queues/stage-queues';
import { createUuidFixture, FAKE_AGENT, type FixtureRepo } from '../../scripts/lib/fixture-repo';
import { readEvents } from '../support/sse-client';
import { eventually, startTestApp, waitForState, type TestApp } from '../support/test-app';

/** A fake-agent script block for an issue body. */
const script = (s: Record<string, unknown>) => `\`\`\`fake-agent\n${JSON.stringify(s)}\n\`\`\``;

describe('agent CLI supervision over HTTP: live log tail, environment, circuit breaker, agent review', () => {
  let fixture: FixtureRepo;
  let scratch: string;
  const tenant = { 'x-tenant-id': 'acme' };
  const saved = { ANTHROPIC_API_KEY: process.env.ANTHROPIC_API_KEY, GITHUB_TOKEN: process.env.GITHUB_TOKEN };

  beforeAll(() => {
    fixture = createUuidFixture();
    scratch = mkdtempSync(path.join(tmpdir(), 'aicd-supervision-'));
  });
  afterAll(() => {
    fixture?.cleanup();
    if (scratch) rmSync(scratch, { recursive: true, force: true });
    for (const [k, v] of Object.entries(saved)) {
      if (v === undefined) delete process.env[k];
      else process.env[k] = v;
    }
  });

  const env = (extra: Record<string, string> = {}) => ({
    AGENT: 'cli',
    AGENT_CLI: 'claude',
    AGENT_CLI_BIN: FAKE_AGENT,
    GIT_URL_TEMPLATE: fixture.urlTemplate,
    WORKSPACE_ROOT: path.join(scratch, 'workspaces'),
    REVIEW_COMMAND: 'true',
    KILL_GRACE_MS: '500',
    HEARTBEAT_MS: '300',
    ...extra,
  });

  describe('a running CLI', () => {
    let t: TestApp;
    let base: string;
    const apiKey = 'sk-ant-api03-aicdtestkey0123456789abcdef';
    const githubToken = 'ghp_aicdtesttoken0123456789abcdefABCDEF';

    beforeAll(async () => {
      // The worker's environment holds the CLI's key (it needs it) and a GitHub token (it does not).
      process.env.ANTHROPIC_API_KEY = apiKey;
      process.env.GITHUB_TOKEN = githubToken;
      t = await startTestApp('supervision', env());
      const server = t.app.getHttpServer();
      await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
      base = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
    });
    afterAll(async () => {
      await t?.close();
    });

    it('GET /jobs/:id/logs/stream tails the lines live; a reconnect with Last-Event-ID resumes after the last line, without gaps or repeats', async () => {
      const id = (await t.http.post('/jobs').set(tenant).send({ repositoryId: fixture.repositoryId, issue: { id: '31', title: 'Stream me', body: script({ heartbeat: { everyMs: 100, forMs: 2500 }, message: 'Plan.\n\n- one', write: { path: 'STREAMED.md', content: 'x\n' } }), url: 'https://example.test/31' } }).expect(201)).body.id;
      const url = `${base}/jobs/${id}/logs/stream`;
      const first = await readEvents(url, tenant, (ev) => ev.filter((e) => /working \d+/.test(e.data.text)).length >= 5);
      expect(first.length).toBeGreaterThanOrEqual(5);
      expect(first.every((e) => e.data.stage === 'planning' && e.data.attempt === 1)).toBe(true);
      await waitForState(t, id, ['COMPLETED'], 60_000);
      const last = first.at(-1)!.id;
      const rest = await readEvents(url, { ...tenant, 'last-event-id': last }, (ev) => ev.some((e) => e.data.stage === 'reviewing'), 15_000);
      const all = (await t.http.get(`/jobs/${id}/logs?limit=5000`).set(tenant).expect(200)).body.lines as { id: string }[];
      const seen = [...first, ...rest].map((e) => e.id);
      expect(new Set(seen).size).toBe(seen.length); // no repeats
      expect(rest.every((e) => e.id > last)).toBe(true);
      expect(seen).toEqual(all.map((l) => l.id).slice(0, seen.length)); // the same lines, the same order, no gap
      // Another tenant cannot tail it; a malformed Last-Event-ID is a 400 naming the field.
      expect((await fetch(url, { headers: { 'x-tenant-id': 'other' } })).status).toBe(404);
      const bad = await fetch(url, { headers: { ...tenant, 'last-event-id': 'nope' } });
      expect(bad.status).toBe(400);
      expect(JSON.stringify(await bad.json())).toContain('after');
    }, 60_000);

    it('the CLI gets its own key and the stage\'s idempotency key, never a secret it does not need; its output is redacted in the logs', async () => {
      const dump = path.join(scratch, 'env.json');
      const id = (await t.http.post('/jobs').set(tenant).send({ repositoryId: fixture.repositoryId, issue: { id: '32', title: 'Env', body: script({ dumpEnv: dump, printEnv: ['ANTHROPIC_API_KEY', 'AICD_IDEMPOTENCY_KEY'], message: 'Plan.\n\n- one', write: { path: 'ENV.md', content: 'x\n' } }), url: 'https://example.test/32' } }).expect(201)).body.id;
      await waitForState(t, id, ['COMPLETED'], 40_000);
      const childEnv = JSON.parse(readFileSync(dump, 'utf8')) as Record<string, string>;
      expect(childEnv.ANTHROPIC_API_KEY).toBe(apiKey);
      expect(childEnv.AICD_IDEMPOTENCY_KEY).toMatch(new RegExp(`^${id}:(planning|coding):1`));
      expect(childEnv.AICD_PROCESS_MARKER).toBeTruthy();
      for (const name of ['GITHUB_TOKEN', 'REDIS_URL', 'MONGODB_URI', 'GIT_TOKEN', 'GITHUB_WEBHOOK_SECRET']) expect(childEnv).not.toHaveProperty(name);
      expect(Object.keys(childEnv).sort()).toEqual(
        expect.arrayContaining(['AICD_IDEMPOTENCY_KEY', 'AICD_PROCESS_MARKER', 'ANTHROPIC_API_KEY', 'PATH']),
      );
      const logs = JSON.stringify((await t.http.get(`/jobs/${id}/logs?limit=5000`).set(tenant).expect(200)).body);
      expect(logs).toContain('ANTHROPIC_API_KEY=[redacted]');
      expect(logs).toContain(`AICD_IDEMPOTENCY_KEY=${id}:planning:1`); // not a secret: shown
      expect(logs).not.toContain(apiKey);
      expect(logs).not.toContain(githubToken);
    }, 60_000);
  });

  describe('a CLI that is not installed', () => {
    let t: TestApp;

    beforeAll(async () => {
      t = await startTestApp('breaker', env({ AGENT_CLI_BIN: path.join(scratch, 'no-such-claude'), TOOL_BREAKER_THRESHOLD: '2', TOOL_BREAKER_HALF_OPEN_MS: '60000', STAGE_ATTEMPTS: '5', STAGE_BACKOFF_MS: '50' }));
    });
    afterAll(async () => {
      await t?.close();
    });

    it('two missing-binary failures open the breaker: the stage then fails fast with TOOL_CIRCUIT_OPEN and waits for the half-open delay without spending attempts; /healthz says degraded', async () => {
      const id = (await t.http.post('/jobs').set(tenant).send({ repositoryId: fixture.repositoryId, issue: { id: '33', title: 'No CLI', body: 'x', url: 'https://example.test/33' } }).expect(201)).body.id;
      const attempts = await eventually(
        async () => {
          const list = (await t.http.get(`/jobs/${id}/attempts`).set(tenant)).body as { attempt: number; status: string; error: { code: string } | null }[];
          // An attempt's record can be there (a heartbeat) before its end is written.
          return list.length >= 3 && list.every((a) => a.status !== 'running') ? list : undefined;
        },
        20_000,
        () => 'fewer than 3 attempts',
      );
      expect(attempts.map((a) => `${a.attempt}:${a.status}:${a.error?.code}`)).toEqual(['1:failed:TOOL_NOT_FOUND', '2:failed:TOOL_NOT_FOUND', '3:failed:TOOL_CIRCUIT_OPEN']);
      const queue = t.app.get<Queue>(getQueueToken(STAGE_QUEUE.planning));
      const message = (await queue.getJob(stageMessageId(id, 'planning', 0)))!;
      await eventually(async () => ((await message.getState()) === 'delayed' ? true : undefined), 5000, () => 'message not delayed');
      const fresh = (await queue.getJob(stageMessageId(id, 'planning', 0)))!;
      expect(fresh.attemptsMade).toBe(2); // the open circuit spent none
      expect(fresh.delay).toBeGreaterThan(50_000); // waits for the half-open delay
      const job = (await t.jobs.findById(id))!;
      expect(job.state).toBe('QUEUED'); // not FAILED: the tool is down, not the job
      const health = (await t.http.get('/healthz').expect(200)).body;
      expect(health.status).toBe('ok');
      expect(health.details.tools).toEqual(expect.objectContaining({ status: 'up', degraded: true, breakers: [expect.objectContaining({ tool: 'claude', state: 'open' })] }));
    }, 40_000);
  });

  describe('Codex as the agent, with an agent review after the checks (REVIEW_AGENT=true)', () => {
    let t: TestApp;

    beforeAll(async () => {
      t = await startTestApp('agentreview', env({ AGENT_CLI: 'codex', REVIEW_AGENT: 'true', REVIEW_COMMAND: 'test -f CHANGES.md' }));
    });
    afterAll(async () => {
      await t?.close();
    });

    it('the checks pass, the agent requests changes once (its requests become the feedback), then approves', async () => {
      const s = {
        variants: [
          { when: 'this is the planning step', message: 'Document the change.\n\n- Add CHANGES.md' },
          { when: 'Review round 2', write: { path: 'CHANGES.md', content: '# Changes\n\nMore detail.\n' }, message: 'Added detail.' },
          { when: 'You are changing', write: { path: 'CHANGES.md', content: '# Changes\n' }, message: 'Added CHANGES.md.' },
          { when: 'More detail.', message: 'Fine now.\nVERDICT: APPROVE' },
          { when: 'Judge whether', message: 'Too thin.\n- Describe the change in CHANGES.md\nVERDICT: REQUEST_CHANGES' },
        ],
      };
      const id = (await t.http.post('/jobs').set(tenant).send({ repositoryId: fixture.repositoryId, issue: { id: '34', title: 'Review me', body: script(s), url: 'https://example.test/34' } }).expect(201)).body.id;
      const done = await waitForState(t, id, ['COMPLETED', 'FAILED'], 60_000);
      expect({ state: done.state, error: done.error }).toEqual({ state: 'COMPLETED', error: null });
      expect(done.history.map((h) => h.event)).toEqual(['START_PLANNING', 'PLAN_SUCCEEDED', 'CODE_SUCCEEDED', 'REVIEW_REJECTED', 'CODE_SUCCEEDED', 'REVIEW_APPROVED', 'PR_OPENED']);
      const ctx = done.snapshot.context;
      expect(ctx.review?.checks).toEqual(expect.objectContaining({ command: 'test -f CHANGES.md', passed: true }));
      expect(ctx.review?.approved).toBe(true);
      const attempts = (await t.http.get(`/jobs/${id}/attempts`).set(tenant).expect(200)).body as { stage: string; processes: { tool: string }[] }[];
      // The first review: the checks (shell), then the agent (codex); the rejection's comments are the agent's request.
      expect(attempts.filter((a) => a.stage === 'reviewing').map((a) => a.processes.map((p) => p.tool))).toEqual([['shell', 'codex'], ['shell', 'codex']]);
      const logs = JSON.stringify((await t.http.get(`/jobs/${id}/logs?stage=coding&attempt=1&limit=5000`).set(tenant).expect(200)).body);
      expect(logs).toContain('codex'); // the coding runs were Codex's JSONL
      expect(ctx.usage.inputTokens).toBeGreaterThan(0); // Codex reports tokens only
      expect(ctx.usage.costUsd).toBe(0);
    }, 90_000);
  });
});
