import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { MongoClient } from 'mongodb';
import { MONGO_CLIENT } from '../../src/jobs/mongo.module';
import { eventually, startTestApp, type TestApp } from '../support/test-app';
import { getRun, postTemplate, settledAttempts, sh, startRun, TENANT, waitForRun } from './support';

/**
 * Pipelines end to end: templates over REST (validation, versions, YAML), quarantine of runs and
 * templates, the router's three strategies, progress — real step worker, Redis, MongoDB-wire.
 */
describe('pipeline templates, quarantine, router and progress over HTTP', () => {
  let t: TestApp;
  const workRoot = mkdtempSync(join(tmpdir(), 'aicd-pipectl-'));

  beforeAll(async () => {
    t = await startTestApp('pipectl', {
      PIPELINE_WORK_ROOT: workRoot,
      PIPELINE_QUARANTINE_CODES: 'EXIT_42',
      PIPELINE_ROUTER: JSON.stringify({
        pinned: { strategy: 'fixed', tools: ['function', 'shell'] },
        turns: { strategy: 'round_robin', tools: ['function', 'shell'] },
        quick: { strategy: 'auto', tools: ['shell', 'function'] },
      }),
    });
  });
  afterAll(async () => {
    await t?.close();
    rmSync(workRoot, { recursive: true, force: true });
  });

  describe('templates', () => {
    it('a change makes a new version, an unchanged post returns the latest, and a run keeps its version', async () => {
      const v1 = await t.http.post('/pipeline-templates').set(TENANT).send({ name: 'versioned', steps: [sh('a', 'echo one')] }).expect(201);
      expect(v1.body).toEqual(expect.objectContaining({ name: 'versioned', version: 1, owner: 'acme', chart: 'pipeline:versioned@1' }));
      await t.http.post('/pipeline-templates').set(TENANT).send({ name: 'versioned', steps: [sh('a', 'echo one')] }).expect(200);
      const v2 = await t.http.post('/pipeline-templates').set(TENANT).send({ name: 'versioned', steps: [sh('a', 'echo two')] }).expect(201);
      expect(v2.body.version).toBe(2);
      const old = await startRun(t, 'versioned', {}, 1);
      const run = await waitForRun(t, old, ['succeeded', 'failed']);
      expect(run).toEqual(expect.objectContaining({ status: 'succeeded', template: { name: 'versioned', version: 1 } }));
      const versions = await t.http.get('/pipeline-templates/versioned/versions').set(TENANT).expect(200);
      expect(versions.body.map((v: { version: number }) => v.version)).toEqual([2, 1]);
      const one = await t.http.get('/pipeline-templates/versioned?version=1').set(TENANT).expect(200);
      expect(one.body.template.steps[0].with.run).toBe('echo one');
      const list = await t.http.get('/pipeline-templates').set(TENANT).expect(200);
      expect(list.body.map((v: { name: string }) => v.name)).toEqual(expect.arrayContaining(['versioned', 'plan-dev-test-verify', 'fan-out-fan-in', 'dev-test-regression']));
      await t.http.get('/pipeline-templates/versioned').set({ 'x-tenant-id': 'other' }).expect(404);
    });

    it('YAML is accepted', async () => {
      const yaml = 'name: from-yaml\nsteps:\n  - id: a\n    tool: shell\n    with: { run: "true" }\n  - id: b\n    tool: function\n    needs: [a]\n    with: { name: noop }\n';
      const res = await t.http.post('/pipeline-templates').set(TENANT).set('content-type', 'application/yaml').send(yaml).expect(201);
      expect(res.body.template.steps[1].needs).toEqual([{ step: 'a', on: 'success' }]);
      await t.http.post('/pipeline-templates').set(TENANT).set('content-type', 'text/plain').send(yaml).expect(415);
    });

    it('validation errors name the JSON path; a cycle is named; unknown steps, tools, functions and artifacts are refused', async () => {
      const bad = async (template: unknown) => (await t.http.post('/pipeline-templates').set(TENANT).send(template as object).expect(400)).body;
      const cycle = await bad({ name: 'cyc', steps: [sh('a', 'true', { needs: ['c'] }), sh('b', 'true', { needs: ['a'] }), sh('c', 'true', { needs: ['b'] })] });
      expect(cycle.code).toBe('INVALID_TEMPLATE');
      expect(cycle.errors).toEqual([{ field: 'steps[0].needs', messages: ['dependency cycle: a → b → c → a'] }]);
      const unknown = await bad({ name: 'unk', steps: [{ id: 'a', tool: 'hammer', needs: [{ step: 'zz', on: 'success' }] }, { id: 'b', tool: 'function', with: { name: 'nope' }, inputs: ['ghost'] }] });
      expect(unknown.errors.map((e: { field: string }) => e.field)).toEqual(['steps[0].tool', 'steps[0].needs[0].step', 'steps[1].with.name']);
      const artifact = await bad({ name: 'art', steps: [sh('a', 'true', { inputs: ['ghost'] })] });
      expect(artifact.errors).toEqual([{ field: 'steps[0].inputs[0]', messages: ['unknown artifact "ghost"; no step produces it'] }]);
      const shape = await bad({ name: 'Bad Name', steps: [{ id: 'a', tool: 'shell', with: { run: 'true' }, retries: { attempts: 0 } }] });
      expect(shape.errors.map((e: { field: string }) => e.field)).toEqual(['name', 'steps[0].retries.attempts']);
      const yaml = await t.http.post('/pipeline-templates').set(TENANT).set('content-type', 'application/yaml').send('name: [unclosed').expect(400);
      expect(yaml.body.errors[0].field).toBe('(root)');
    });

    it('a run of an unknown template is 404, a malformed body 400 naming the field', async () => {
      await t.http.post('/runs').set(TENANT).send({ template: 'no-such' }).expect(404);
      const res = await t.http.post('/runs').set(TENANT).send({ template: 'Bad!' }).expect(400);
      expect(res.body.errors[0].field).toBe('template');
      await t.http.get('/runs/run_nope').set(TENANT).expect(404);
      await t.http.get('/runs?status=exploded').set(TENANT).expect(400);
    });
  });

  describe('quarantine', () => {
    it('a quarantine-class error quarantines the run (kept, nothing runs); release runs the interrupted step again', async () => {
      await postTemplate(t, { name: 'quar', steps: [sh('probe', 'if [ -f ../ok ]; then echo fine; else exit 42; fi'), sh('next', 'true', { needs: ['probe'] })] });
      const id = await startRun(t, 'quar');
      const q = await waitForRun(t, id, ['quarantined', 'failed', 'succeeded']);
      expect(q.status).toBe('quarantined');
      expect(q.error?.message).toMatch(/^EXIT_42: step probe: EXIT_42/);
      expect(q.steps.probe).toEqual(expect.objectContaining({ status: 'waiting', reason: 'quarantined the run: EXIT_42' }));
      expect(q.steps.next.status).toBe('waiting');
      expect(q.acceptedEvents).toEqual(['CANCEL', 'RELEASE', 'RETRY_STEP']);
      await new Promise((r) => setTimeout(r, 300));
      expect((await getRun(t, id)).status).toBe('quarantined'); // nothing moves until release
      writeFileSync(join(workRoot, id, 'ok'), '');
      await t.http.post(`/runs/${id}/release`).set(TENANT).expect(200);
      const done = await waitForRun(t, id, ['succeeded', 'failed', 'quarantined']);
      expect(done.status).toBe('succeeded');
      expect(done.steps.probe.visit).toBe(2);
      await t.http.post(`/runs/${id}/release`).set(TENANT).expect(409);
    });

    it('exhausting the failure budget (maxFailedAttempts) quarantines the run', async () => {
      await postTemplate(t, { name: 'budget', maxFailedAttempts: 2, steps: [sh('flaky', 'exit 1', { retries: { attempts: 5, backoffMs: 20 } })] });
      const run = await waitForRun(t, await startRun(t, 'budget'), ['quarantined', 'failed', 'succeeded']);
      expect(run.status).toBe('quarantined');
      expect(run.error?.message).toContain('FAILURE_BUDGET_EXHAUSTED');
      const attempts = (await t.http.get(`/runs/${run.id}/attempts`).set(TENANT).expect(200)).body as unknown[];
      expect(attempts).toHaveLength(2);
    });

    it('a template whose last N runs failed is paused: new runs get 409 TEMPLATE_QUARANTINED until released', async () => {
      await postTemplate(t, { name: 'fragile', quarantineAfterConsecutiveFailures: 2, steps: [sh('x', 'exit 1')] });
      for (let i = 0; i < 2; i++) await waitForRun(t, await startRun(t, 'fragile'), ['failed']);
      const refused = await t.http.post('/runs').set(TENANT).send({ template: 'fragile' }).expect(409);
      expect(refused.body.code).toBe('TEMPLATE_QUARANTINED');
      expect((await t.http.get('/pipeline-templates/fragile').set(TENANT).expect(200)).body.quarantined).toMatch(/last 2 runs failed/);
      await t.http.post('/pipeline-templates/fragile/release').set(TENANT).expect(200);
      // Released: the failures before the release no longer refuse; the next failure pauses it again
      // (Airflow counts the last N runs, not the runs since the release).
      await waitForRun(t, await startRun(t, 'fragile'), ['failed']);
      await eventually(async () => ((await t.http.post('/runs').set(TENANT).send({ template: 'fragile' })).status === 409 ? true : undefined), 5_000, () => 'not paused again');
    });

    it('a pause the failing commit did not write (its process died first) still refuses the next run', async () => {
      await postTemplate(t, { name: 'fragile-crash', quarantineAfterConsecutiveFailures: 2, steps: [sh('x', 'exit 1')] });
      for (let i = 0; i < 2; i++) await waitForRun(t, await startRun(t, 'fragile-crash'), ['failed']);
      const pauses = t.app.get<MongoClient>(MONGO_CLIENT).db(t.dbName).collection('template_pauses');
      await eventually(async () => ((await pauses.countDocuments({ name: 'fragile-crash', reason: { $ne: null } })) ? true : undefined), 5_000, () => 'never paused');
      await pauses.deleteMany({ name: 'fragile-crash' }); // as if the worker died between the run's commit and the pause
      const refused = await t.http.post('/runs').set(TENANT).send({ template: 'fragile-crash' }).expect(409);
      expect(refused.body.code).toBe('TEMPLATE_QUARANTINED');
      expect((await t.http.get('/pipeline-templates/fragile-crash').set(TENANT).expect(200)).body.quarantined).toMatch(/last 2 runs failed/);
    });
  });

  describe('router', () => {
    async function routed(capability: string, runs: number): Promise<{ tool: string; router: { strategy: string; reason: string } }[]> {
      await postTemplate(t, { name: `route-${capability}`, steps: [{ id: 'work', tool: `@${capability}`, with: { name: 'noop', run: 'true' } }] });
      const out = [];
      for (let i = 0; i < runs; i++) {
        const id = await startRun(t, `route-${capability}`);
        expect((await waitForRun(t, id, ['succeeded', 'failed'])).status).toBe('succeeded');
        const [a] = await settledAttempts(t, id);
        out.push(a);
      }
      return out;
    }

    it('fixed always picks the first tool', async () => {
      const a = await routed('pinned', 2);
      expect(a.map((x) => x.tool)).toEqual(['function', 'function']);
      expect(a[0].router).toEqual(expect.objectContaining({ strategy: 'fixed', reason: 'fixed: function' }));
    });

    it('round_robin alternates, its turn counted in Redis', async () => {
      const a = await routed('turns', 4);
      expect(a.map((x) => x.tool)).toEqual(['function', 'shell', 'function', 'shell']);
      expect(a[1].router.reason).toBe('round_robin: turn 2 of [function, shell]');
    });

    it('auto picks the closed-circuit tool with the lowest recent p50, and says why', async () => {
      const a = await routed('quick', 3);
      // After history exists for both, the in-process function (µs) beats the shell (ms).
      expect(a[a.length - 1].tool).toBe('function');
      expect(a[a.length - 1].router.reason).toMatch(/^auto: lowest p50 among closed circuits \(shell p50 \d+ ms, function p50 \d+ ms\)$/);
    });
  });

  it('progress: counts, percent, elapsed, and an ETA from the template\'s past durations', async () => {
    await postTemplate(t, { name: 'eta', steps: [sh('a', 'sleep 0.2'), sh('b', 'sleep 0.2', { needs: ['a'] })] });
    await waitForRun(t, await startRun(t, 'eta'), ['succeeded']);
    // The first run's durations are recorded when it ends, in the background (StepDurations): wait for them.
    const durations = t.app.get<MongoClient>(MONGO_CLIENT).db(t.dbName).collection<{ steps: Record<string, number[]> }>('step_durations');
    await eventually(async () => ((await durations.findOne({ 'steps.b': { $exists: true } })) ? true : undefined), 10_000, () => 'durations of the first run not recorded');
    const id = await startRun(t, 'eta');
    let p = (await t.http.get(`/runs/${id}/progress`).set(TENANT).expect(200)).body;
    for (const until = Date.now() + 5000; !(p.etaMs > 0) && p.done === 0 && Date.now() < until; ) {
      await new Promise((r) => setTimeout(r, 50));
      p = (await t.http.get(`/runs/${id}/progress`).set(TENANT).expect(200)).body;
    }
    expect(p.total).toBe(2);
    expect(p.etaMs).toBeGreaterThan(0);
    await waitForRun(t, id, ['succeeded']);
    const end = (await t.http.get(`/runs/${id}/progress`).set(TENANT).expect(200)).body;
    expect(end).toEqual(expect.objectContaining({ done: 2, percent: 100, etaMs: 0, counts: { succeeded: 2 } }));
    expect(end.elapsedMs).toBeGreaterThanOrEqual(400);
  });
});
