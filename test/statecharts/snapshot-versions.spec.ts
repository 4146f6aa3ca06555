import { getQueueToken } from '@nestjs/bullmq';
import type { Queue } from 'bullmq';
import { randomUUID } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { MongoClient, type Db } from 'mongodb';
import { createActor, createMachine, fromPromise } from 'xstate';
import { toDomain, type JobDocument } from '../../src/jobs/mongo-job.repository';
import { StageDispatcher } from '../../src/jobs/stage-dispatcher.port';
import { jobMachine, JOB_MACHINE_VERSION, type JobMachine } from '../../src/lifecycle/job.machine';
import { runStage, stateOf, type PersistedJobSnapshot } from '../../src/lifecycle/job.runtime';
import { SNAPSHOT_MIGRATIONS, UnknownMachineVersionError, upgradeSnapshot, type SnapshotMigration } from '../../src/lifecycle/snapshot-migrations';
import { STAGE_QUEUE, stageMessageId } from '../../src/queues/stage-queues';
import { drainQueues, startTestApp, waitForState, type TestApp } from '../support/test-app';

/** The fixture: a job document exactly as MongoJobRepository stored it under machine version 1 (REVIEWING). */
const FIXTURE = readFileSync(join(__dirname, '..', 'fixtures', 'job-v1-reviewing.json'), 'utf8');
const FIXTURE_ID = '7d6c1f0e-3b5a-4c8e-9f21-0a4b6c8d2e10';

/** The fixture as a document with a fresh id (everywhere it appears) and Dates restored. */
function fixtureDocument(overrides: Partial<JobDocument> = {}): JobDocument {
  const id = randomUUID();
  const doc = JSON.parse(FIXTURE.split(FIXTURE_ID).join(id)) as JobDocument & { createdAt: string; updatedAt: string };
  return { ...doc, createdAt: new Date(doc.createdAt), updatedAt: new Date(doc.updatedAt), ...overrides };
}

/**
 * A simulated version 3 of the statechart, built in the test from the real (version 2) machine's
 * config and implementations: a SECURITY_SCAN state between REVIEWING and PR_OPEN (an approved
 * review goes to SECURITY_SCAN; SCAN_PASSED opens the PR), and a new context field `securityScan`.
 */
function jobMachineV3(): JobMachine {
  const config = jobMachine.config as unknown as { states: Record<string, Record<string, unknown>> } & Record<string, unknown>;
  const reviewing = config.states.REVIEWING as { invoke: { onDone: Record<string, unknown>[] } & Record<string, unknown> } & Record<string, unknown>;
  // onDone: [over budget, approved, revise again, rounds exceeded]
  const [overBudget, approved, ...rest] = reviewing.invoke.onDone;
  const states = {
    ...config.states,
    REVIEWING: { ...reviewing, invoke: { ...reviewing.invoke, onDone: [overBudget, { ...approved, target: 'SECURITY_SCAN' }, ...rest] } },
    SECURITY_SCAN: {
      description: 'v3: the change is scanned before the PR is opened.',
      on: {
        SCAN_PASSED: { target: 'PR_OPEN' },
        MARK_CANCELLED: { target: '#job.CANCELLED' },
      },
    },
  };
  const context = config.context as (args: { input: unknown }) => Record<string, unknown>;
  return createMachine(
    { ...config, version: '3', states, context: (args: { input: unknown }) => ({ ...context(args), securityScan: null }) } as never,
    jobMachine.implementations as never,
  ) as unknown as JobMachine;
}

/** The 2 → 3 migration, registered (for this test) after the real registry's migrations (1 → 2). */
const MIGRATION_2_TO_3: SnapshotMigration = {
  from: '2',
  to: '3',
  description: 'v3 adds SECURITY_SCAN and context.securityScan (null until scanned); v2 states keep their names.',
  migrate: (s) => ({ ...s, context: { ...s.context, securityScan: null } as PersistedJobSnapshot['context'] }),
};
const REGISTRY: SnapshotMigration[] = [...SNAPSHOT_MIGRATIONS, MIGRATION_2_TO_3];

const approve = fromPromise(async () => ({ result: { approved: true, comments: ['Looks good.'] }, attempt: 1 }));

describe('versioned snapshots (machineVersion beside every snapshot)', () => {
  let t: TestApp;
  let mongo: MongoClient;
  let db: Db;
  const tenant = { 'x-tenant-id': 'acme' };

  beforeAll(async () => {
    t = await startTestApp('versions');
    mongo = await MongoClient.connect(process.env.MONGODB_URI!);
    db = mongo.db(t.dbName);
  });
  afterAll(async () => {
    await mongo?.close();
    await t?.close();
  });

  const insert = async (doc: JobDocument) => {
    await db.collection<JobDocument>('jobs').insertOne(doc);
    return doc._id;
  };

  it('this build runs machine version 2 (the version-1 fixture is migrated 1→2; the simulated v3 below is written against 2)', () => {
    expect(JOB_MACHINE_VERSION).toBe('2');
    expect(jobMachine.version).toBe(JOB_MACHINE_VERSION);
  });

  it('the 1→2 migration adds usage (zero), workspace (null) and an unlimited budget, and keeps everything else', () => {
    const v1 = toDomain(fixtureDocument()).snapshot;
    const v2 = upgradeSnapshot('1', v1);
    expect(v2.context.usage).toEqual({ inputTokens: 0, outputTokens: 0, costUsd: 0 });
    expect(v2.context.workspace).toBeNull();
    expect(v2.context.limits).toEqual({ ...v1.context.limits, budget: { usd: null, tokens: null } });
    const { usage: _u, workspace: _w, limits: _l, ...rest } = v2.context;
    const { limits: _l1, ...restV1 } = v1.context;
    expect(rest).toEqual(restV1);
    expect(v1.context).not.toHaveProperty('usage'); // pure: the input is untouched
  });

  it('the version-1 fixture document loads in this build: REST shows it, and its reviewing worker takes it to COMPLETED (committed as version 2)', async () => {
    const id = await insert(fixtureDocument());
    const res = await t.http.get(`/jobs/${id}`).set(tenant).expect(200);
    expect(res.body).toEqual(expect.objectContaining({ state: 'REVIEWING', machineVersion: '1', version: 2, acceptedEvents: ['MARK_CANCELLED'] }));
    // The stage message was not part of the fixture: send it as the sweeper would.
    await t.app.get(StageDispatcher).dispatch((await t.jobs.findById(id))!);
    const done = await waitForState(t, id, ['COMPLETED']);
    expect(done.history.map((h) => h.event)).toEqual(['START_PLANNING', 'PLAN_SUCCEEDED', 'CODE_SUCCEEDED', 'REVIEW_APPROVED', 'PR_OPENED']);
    expect(done.machineVersion).toBe('2');
    expect(done.snapshot.context.usage).toEqual({ inputTokens: 0, outputTokens: 0, costUsd: 0 });
  });

  it('after a simulated version-3 change, the version-1 fixture is migrated 1→2→3 and runs on the v3 machine; this (v2) build then refuses it', async () => {
    const id = await insert(fixtureDocument());
    const stored = (await t.jobs.findById(id))!;
    expect(stored.machineVersion).toBe('1');

    // Without the 2 → 3 migration, v1 → 3 has no path.
    expect(() => upgradeSnapshot(stored.machineVersion, stored.snapshot, '3')).toThrow(UnknownMachineVersionError);
    const upgraded = upgradeSnapshot(stored.machineVersion, stored.snapshot, '3', REGISTRY);
    expect((upgraded.context as unknown as { securityScan: unknown }).securityScan).toBeNull();
    expect(upgraded.context.usage).toEqual({ inputTokens: 0, outputTokens: 0, costUsd: 0 });
    expect(stored.snapshot.context).not.toHaveProperty('securityScan'); // pure: the stored one is untouched

    // The v3 machine restores it and runs the review: an approval now leads to SECURITY_SCAN.
    const v3 = jobMachineV3();
    const run = await runStage(v3.provide({ actors: { review: approve as never } }), upgraded, 'reviewing');
    if (run.kind !== 'advanced') throw new Error('expected the review to advance');
    expect(run.transitions).toEqual([{ from: 'REVIEWING', to: 'SECURITY_SCAN', event: 'REVIEW_APPROVED', guard: 'isApproved' }]);
    const committed = await t.jobs.commit(stored, {
      state: run.state,
      snapshot: run.snapshot,
      machineVersion: '3',
      error: null,
      transitions: run.transitions.map((tr) => ({ ...tr, at: new Date().toISOString(), attempt: 1 })),
    });
    expect(committed).toEqual(expect.objectContaining({ state: 'SECURITY_SCAN', machineVersion: '3', version: 3 }));

    // Read back (the v3 build): version 3 needs no migration; SCAN_PASSED opens the PR.
    const again = (await t.jobs.findById(id))!;
    const snapshot = upgradeSnapshot(again.machineVersion, again.snapshot, '3', REGISTRY);
    const actor = createActor(v3, { snapshot } as never).start();
    actor.send({ type: 'SCAN_PASSED' } as never);
    expect(stateOf(actor.getSnapshot())).toBe('PR_OPEN');
    actor.stop();

    // This build (machine version 2) refuses the version-3 document everywhere.
    const get = await t.http.get(`/jobs/${id}`).set(tenant).expect(409);
    expect(get.body).toEqual(expect.objectContaining({ code: 'UNKNOWN_MACHINE_VERSION', message: expect.stringContaining('version 3') }));
    const post = await t.http.post(`/jobs/${id}/events`).set(tenant).send({ type: 'MARK_CANCELLED' }).expect(409);
    expect(post.body.code).toBe('UNKNOWN_MACHINE_VERSION');
    expect((await t.jobs.findById(id))!.version).toBe(3);
  });

  it('a snapshot of an unknown machine version is refused: REST GET and POST events → 409 UNKNOWN_MACHINE_VERSION; the worker → UnrecoverableError (dead letter, no retry, no agent call)', async () => {
    const id = await insert(fixtureDocument({ machineVersion: '99' }));
    const get = await t.http.get(`/jobs/${id}`).set(tenant).expect(409);
    expect(get.body).toEqual({ statusCode: 409, error: 'Conflict', code: 'UNKNOWN_MACHINE_VERSION', message: expect.stringContaining('99') });
    for (const type of ['MARK_CANCELLED', 'RETRY']) {
      const res = await t.http.post(`/jobs/${id}/events`).set(tenant).send({ type }).expect(409);
      expect(res.body.code).toBe('UNKNOWN_MACHINE_VERSION');
    }
    await t.http.post(`/jobs/${id}/cancel`).set(tenant).expect(409);
    const chart = await t.http.get(`/jobs/${id}/statechart`).set(tenant).expect(409);
    expect(chart.body.code).toBe('UNKNOWN_MACHINE_VERSION');

    const record = (await t.jobs.findById(id))!;
    await t.app.get(StageDispatcher).dispatch(record);
    const queue = t.app.get<Queue>(getQueueToken(STAGE_QUEUE.reviewing));
    await drainQueues(t.queues);
    const message = (await queue.getJob(stageMessageId(id, 'reviewing', record.version)))!;
    expect(await message.getState()).toBe('failed');
    expect(message.failedReason).toMatch(/^UNKNOWN_MACHINE_VERSION: .*version 99/);
    expect(message.attemptsMade).toBe(1); // UnrecoverableError: no retries although attempts = 3
    expect(message.opts.attempts).toBeGreaterThan(1);
    expect(t.calls.filter((c) => c.jobId === id)).toEqual([]);
    const after = (await t.jobs.findById(id))!;
    expect({ version: after.version, state: after.state, machineVersion: after.machineVersion }).toEqual({ version: 2, state: 'REVIEWING', machineVersion: '99' });
  });

  it('the fixture is the persisted form: toDomain(fixture) is a v1 snapshot the real machine resolves to REVIEWING with its review invoke active', () => {
    const record = toDomain(fixtureDocument());
    const resolved = jobMachine.resolveState(record.snapshot as never);
    expect(stateOf(resolved)).toBe('REVIEWING');
    expect(record.snapshot.children?.review?.snapshot?.status).toBe('active');
  });
});
