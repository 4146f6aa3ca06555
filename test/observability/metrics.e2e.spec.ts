import type { INestApplication } from '@nestjs/common';
import { Db } from 'mongodb';
import { randomUUID } from 'node:crypto';
import { freePort } from '../../scripts/lib/free-port';
import { createApp } from '../../src/bootstrap';
import { createJobSnapshot, JOB_MACHINE_VERSION } from '../../src/lifecycle/job.runtime';
import { JOB_STATES, type TransitionRecord } from '../../src/lifecycle/job.types';
import { JobStateCounts } from '../../src/observability/job-state-counts';
import { Sweeper } from '../../src/queues/sweeper';
import { ToolBreakers } from '../../src/tools/tool-breakers';
import { drainQueues, dropTestData, issueBody, startTestApp, uniqueName, waitForState, type TestApp } from '../support/test-app';
import { family, histogramCount, labelSets, nanSamples, parseProm, sampleValue, type PromMetrics } from './prom-text';

/**
 * GET /metrics on the real app (API + workers, Redis, the MongoDB-wire server): jobs with scripted
 * outcomes run between two scrapes, the text is parsed with an independent parser
 * (prom2javascript), and every counter must have moved by exactly what the jobs did — the
 * transitions by the jobs' own histories, usage by the `mock: usage=` script, one stage
 * observation per attempt, one CAS conflict for one forced lost commit, one sweeper repair.
 */
describe('GET /metrics', () => {
  const token = `metrics-${randomUUID()}`;
  const acme = { 'X-Tenant-Id': 'acme' };
  let t: TestApp;

  beforeAll(async () => {
    t = await startTestApp('metrics', { METRICS_TOKEN: token, METRICS_JOB_COUNTS_TTL_MS: '0' });
  });
  afterAll(async () => {
    await t?.close();
  });

  const scrape = async (): Promise<PromMetrics> => {
    const res = await t.http.get('/metrics').set('Authorization', `Bearer ${token}`).expect(200);
    expect(res.headers['content-type']).toMatch(/^text\/plain; version=0\.0\.4/);
    const m = await parseProm(res.text);
    // NaN only where prom-client reports an empty sampling window (scrapes milliseconds apart).
    for (const line of nanSamples(m)) expect(line).toMatch(/^aicd_nodejs_eventloop_lag_\w+ Nan$/);
    return m;
  };

  it('needs Authorization: Bearer <METRICS_TOKEN> when one is set, and no tenant key', async () => {
    const missing = await t.http.get('/metrics').expect(401);
    expect(missing.body).toMatchObject({ statusCode: 401, code: 'METRICS_TOKEN_REQUIRED' });
    await t.http.get('/metrics').set('Authorization', `Bearer ${token}x`).expect(401);
    await t.http.get('/metrics').set('Authorization', token).expect(401);
    await t.http.get('/metrics').set('Authorization', `Bearer ${token}`).expect(200);
  });

  it('moves every counter by what the jobs did', async () => {
    const before = await scrape();

    // A: planning fails once (transient), review rejects once (two coding rounds), coding reports usage.
    const a = await t.http.post('/jobs').set(acme).send(issueBody(1, 'mock: transient=planning:1\nmock: reject=1\nmock: usage=coding:1000:0.5')).expect(201);
    // B: coding fails permanently.
    const b = await t.http.post('/jobs').set(acme).send(issueBody(2, 'mock: fail=coding')).expect(201);
    await waitForState(t, a.body.id, ['COMPLETED']);
    const failed = await waitForState(t, b.body.id, ['FAILED']);
    // B cancelled over REST; then a commit from B's old version loses the compare-and-set.
    await t.http.post(`/jobs/${b.body.id}/cancel`).set(acme).expect(200);
    const lost = await t.jobs.commit(failed, { state: failed.state, snapshot: failed.snapshot, machineVersion: failed.machineVersion, error: failed.error, transitions: [] });
    expect(lost).toBeNull();
    // D: a job stored without its planning message (a crash between commit and enqueue): the sweeper sends it.
    const d = randomUUID();
    const issue = { id: '4', title: 'Issue 4', body: '', url: 'https://github.com/acme/widgets/issues/4' };
    const initial = createJobSnapshot({ jobId: d, tenantId: 'acme', repositoryId: 'acme/widgets', issue, limits: { maxReviewRounds: 3, autoComplete: true, budget: { usd: null, tokens: null } } });
    const now = new Date();
    await t.jobs.create({ id: d, tenantId: 'acme', idempotencyKey: d, repositoryId: 'acme/widgets', branch: null, state: initial.state, version: 0, machineVersion: JOB_MACHINE_VERSION, snapshot: initial.snapshot, history: [], error: null, createdAt: now, updatedAt: now });
    expect((await t.app.get(Sweeper).sweep(0)).enqueued).toBe(1);
    await waitForState(t, d, ['COMPLETED']);
    await drainQueues(t.queues);

    const after = await scrape();
    const delta = (name: string, labels: Record<string, string> = {}) => sampleValue(after, name, labels) - sampleValue(before, name, labels);
    const hdelta = (name: string, labels: Record<string, string>) => histogramCount(after, name, labels) - histogramCount(before, name, labels);

    // Transitions: exactly the jobs' committed histories, label by label.
    family(after, 'aicd_job_transitions_total', 'counter');
    const histories: TransitionRecord[] = [];
    for (const id of [a.body.id, b.body.id, d]) histories.push(...(await t.jobs.findById(id))!.history);
    const expected = new Map<string, number>();
    for (const h of histories) expected.set(`${h.from}|${h.to}|${h.event}`, (expected.get(`${h.from}|${h.to}|${h.event}`) ?? 0) + 1);
    const seen = new Map<string, number>();
    for (const l of labelSets(after, 'aicd_job_transitions_total')) {
      const n = delta('aicd_job_transitions_total', l);
      if (n) seen.set(`${l.from}|${l.to}|${l.event}`, n);
    }
    expect(Object.fromEntries(seen)).toEqual(Object.fromEntries(expected));
    expect(expected.get('REVIEWING|CODING|REVIEW_REJECTED')).toBe(1);
    expect(expected.get('CODING|FAILED|CODE_FAILED')).toBe(1);
    expect(expected.get('FAILED|CANCELLED|MARK_CANCELLED')).toBe(1);

    // Lost compare-and-set: the one forced above.
    expect(delta('aicd_cas_conflicts_total')).toBe(1);

    // One observation per stage attempt, by outcome.
    family(after, 'aicd_stage_duration_seconds', 'histogram');
    const stage = (s: string, outcome: string) => hdelta('aicd_stage_duration_seconds', { stage: s, outcome });
    expect(stage('planning', 'retry')).toBe(1);
    expect(stage('planning', 'succeeded')).toBe(3);
    expect(stage('coding', 'succeeded')).toBe(3);
    expect(stage('coding', 'failed')).toBe(1);
    expect(stage('reviewing', 'succeeded')).toBe(3);
    expect(stage('pr-open', 'succeeded')).toBe(2);
    expect(hdelta('aicd_stage_duration_seconds', {})).toBe(13);

    // One observation per agent call, by stage and tool.
    family(after, 'aicd_agent_call_duration_seconds', 'histogram');
    expect(hdelta('aicd_agent_call_duration_seconds', { stage: 'planning', tool: 'mock' })).toBe(4);
    expect(hdelta('aicd_agent_call_duration_seconds', { stage: 'coding', tool: 'mock' })).toBe(4);
    expect(hdelta('aicd_agent_call_duration_seconds', { stage: 'reviewing', tool: 'mock' })).toBe(3);
    expect(hdelta('aicd_agent_call_duration_seconds', { stage: 'pr-open', tool: 'pr:mock' })).toBe(2);

    // Usage: `usage=coding:1000:0.5` = 500 in + 500 out + $0.5 per coding call, two coding calls.
    expect(delta('aicd_tokens_total', { stage: 'coding', direction: 'input' })).toBe(1000);
    expect(delta('aicd_tokens_total', { stage: 'coding', direction: 'output' })).toBe(1000);
    expect(delta('aicd_cost_usd_total', { stage: 'coding' })).toBeCloseTo(1.0, 9);
    expect(delta('aicd_tokens_total', { stage: 'planning' }) + delta('aicd_cost_usd_total', { stage: 'reviewing' })).toBe(0);

    // Sweeper: one message re-sent.
    expect(delta('aicd_sweeper_repairs_total', { kind: 'enqueued' })).toBe(1);
    expect(delta('aicd_sweeper_repairs_total')).toBe(1);

    // Jobs per state (this test's own database): counted at scrape.
    family(after, 'aicd_jobs', 'gauge');
    const perState = Object.fromEntries(JOB_STATES.map((s) => [s, ({ COMPLETED: 2, CANCELLED: 1 } as Record<string, number>)[s] ?? 0]));
    expect(Object.fromEntries(JOB_STATES.map((state) => [state, sampleValue(after, 'aicd_jobs', { state })]))).toEqual(perState);
    // Both ways of counting (one $group on FerretDB, a count per state on MongoDB) agree.
    for (const mode of ['group', 'per-state'] as const) expect(await new JobStateCounts(t.app.get(Db), 0, mode).read()).toEqual(perState);

    // Queue depth: every queue × state; B's dead letter is the one failed message.
    family(after, 'aicd_queue_jobs', 'gauge');
    const queues = new Set(labelSets(after, 'aicd_queue_jobs').map((l) => l.queue));
    expect([...queues].sort()).toEqual(['coding', 'deadlines', 'planning', 'pr-open', 'reviewing']);
    expect(sampleValue(after, 'aicd_queue_jobs', { state: 'failed' })).toBe(1);
    expect(sampleValue(after, 'aicd_queue_jobs', { state: 'waiting' }) + sampleValue(after, 'aicd_queue_jobs', { state: 'active' })).toBe(0);

    // Default Node metrics, prefixed.
    family(after, 'aicd_process_cpu_user_seconds_total', 'counter');
    family(after, 'aicd_nodejs_eventloop_lag_seconds', 'gauge');
    family(after, 'aicd_nodejs_heap_size_used_bytes', 'gauge');
  });

  it('reports each tool breaker as 0 closed … 3 isolated', async () => {
    const breakers = t.app.get(ToolBreakers);
    const held = breakers.isolate('probe-tool');
    const isolated = await scrape();
    family(isolated, 'aicd_tool_breaker_state', 'gauge');
    expect(sampleValue(isolated, 'aicd_tool_breaker_state', { tool: 'probe-tool' })).toBe(3);
    held.dispose();
    expect(sampleValue(await scrape(), 'aicd_tool_breaker_state', { tool: 'probe-tool' })).toBe(0);
  });
});

describe('a worker-only process', () => {
  it('serves its own metrics on METRICS_PORT, without the global gauges', async () => {
    const prefix = uniqueName('wmetrics');
    const port = await freePort();
    let app: INestApplication | undefined;
    try {
      app = await createApp({ api: false, stages: ['planning'], env: { QUEUE_PREFIX: prefix, MONGODB_DB: prefix, METRICS_PORT: String(port), SWEEP_INTERVAL_MS: '0', LOG_LEVEL: 'warn' } });
      await app.init();
      const res = await fetch(`http://127.0.0.1:${port}/metrics`);
      expect(res.status).toBe(200);
      const m = await parseProm(await res.text());
      family(m, 'aicd_job_transitions_total', 'counter');
      family(m, 'aicd_process_cpu_user_seconds_total', 'counter');
      expect(m.aicd_jobs).toBeUndefined();
      expect(m.aicd_queue_jobs).toBeUndefined();
      expect((await fetch(`http://127.0.0.1:${port}/other`)).status).toBe(404);
    } finally {
      await app?.close();
      await dropTestData(prefix, prefix);
    }
  });
});
