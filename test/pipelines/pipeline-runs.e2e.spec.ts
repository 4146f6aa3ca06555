import type { AddressInfo } from 'node:net';
import { getQueueToken } from '@nestjs/bullmq';
import type { Queue } from 'bullmq';
import { STEP_QUEUE, stepMessageId, type StepMessage } from '../../src/runs/step-queue';
import { readEvents } from '../support/sse-client';
import { startTestApp, type TestApp } from '../support/test-app';
import { getRun, postTemplate, runEvents, settledAttempts, sh, startRun, succeededOrder, TENANT, waitForRun } from './support';

/**
 * Pipelines end to end over HTTP with the real step worker (BullMQ on Redis), the MongoDB-wire
 * store and real shell subprocesses: the dependency examples of seed 004.
 */
describe('pipeline runs over HTTP (real step worker, Redis, MongoDB-wire, shell steps)', () => {
  let t: TestApp;

  beforeAll(async () => {
    t = await startTestApp('pipelines', { PIPELINE_STEP_CONCURRENCY: '8' });
  });
  afterAll(async () => {
    await t?.close();
  });

  it('plan-dev-test-verify (built-in, linear) runs its steps in order and succeeds', async () => {
    const id = await startRun(t, 'plan-dev-test-verify');
    const run = await waitForRun(t, id, ['succeeded', 'failed']);
    expect(run.status).toBe('succeeded');
    const events = await runEvents(t, id);
    expect(succeededOrder(events)).toEqual(['plan', 'dev', 'test', 'verify']);
    expect(events[0]).toEqual(expect.objectContaining({ kind: 'run', from: 'none', to: 'pending', event: 'CREATE' }));
    expect(events.filter((e) => e.kind === 'run').map((e) => e.to)).toEqual(['pending', 'running', 'succeeded']);
    expect(run.progress).toEqual(expect.objectContaining({ percent: 100, done: 4, total: 4 }));
    expect(run.acceptedEvents).toEqual([]);
  });

  it('job2 waits for job1: the second step starts only after the first ended', async () => {
    await postTemplate(t, { name: 'two-jobs', steps: [sh('job1', 'sleep 0.3; date +%s%N > first'), sh('job2', 'test -f first && date +%s%N', { needs: ['job1'] })] });
    const id = await startRun(t, 'two-jobs');
    expect((await waitForRun(t, id, ['succeeded', 'failed'])).status).toBe('succeeded');
    const attempts = await settledAttempts<{ step: string; startedAt: string; endedAt: string }>(t, id);
    const job1 = attempts.find((a) => a.step === 'job1')!;
    const job2 = attempts.find((a) => a.step === 'job2')!;
    expect(Date.parse(job2.startedAt)).toBeGreaterThanOrEqual(Date.parse(job1.endedAt));
  });

  it('a failure dependency runs a cleanup step, an always step runs either way, and success-dependents of the failure are skipped', async () => {
    await postTemplate(t, {
      name: 'failure-paths',
      steps: [
        sh('build', 'echo building; exit 3'),
        sh('deploy', 'echo deploy', { needs: ['build'] }),
        sh('notify', 'echo notify', { needs: ['deploy'] }),
        sh('cleanup', 'echo cleanup', { needs: [{ step: 'build', on: 'failure' }] }),
        sh('report', 'echo report', { needs: [{ step: 'deploy', on: 'always' }] }),
      ],
    });
    const id = await startRun(t, 'failure-paths');
    const run = await waitForRun(t, id, ['succeeded', 'failed']);
    expect(run.status).toBe('failed');
    expect(Object.fromEntries(Object.entries(run.steps).map(([k, v]) => [k, v.status]))).toEqual({
      build: 'failed',
      deploy: 'skipped',
      notify: 'skipped',
      cleanup: 'succeeded',
      report: 'succeeded',
    });
    expect(run.steps.build.error).toEqual(expect.objectContaining({ code: 'EXIT_3' }));
    expect(run.steps.deploy.reason).toBe('needs build on success; build failed');
    expect(run.steps.notify.reason).toBe('needs deploy on success; deploy skipped');
    expect(run.error).toEqual(expect.objectContaining({ code: 'STEP_FAILED', message: 'step build failed' }));
    expect(run.acceptedEvents).toEqual(['RETRY_STEP']);
  });

  it('a success run skips the failure-only cleanup (its need can no longer be met)', async () => {
    await postTemplate(t, { name: 'cleanup-unused', steps: [sh('build', 'true'), sh('cleanup', 'true', { needs: [{ step: 'build', on: 'failure' }] })] });
    const run = await waitForRun(t, await startRun(t, 'cleanup-unused'), ['succeeded', 'failed']);
    expect(run.status).toBe('succeeded');
    expect(run.steps.cleanup).toEqual(expect.objectContaining({ status: 'skipped', reason: 'needs build on failure; build succeeded' }));
  });

  it('the parallel limit is observed: 6 independent steps at maxParallel 3 peak at exactly 3 running at once', async () => {
    const steps = Array.from({ length: 6 }, (_, i) => sh(`p${i}`, 'sleep 0.4'));
    await postTemplate(t, { name: 'wide', maxParallel: 3, steps });
    const id = await startRun(t, 'wide');
    expect((await waitForRun(t, id, ['succeeded', 'failed'])).status).toBe('succeeded');
    const attempts = await settledAttempts<{ startedAt: string; endedAt: string }>(t, id);
    expect(attempts).toHaveLength(6);
    const points = attempts.flatMap((a) => [
      { at: Date.parse(a.startedAt), d: 1 },
      { at: Date.parse(a.endedAt), d: -1 },
    ]);
    points.sort((a, b) => a.at - b.at || a.d - b.d);
    let now = 0;
    let peak = 0;
    for (const p of points) peak = Math.max(peak, (now += p.d));
    expect(peak).toBe(3);
  });

  it('failFast stops new steps after a failure; without it independent branches finish', async () => {
    const steps = [sh('bad', 'exit 1'), sh('slow', 'sleep 0.5'), sh('after-slow', 'true', { needs: ['slow'] })];
    await postTemplate(t, { name: 'ff-on', failFast: true, maxParallel: 2, steps });
    await postTemplate(t, { name: 'ff-off', failFast: false, maxParallel: 2, steps });
    const on = await waitForRun(t, await startRun(t, 'ff-on'), ['succeeded', 'failed']);
    const off = await waitForRun(t, await startRun(t, 'ff-off'), ['succeeded', 'failed']);
    expect(on.status).toBe('failed');
    expect(on.steps['after-slow']).toEqual(expect.objectContaining({ status: 'skipped', reason: 'failFast: another step failed' }));
    expect(on.steps.slow.status).toBe('succeeded'); // already running: not killed
    expect(off.status).toBe('failed');
    expect(off.steps['after-slow'].status).toBe('succeeded');
  });

  it('retries with backoff: a step that fails twice then passes succeeds on attempt 3', async () => {
    await postTemplate(t, { name: 'flaky', steps: [sh('flaky', 'n=$(cat ../count 2>/dev/null || echo 0); n=$((n+1)); echo $n > ../count; [ $n -ge 3 ]', { retries: { attempts: 3, backoffMs: 50 } })] });
    const id = await startRun(t, 'flaky');
    expect((await waitForRun(t, id, ['succeeded', 'failed'])).status).toBe('succeeded');
    const attempts = await settledAttempts<{ attempt: number; status: string; error: { code: string } | null }>(t, id);
    expect(attempts.map((a) => [a.attempt, a.status])).toEqual([
      [1, 'failed'],
      [2, 'failed'],
      [3, 'succeeded'],
    ]);
  });

  it('continuation: a step the commit started runs in the same delivery, in process (no message of its own), as a job\'s next stage does', async () => {
    const noop = { name: 'noop' };
    await postTemplate(t, { name: 'chain3', steps: [{ id: 'a', tool: 'function', with: noop }, { id: 'b', tool: 'function', with: noop, needs: ['a'] }, { id: 'c', tool: 'function', with: noop, needs: ['b'] }] });
    const id = await startRun(t, 'chain3');
    expect((await waitForRun(t, id, ['succeeded', 'failed'])).status).toBe('succeeded');
    const queue = t.app.get<Queue<StepMessage>>(getQueueToken(STEP_QUEUE));
    // The run's last commit lands before BullMQ completes the delivery that made it: wait for that.
    let first = await queue.getJob(stepMessageId({ runId: id, step: 'a', visit: 1 }));
    for (const until = Date.now() + 5000; !first?.returnvalue && Date.now() < until; ) {
      await new Promise((r) => setTimeout(r, 50));
      first = await queue.getJob(stepMessageId({ runId: id, step: 'a', visit: 1 }));
    }
    expect(first?.returnvalue).toMatchObject({ outcome: 'succeeded', ran: ['a', 'b', 'c'] });
    for (const step of ['b', 'c']) expect(await queue.getJob(stepMessageId({ runId: id, step, visit: 1 }))).toBeUndefined();
    const attempts = await settledAttempts<{ step: string; attempt: number; status: string }>(t, id);
    expect(attempts.map((a) => [a.step, a.attempt, a.status])).toEqual([
      ['a', 1, 'succeeded'],
      ['b', 1, 'succeeded'],
      ['c', 1, 'succeeded'],
    ]);
  });

  it('continuation: a continued step that fails transiently becomes its own message, which knows the attempt already made', async () => {
    const flaky = 'n=$(cat ../count 2>/dev/null || echo 0); n=$((n+1)); echo $n > ../count; [ $n -ge 2 ]';
    await postTemplate(t, { name: 'chain-flaky', steps: [sh('a', 'true'), sh('b', flaky, { needs: ['a'], retries: { attempts: 3, backoffMs: 50 } })] });
    const id = await startRun(t, 'chain-flaky');
    expect((await waitForRun(t, id, ['succeeded', 'failed'])).status).toBe('succeeded');
    const queue = t.app.get<Queue<StepMessage>>(getQueueToken(STEP_QUEUE));
    expect((await queue.getJob(stepMessageId({ runId: id, step: 'a', visit: 1 })))?.returnvalue).toMatchObject({ outcome: 'retry', ran: ['a', 'b'] });
    const b = await queue.getJob(stepMessageId({ runId: id, step: 'b', visit: 1 }));
    expect(b?.data.attemptsBefore).toBe(1);
    expect(b?.opts.attempts).toBe(2); // the rest of retries.attempts
    const attempts = await settledAttempts<{ step: string; attempt: number; status: string }>(t, id);
    expect(attempts.map((a) => [a.step, a.attempt, a.status])).toEqual([
      ['a', 1, 'succeeded'],
      ['b', 1, 'failed'],
      ['b', 2, 'succeeded'],
    ]);
  });

  it('a step timeout kills the command and fails the step with TOOL_TIMEOUT', async () => {
    await postTemplate(t, { name: 'too-slow', steps: [sh('slow', 'sleep 30', { timeoutMs: 300 })] });
    const run = await waitForRun(t, await startRun(t, 'too-slow'), ['succeeded', 'failed']);
    expect(run.steps.slow.error).toEqual(expect.objectContaining({ code: 'TOOL_TIMEOUT' }));
  });

  it('the run streams its changes over SSE (GET /runs/:id/stream, and kind run on /events/stream), resumable by id', async () => {
    const server = t.app.getHttpServer();
    if (!server.listening) await t.app.listen(0, '127.0.0.1');
    const base = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
    const id = await startRun(t, 'plan-dev-test-verify');
    const ended = (ev: { data: { status: string } }[]) => ev.some((e) => e.data.status === 'succeeded');
    // From the stream's start (`after=0-0`; the `resync` it gets first says older entries may be trimmed).
    const events = (await readEvents(`${base}/runs/${id}/stream?after=0-0`, TENANT, ended, 20_000)).filter((e) => e.event !== 'resync');
    expect(events.every((e) => e.event === 'run' && e.data.runId === id)).toBe(true);
    expect(events[0].data).toEqual(expect.objectContaining({ created: true, status: 'pending' }));
    expect(events.at(-1)!.data).toEqual(expect.objectContaining({ status: 'succeeded', progress: { done: 4, total: 4, percent: 100 } }));
    // Together the events carry the run's whole audit, in order.
    const audit = await runEvents(t, id);
    expect(events.flatMap((e) => e.data.events.map((x: { seq: number }) => x.seq))).toEqual(audit.map((e) => e.seq));
    const resumed = await readEvents(`${base}/runs/${id}/stream`, { ...TENANT, 'last-event-id': events[1].id }, ended, 10_000);
    expect(resumed.map((e) => e.id)).toEqual(events.slice(2).map((e) => e.id));
    const all = (await readEvents(`${base}/events/stream?after=0-0&kinds=run&runId=${id}`, TENANT, ended, 10_000)).filter((e) => e.event !== 'resync');
    expect(all.map((e) => e.id)).toEqual(events.map((e) => e.id));
    const other = await fetch(`${base}/runs/${id}/stream`, { headers: { 'x-tenant-id': 'other' } });
    expect(other.status).toBe(404);
    // The run's chart highlights where each region ended.
    const chart = await t.http.get(`/runs/${id}/statechart`).set(TENANT).expect(200);
    expect(chart.text).toMatch(/^stateDiagram-v2/);
    expect(chart.text).toContain('class succeeded current');
    expect(chart.text).toMatch(/class .*running_verify_succeeded visited/);
    expect(chart.text).toMatch(/running_plan_running --> running_plan_succeeded : STEP_SUCCEEDED.*\(taken\)/);
    const tpl = await t.http.get('/pipeline-templates/plan-dev-test-verify/statechart?format=scxml').set(TENANT).expect(200);
    expect(tpl.text).toContain('<parallel id="running">');
    const exported = await t.http.get('/statecharts/pipeline:plan-dev-test-verify@1').expect(200);
    expect(exported.text).toMatch(/^stateDiagram-v2/);
  });

  it('another tenant cannot see or act on the run (404)', async () => {
    const id = await startRun(t, 'cleanup-unused');
    await t.http.get(`/runs/${id}`).set({ 'x-tenant-id': 'other' }).expect(404);
    await t.http.post(`/runs/${id}/cancel`).set({ 'x-tenant-id': 'other' }).expect(404);
    const list = await t.http.get('/runs').set({ 'x-tenant-id': 'other' }).expect(200);
    expect(list.body.items).toEqual([]);
    expect((await getRun(t, id)).id).toBe(id);
  });
});
