import { createActor } from 'xstate';
import { Db, MongoClient } from 'mongodb';
import { jobMachine, JOB_MACHINE_VERSION } from '../../src/lifecycle/job.machine';
import { applyEvent, createJobSnapshot, stateOf } from '../../src/lifecycle/job.runtime';
import type { JobState } from '../../src/lifecycle/job.types';
import type { JobRecord } from '../../src/jobs/job.record';
import { InvalidCursorError } from '../../src/jobs/job.repository';
import { newJobId } from '../../src/jobs/job-id';
import { MongoJobRepository } from '../../src/jobs/mongo-job.repository';
import { input, snapshotsOfEveryState } from '../support/machine-drivers';
import { uniqueName } from '../support/test-app';

/** The MongoDB adapter against the real MongoDB-wire server (FerretDB in CI). */
describe('MongoJobRepository (real MongoDB-wire server)', () => {
  let client: MongoClient;
  let db: Db;
  let repo: MongoJobRepository;

  beforeAll(async () => {
    client = await MongoClient.connect(process.env.MONGODB_URI!);
    db = client.db(uniqueName('repo'));
    repo = new MongoJobRepository(db);
    await repo.ensureIndexes();
  });
  afterAll(async () => {
    await repo.flushClaims();
    await db.dropDatabase();
    await client.close();
  });

  let n = 0;
  function newJob(tenantId = 'acme', key?: string): JobRecord {
    const id = `00000000-0000-4000-8000-${String(++n).padStart(12, '0')}`;
    const s = createJobSnapshot({ ...input(), jobId: id, tenantId });
    const now = new Date(Date.now() + n);
    return {
      id,
      tenantId,
      idempotencyKey: key ?? id,
      repositoryId: 'acme/widgets',
      state: s.state,
      version: 0,
      machineVersion: JOB_MACHINE_VERSION,
      snapshot: s.snapshot,
      history: [],
      error: null,
      createdAt: now,
      updatedAt: now,
    };
  }

  it('creates once per (tenant, idempotency key); another tenant may reuse the key', async () => {
    const a = await repo.create(newJob('acme', 'k1'));
    const again = await repo.create(newJob('acme', 'k1'));
    const other = await repo.create(newJob('globex', 'k1'));
    expect(a.created).toBe(true);
    expect(again).toEqual({ job: expect.objectContaining({ id: a.job.id }), created: false });
    expect(other.created).toBe(true);
    expect(await repo.findForTenant('globex', a.job.id)).toBeNull();
  });

  it('racing submissions of one key (ids derived from tenant and key, as JobsService makes them) create one job; a key of a job stored under another id is found', async () => {
    const keyed = (key: string) => ({ ...newJob('acme', key), id: newJobId('acme', key) });
    const results = await Promise.all(Array.from({ length: 10 }, () => repo.create(keyed('race-1'))));
    expect(results.filter((r) => r.created)).toHaveLength(1);
    expect(new Set(results.map((r) => r.job.id))).toEqual(new Set([newJobId('acme', 'race-1')]));
    expect(newJobId('acme', 'race-1')).toMatch(/^[0-9a-f]{8}-[0-9a-f]{4}-4[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}$/);
    expect(newJobId('globex', 'race-1')).not.toBe(newJobId('acme', 'race-1'));
    // A job stored before ids derived from keys (a random id): a repeat finds it by its key.
    const legacy = await repo.create(newJob('acme', 'old-key'));
    expect(await repo.create(keyed('old-key'))).toEqual({ job: expect.objectContaining({ id: legacy.job.id }), created: false });
  });

  it('a CAS conflict writes nothing', async () => {
    const { job } = await repo.create(newJob());
    const next = applyEvent(job.snapshot, { type: 'START_PLANNING' });
    const change = {
      state: next.state,
      snapshot: next.snapshot,
      machineVersion: JOB_MACHINE_VERSION,
      error: null,
      transitions: next.transitions.map((t) => ({ ...t, at: new Date().toISOString(), attempt: 1 })),
    };
    const first = await repo.commit(job, change);
    expect(first).toEqual(expect.objectContaining({ version: 1, state: 'PLANNING' }));
    const before = await db.collection('jobs').findOne({ _id: job.id as never });
    const cancel = applyEvent(job.snapshot, { type: 'MARK_CANCELLED' });
    const stale = await repo.commit(job, { ...change, state: cancel.state, snapshot: cancel.snapshot });
    expect(stale).toBeNull();
    const after = await db.collection('jobs').findOne({ _id: job.id as never });
    expect(after).toEqual(before);
  });

  it('exactly one of many concurrent writers of a version wins, and history stays in step with state', async () => {
    // FerretDB v1's findOneAndUpdate lets several racing writers "win"; the claim makes it one.
    const others: MongoJobRepository[] = [];
    for (let round = 0; round < 20; round++) {
      const { job } = await repo.create(newJob());
      const next = applyEvent(job.snapshot, { type: 'MARK_CANCELLED' });
      // Half share one repository (their claims go in one insertMany), half have their own (as separate processes).
      const results = await Promise.all(
        Array.from({ length: 10 }, (_, i) =>
          (i % 2 ? repo : others[others.push(new MongoJobRepository(db)) - 1]).commit(job, {
            state: next.state,
            snapshot: next.snapshot,
            machineVersion: JOB_MACHINE_VERSION,
            error: null,
            transitions: next.transitions.map((t) => ({ ...t, at: new Date().toISOString(), attempt: i })),
          }),
        ),
      );
      const winners = results.filter(Boolean);
      expect(winners).toHaveLength(1);
      const stored = await repo.findById(job.id);
      expect(stored!.version).toBe(1);
      expect(stored!.state).toBe('CANCELLED');
      expect(stored!.history).toHaveLength(1);
      expect(stored!.history[0]).toEqual(expect.objectContaining({ from: 'QUEUED', to: 'CANCELLED', event: 'MARK_CANCELLED', attempt: winners[0]!.history[0].attempt }));
    }
    await Promise.all([repo, ...others].map((r) => r.flushClaims()));
    expect(await db.collection('job_commits').countDocuments()).toBe(0); // claims are cleaned up
  });

  it('claims batched in one insert win or lose each on its own', async () => {
    const jobs = await Promise.all([0, 1, 2].map(async () => (await repo.create(newJob())).job));
    // Another writer already holds version 0 of the middle job.
    await db.collection('job_commits').insertOne({ _id: `${jobs[1].id}:0` as never, jobId: jobs[1].id, fromVersion: 0, at: new Date(), set: {} });
    const results = await Promise.all(
      jobs.map((job) => {
        const next = applyEvent(job.snapshot, { type: 'START_PLANNING' });
        return repo.commit(job, { state: next.state, snapshot: next.snapshot, machineVersion: JOB_MACHINE_VERSION, error: null, transitions: [] });
      }),
    );
    expect(results.map((r) => r?.version ?? null)).toEqual([1, null, 1]);
    expect((await repo.findById(jobs[1].id))!.version).toBe(0);
    await db.collection('job_commits').deleteOne({ _id: `${jobs[1].id}:0` as never });
  });

  it('applied claims are deleted later, in one batch; one lost with its process is deleted by the sweeper without effect', async () => {
    const lazy = new MongoJobRepository(db, { claimCleanupDelayMs: 60_000 });
    const { job } = await lazy.create(newJob());
    const commitEvent = async (from: JobRecord, type: 'START_PLANNING' | 'MARK_CANCELLED') => {
      const next = applyEvent(from.snapshot, { type });
      const t = next.transitions.map((x) => ({ ...x, at: new Date().toISOString(), attempt: 1 }));
      return lazy.commit(from, { state: next.state, snapshot: next.snapshot, machineVersion: JOB_MACHINE_VERSION, error: null, transitions: t });
    };
    const v1 = await commitEvent(job, 'START_PLANNING');
    const v2 = await commitEvent(v1!, 'MARK_CANCELLED'); // the next version commits while the last claim still exists
    expect(v2).toEqual(expect.objectContaining({ version: 2, state: 'CANCELLED' }));
    const claims = db.collection('job_commits');
    expect((await claims.find({ jobId: job.id }).toArray()).map((c) => c._id).sort()).toEqual([`${job.id}:0`, `${job.id}:1`]);
    expect(await commitEvent(job, 'MARK_CANCELLED')).toBeNull(); // version 0 is still refused
    await lazy.flushClaims();
    expect(await claims.countDocuments({ jobId: job.id })).toBe(0);

    // A batch that never ran (its process died): the sweeper finds the job past the claim, deletes it, applies nothing.
    const v3 = await repo.create(newJob());
    const applied = await commitEvent(v3.job, 'START_PLANNING');
    await claims.updateOne({ _id: `${v3.job.id}:0` as never }, { $set: { at: new Date(Date.now() - 60_000) } });
    expect(await repo.rollForwardStale(30_000, 100)).toBe(0);
    expect(await claims.countDocuments({ jobId: v3.job.id })).toBe(0);
    expect(await repo.findById(v3.job.id)).toEqual(expect.objectContaining({ version: 1, state: applied!.state, history: applied!.history }));
  });

  it('a commit whose writer died after claiming its version is rolled forward, once', async () => {
    const { job } = await repo.create(newJob());
    const next = applyEvent(job.snapshot, { type: 'START_PLANNING' });
    const transitions = next.transitions.map((t) => ({ ...t, at: new Date().toISOString(), attempt: 1 }));
    // The writer claimed version 0 a minute ago and died before writing the job.
    await db.collection('job_commits').insertOne({
      _id: `${job.id}:0` as never,
      jobId: job.id,
      fromVersion: 0,
      at: new Date(Date.now() - 60_000),
      set: { state: next.state, snapshot: next.snapshot, machineVersion: JOB_MACHINE_VERSION, error: null, history: transitions, version: 1, updatedAt: new Date() },
    });
    // Nobody else can commit version 0 meanwhile.
    const cancel = applyEvent(job.snapshot, { type: 'MARK_CANCELLED' });
    expect(await repo.commit(job, { state: cancel.state, snapshot: cancel.snapshot, machineVersion: JOB_MACHINE_VERSION, error: null, transitions: [] })).toBeNull();
    expect(await repo.rollForwardStale(30_000, 100)).toBe(1);
    expect(await repo.rollForwardStale(30_000, 100)).toBe(0);
    const stored = await repo.findById(job.id);
    expect(stored).toEqual(expect.objectContaining({ version: 1, state: 'PLANNING', history: transitions }));
    // A writer that read version 0 long ago can no longer commit it.
    expect(await repo.commit(job, { state: cancel.state, snapshot: cancel.snapshot, machineVersion: JOB_MACHINE_VERSION, error: null, transitions: [] })).toBeNull();
    expect((await repo.findById(job.id))!.state).toBe('PLANNING');
  });

  it('a snapshot of every state round-trips through the server and restores', async () => {
    const all = await snapshotsOfEveryState();
    for (const [state, snapshot] of Object.entries(all) as [JobState, typeof all.QUEUED][]) {
      const record = { ...newJob(), state, snapshot };
      await repo.create(record);
      const raw = await db.collection('jobs').findOne({ _id: record.id as never });
      expect(JSON.stringify(raw)).not.toMatch(/"[^"]*\.[^"]*":|"\$/); // storable on FerretDB and MongoDB alike
      const loaded = await repo.findById(record.id);
      expect(loaded!.snapshot).toEqual(JSON.parse(JSON.stringify(snapshot)));
      const actor = createActor(jobMachine, { snapshot: loaded!.snapshot } as never);
      actor.start();
      expect(stateOf(actor.getSnapshot())).toBe(state);
      actor.stop();
    }
  });

  it('lists by tenant and state, newest first, with a cursor; rejects a forged cursor', async () => {
    const tenant = uniqueName('list');
    const ids: string[] = [];
    for (let i = 0; i < 5; i++) ids.push((await repo.create(newJob(tenant))).job.id);
    const page1 = await repo.list(tenant, { limit: 2 });
    const page2 = await repo.list(tenant, { limit: 2, cursor: page1.nextCursor! });
    const page3 = await repo.list(tenant, { limit: 2, cursor: page2.nextCursor! });
    const seen = [...page1.items, ...page2.items, ...page3.items].map((j) => j.id);
    expect(seen).toEqual([...ids].reverse());
    expect(page3.nextCursor).toBeNull();
    expect((await repo.list(tenant, { limit: 10, state: 'CODING' })).items).toEqual([]);
    expect((await repo.list(tenant, { limit: 10, state: 'QUEUED' })).items).toHaveLength(5);
    await expect(repo.list(tenant, { limit: 2, cursor: 'garbage!' })).rejects.toBeInstanceOf(InvalidCursorError);
  });

  it('pages stay exact and in order across the time windows the listing reads (newest first, ties by id)', async () => {
    // Pages of 3 over jobs from the last minutes to a month ago: the first windows hold fewer than
    // a page, so every page also takes the wider windows and the unbounded read.
    const tenant = uniqueName('windows');
    const ago = [0, 2 * 60_000, 2 * 3_600_000, 2 * 3_600_000, 3 * 86_400_000, 30 * 86_400_000, 30 * 86_400_000, 90 * 86_400_000];
    const now = Date.now();
    const made: JobRecord[] = [];
    for (const ms of ago) made.push((await repo.create({ ...newJob(tenant), updatedAt: new Date(now - ms) })).job);
    const expected = [...made].sort((a, b) => b.updatedAt.getTime() - a.updatedAt.getTime() || (a.id < b.id ? 1 : -1)).map((j) => j.id);
    const seen: string[] = [];
    let cursor: string | undefined;
    for (let pages = 0; pages < 10; pages++) {
      const page = await repo.list(tenant, { limit: 3, ...(cursor ? { cursor } : {}) });
      seen.push(...page.items.map((j) => j.id));
      if (!page.nextCursor) break;
      cursor = page.nextCursor;
    }
    expect(seen).toEqual(expected);
    // With a state filter and a time range, still exact.
    const recent = await repo.list(tenant, { limit: 2, state: 'QUEUED', updatedFrom: new Date(now - 4 * 86_400_000) });
    expect(recent.items.map((j) => j.id)).toEqual(expected.slice(0, 2));
  });

  it('findStale returns jobs in the given states not updated since the cut-off', async () => {
    const { job } = await repo.create({ ...newJob(), updatedAt: new Date(Date.now() - 60_000) });
    const stale = await repo.findStale(['QUEUED'], new Date(Date.now() - 30_000), 1000);
    expect(stale.map((j) => j.id)).toContain(job.id);
    const none = await repo.findStale(['CODING'], new Date(Date.now() - 30_000), 1000);
    expect(none.map((j) => j.id)).not.toContain(job.id);
  });

  it('a job leaves the sweeper scan and the admission count when it comes to rest, and enters them while in flight', async () => {
    const tenant = uniqueName('inflight');
    const { job } = await repo.create({ ...newJob(tenant), updatedAt: new Date(Date.now() - 60_000) });
    const cutOff = () => new Date(Date.now() + 1000);
    expect((await repo.findStale(['QUEUED'], cutOff(), 1000)).map((j) => j.id)).toContain(job.id);
    expect(await repo.countActive(tenant)).toBe(0); // QUEUED and not admitted
    const commitEvent = (from: JobRecord, type: 'START_PLANNING' | 'MARK_CANCELLED') => {
      const next = applyEvent(from.snapshot, { type });
      return repo.commit(from, { state: next.state, snapshot: next.snapshot, machineVersion: JOB_MACHINE_VERSION, error: null, transitions: [] });
    };
    const planning = await commitEvent(job, 'START_PLANNING');
    expect(planning?.state).toBe('PLANNING');
    expect((await repo.findStale(['PLANNING'], cutOff(), 1000)).map((j) => j.id)).toContain(job.id);
    expect(await repo.countActive(tenant)).toBe(1);
    const cancelled = await commitEvent(planning!, 'MARK_CANCELLED');
    expect(cancelled?.state).toBe('CANCELLED');
    expect((await repo.findStale(['QUEUED', 'PLANNING', 'CODING', 'REVIEWING', 'PR_OPEN'], cutOff(), 1000)).map((j) => j.id)).not.toContain(job.id);
    expect(await repo.countActive(tenant)).toBe(0);
    expect(await db.collection('jobs').findOne({ _id: job.id as never })).toMatchObject({ sweepAt: null, inFlightTenantId: null });
  });

  it('jobs in flight stored before the in-flight fields existed get them at startup; jobs at rest need none', async () => {
    const tenant = uniqueName('legacy');
    const at = new Date(Date.now() - 120_000);
    const legacy = (id: string, state: JobState) => ({ _id: id, tenantId: tenant, idempotencyKey: id, repositoryId: 'acme/widgets', state, version: 3, machineVersion: JOB_MACHINE_VERSION, snapshot: {}, history: [], error: null, createdAt: at, updatedAt: at });
    const [coding, completed] = [newJobId(tenant, uniqueName('c')), newJobId(tenant, uniqueName('d'))];
    await db.collection('jobs').insertMany([legacy(coding, 'CODING'), legacy(completed, 'COMPLETED')] as never[]);
    expect(await repo.countActive(tenant)).toBe(0); // not seen before the backfill
    await new MongoJobRepository(db).ensureIndexes(); // a process of the new version starts
    expect(await db.collection('jobs').findOne({ _id: coding as never })).toMatchObject({ sweepAt: at, inFlightTenantId: tenant, version: 3 });
    expect(await db.collection('jobs').findOne({ _id: completed as never })).not.toHaveProperty('sweepAt');
    expect(await repo.countActive(tenant)).toBe(1);
    expect((await repo.findStale(['CODING'], new Date(), 1000)).map((j) => j.id)).toContain(coding);
  });
});
