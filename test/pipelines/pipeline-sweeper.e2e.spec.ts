import { getQueueToken } from '@nestjs/bullmq';
import type { Queue } from 'bullmq';
import { STEP_QUEUE, stepMessageId } from '../../src/runs/step-queue';
import { existsSync, mkdirSync, mkdtempSync, readdirSync, rmSync, utimesSync } from 'node:fs';
import { MongoClient } from 'mongodb';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { eventually, startTestApp, uniqueName, type TestApp } from '../support/test-app';
import { getRun, postTemplate, settledAttempts, sh, startRun, waitForRun } from './support';

/**
 * The outbox repair for runs: a run committed with a step in `running` whose message was lost (a
 * crash between the commit and the enqueue) is found by the sweeper's runs pass and its message
 * sent again; the step then runs once.
 */
describe('pipeline runs: the sweeper re-sends a lost step message and removes ended runs\' workspaces', () => {
  let api: TestApp | undefined;
  let worker: TestApp | undefined;
  const prefix = uniqueName('pipesweep');
  const workRoot = mkdtempSync(join(tmpdir(), 'aicd-pipesweep-'));

  afterAll(async () => {
    await api?.app.close();
    await worker?.close();
    rmSync(workRoot, { recursive: true, force: true });
  });

  it('a run whose step message is gone completes once a worker with the sweeper runs', async () => {
    // An API process only: the run is committed with its first step running, nothing runs it.
    api = await startTestApp('pipesweep', { QUEUE_PREFIX: prefix, MONGODB_DB: prefix }, { stages: [] });
    await postTemplate(api, { name: 'lost', steps: [sh('only', 'pwd')] });
    const id = await startRun(api, 'lost');
    const queue = api.app.get<Queue>(getQueueToken(STEP_QUEUE));
    const message = await queue.getJob(stepMessageId({ runId: id, step: 'only', visit: 1 }));
    expect(message).toBeDefined();
    await message!.remove(); // the lost enqueue
    expect((await getRun(api, id)).steps.only).toEqual(expect.objectContaining({ status: 'running', visit: 1 }));

    worker = await startTestApp('pipesweep', { QUEUE_PREFIX: prefix, MONGODB_DB: prefix, SWEEP_INTERVAL_MS: '200', SWEEP_GRACE_MS: '1000', PIPELINE_WORK_ROOT: workRoot });
    const run = await waitForRun(worker, id, ['succeeded', 'failed'], 20_000);
    expect(run.status).toBe('succeeded');
    const attempts = await settledAttempts<{ step: string; stdoutTail: string }>(worker, id);
    expect(attempts.map((a) => a.step)).toEqual(['only']);
    expect(attempts[0].stdoutTail).toContain(join(workRoot, id)); // it ran in the run's workspace on this worker…
    // …which a later pass removes, the run having ended (after the grace period).
    await eventually(async () => (existsSync(join(workRoot, id)) ? undefined : true), 10_000, () => `workspace ${join(workRoot, id)} still there`);
  });

  it('kept workspaces (failed runs, for inspection) do not hide the removable ones, however many there are', async () => {
    // 250 failed runs' directories (kept) and 20 of runs that succeeded or are unknown (removable),
    // all past the grace period; the sweeper removes at most 100 per pass and reads statuses in
    // chunks of 100, so the removable ones are found wherever they are in directory order.
    const client = await MongoClient.connect(process.env.MONGODB_URI!);
    try {
      const runs = client.db(prefix).collection('runs');
      const kept = Array.from({ length: 250 }, (_, i) => `run_kept${i}`);
      const gone = Array.from({ length: 20 }, (_, i) => `run_zgone${i}`);
      await runs.insertMany([...kept.map((id) => ({ _id: id, tenantId: 'acme', status: 'failed' })), ...gone.slice(0, 10).map((id) => ({ _id: id, tenantId: 'acme', status: 'succeeded' }))] as never[]);
      const old = new Date(Date.now() - 60_000);
      for (const name of [...gone, ...kept]) { // listed after the kept ones whether a directory lists by name or newest first
        mkdirSync(join(workRoot, name, 'work'), { recursive: true });
        utimesSync(join(workRoot, name), old, old);
      }
      await eventually(async () => (gone.some((g) => existsSync(join(workRoot, g))) ? undefined : true), 15_000, () => `left: ${gone.filter((g) => existsSync(join(workRoot, g))).join(', ')}`);
      expect(readdirSync(workRoot).filter((n) => n.startsWith('run_kept')).length).toBe(250);
    } finally {
      await client.close();
    }
  });
});
