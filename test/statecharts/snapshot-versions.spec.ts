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
 * A simulated version 2 of the statechart, built in the test from the real machine's config and
 * implementations: a SECURITY_SCAN state between REVIEWING and PR_OPEN (an approved review goes
 * to SECURITY_SCAN; SCAN_PASSED opens the PR), and a new context field `securityScan`.
 */
function jobMachineV2(): JobMachine {
  const config = jobMachine.config as unknown as { states: Record<string, Record<string, unknown>> } & Record<string, unknown>;
  const reviewing = config.states.REVIEWING as { invoke: { onDone: Record<string, unknown>[] } & Record<string, unknown> } & Record<string, unknown>;
  const [approved, ...rest] = reviewing.invoke.onDone;
  const states = {
    ...config.states,
    REVIEWING: { ...reviewing, invoke: { ...reviewing.invoke, onDone: [{ ...approved, target: 'SECURITY_SCAN' }, ...rest] } },
    SECURITY_SCAN: {
      description: 'v2: the change is scanned before the PR is opened.',
      on: {
        SCAN_PASSED: { target: 'PR_OPEN' },
        MARK_CANCELLED: { target: '#job.CANCELLED' },
      },
    },
  };
  const context = config.context as (args: { input: unknown }) => Record<string, unknown>;
  return createMachine(
    { ...config, version: '2', states, context: (args: { input: unknown }) => ({ ...context(args), securityScan: null }) } as never,
    jobMachine.implementations as never,
  ) as unknown as JobMachine;
}

/** The 1 → 2 migration, registered (for this test) after the real registry's migrations. */
const MIGRATION_1_TO_2: SnapshotMigration = {
  from: '1',
  to: '2',
  description: 'v2 adds SECURITY_SCAN and context.securityScan (null until scanned); v1 states keep their names.',
  migrate: (s) => ({ ...s, context: { ...s.context, securityScan: null } as PersistedJobSnapshot['context'] }),
};
const REGISTRY: SnapshotMigration[] = [...SNAPSHOT_MIGRATIONS, MIGRATION_1_TO_2];

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

  it('this build runs machine version 1 (the fixture and the simulated v2 below are written against it)', () => {
    expect(JOB_MACHINE_VERSION).toBe('1');
    expect(jobMachine.version).toBe(JOB_MACHINE_VERSION);
  });

  it('the version-1 fixture document loads in this build: REST shows it, and its reviewing worker takes it to COMPLETED', async () => {
    const id = await insert(fixtureDocument());
    const res = await t.http.get(`/jobs/${id}`).set(tenant).expect(200);
    expect(res.body).toEqual(expect.objectContaining({ state: 'REVIEWING', machineVersion: '1', version: 2, acceptedEvents: ['MARK_CANCELLED'] }));
    // The stage message was not part of the fixture: send it as the sweeper would.
    await t.app.get(StageDispatcher).dispatch((await t.jobs.findById(id))!);
    const done = await waitForState(t, id, ['COMPLETED']);
    expect(done.history.map((h) => h.event)).toEqual(['START_PLANNING', 'PLAN_SUCCEEDED', 'CODE_SUCCEEDED', 'REVIEW_APPROVED', 'PR_OPENED']);
    expect(done.machineVersion).toBe('1');
  });

  it('after a simulated version-2 change, the version-1 fixture is migrated 1→2 and runs on the v2 machine; this (v1) build then refuses it', async () => {
    const id = await insert(fixtureDocument());
    const stored = (await t.jobs.findById(id))!;
    expect(stored.machineVersion).toBe('1');

    // Without the migration, v1 → 2 has no path.
    expect(() => upgradeSnapshot(stored.machineVersion, stored.snapshot, '2')).toThrow(UnknownMachineVersionError);
    const upgraded = upgradeSnapshot(stored.machineVersion, stored.snapshot, '2', REGISTRY);
    expect((upgraded.context as unknown as { securityScan: unknown }).securityScan).toBeNull();
    expect(stored.snapshot.context).not.toHaveProperty('securityScan'); // pure: the stored one is untouched

    // The v2 machine restores it and runs the review: an approval now leads to SECURITY_SCAN.
    const v2 = jobMachineV2();
    const run = await runStage(v2.provide({ actors: { review: approve as never } }), upgraded, 'reviewing');
    if (run.kind !== 'advanced') throw new Error('expected the review to advance');
    expect(run.transitions).toEqual([{ from: 'REVIEWING', to: 'SECURITY_SCAN', event: 'REVIEW_APPROVED' }]);
    const committed = await t.jobs.commit(stored, {
      state: run.state,
      snapshot: run.snapshot,
      machineVersion: '2',
      error: null,
      transitions: run.transitions.map((tr) => ({ ...tr, at: new Date().toISOString(), attempt: 1 })),
    });
    expect(committed).toEqual(expect.objectContaining({ state: 'SECURITY_SCAN', machineVersion: '2', version: 3 }));

    // Read back (the v2 build): version 2 needs no migration; SCAN_PASSED opens the PR.
    const again = (await t.jobs.findById(id))!;
    const snapshot = upgradeSnapshot(again.machineVersion, again.snapshot, '2', REGISTRY);
    const actor = createActor(v2, { snapshot } as never).start();
    actor.send({ type: 'SCAN_PASSED' } as never);
    expect(stateOf(actor.getSnapshot())).toBe('PR_OPEN');
    actor.stop();

    // This build (machine version 1) refuses the version-2 document everywhere.
    const get = await t.http.get(`/jobs/${id}`).set(tenant).expect(409);
    expect(get.body).toEqual(expect.objectContaining({ code: 'UNKNOWN_MACHINE_VERSION', message: expect.stringContaining('version 2') }));
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
