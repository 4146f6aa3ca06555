/**
 * Every hot query has an index that it uses (issue "A store with real indexes"), checked with
 * `explain` on a server with real indexes: FerretDB v2 + DocumentDB (a private instance from
 * ../shared/docdb, or the suite's own server when it is one), or MongoDB.
 *
 * The queries are not restated here: the repositories' own methods run against a seeded
 * database (5,000 jobs, 5,000 stage attempts, 2,000 runs, 5,000 step attempts of other tenants),
 * the commands they send are captured with the driver's command monitoring, and each captured
 * `find` / `count` / `aggregate` is sent again as `explain` (an `update` as a `find` with its
 * filter: DocumentDB does not explain updates, and the filter decides the scan). The plan must name an index
 * and contain no sequential scan. On FerretDB v1 (which scans every query) the test is skipped
 * with a message.
 */
import * as path from 'node:path';
import { MongoClient, type Db, type Document } from 'mongodb';
import { MongoJobRepository } from '../../src/jobs/mongo-job.repository';
import { detectStoreServer } from '../../src/jobs/store-server';
import { MongoStageAttemptRepository } from '../../src/attempts/mongo-stage-attempt.repository';
import { MongoRunRepository } from '../../src/runs/mongo-run.repository';
import { StepAttemptRepository } from '../../src/runs/step-attempts';
import { StepDurations } from '../../src/runs/step-durations';
import { docdbDir, hasDocumentDb, startDocumentDb, type DocumentDbInstance } from '../../scripts/lib/docdb';
import { uniqueName } from '../support/test-app';
import { inFlightFields } from '../../src/jobs/job-document';

const ROOT = path.resolve(__dirname, '..', '..');
const EXPLAINED = new Set(['find', 'count', 'aggregate', 'update', 'delete']);

/**
 * The index that must serve a hot path, where one index is meant for it (any index that merely
 * contains a filtered field could otherwise pass: DocumentDB's indexes answer a condition on any
 * of their fields). Paths not named here pass with any index and no sequential scan.
 */
const SERVED_BY: Record<string, string[]> = {
  'job stage read (findById)': ['_id_'],
  'job commit (updateOne { _id, version })': ['_id_'],
  'job sweeper scan (findStale)': ['sweep_at'],
  'admission count (countActive)': ['in_flight_tenant', 'tenant'], // jobs; job_admissions by tenant
  'stale stage attempts (sweeper)': ['sweep_at'],
  'run sweeper scan (findStale)': ['sweep_at'],
  "a template's last ended runs (its quarantine at admission)": ['tenant_template_updated'],
  'dead step attempts (sweeper)': ['sweep_at'],
  'recently lost step attempts (sweeper)': ['status_heartbeat'],
  'step attempts of a visit': ['run_step_visit'],
  'step durations for the ETA': ['_id_'],
  "router's auto: a tool's newest successes": ['tool_ended'],
  'step attempts of a run (durations recorded at its end)': ['run_started', 'run_step_visit'],
  'job by branch (webhooks)': ['repository_branch'],
};

/** Every `Node Type` and `Index Name` in a plan (PostgreSQL's EXPLAIN as DocumentDB returns it, or MongoDB's winningPlan stages). */
function planNodes(plan: unknown, out: { nodes: string[]; indexes: string[] } = { nodes: [], indexes: [] }) {
  if (Array.isArray(plan)) for (const p of plan) planNodes(p, out);
  else if (plan && typeof plan === 'object') {
    for (const [k, v] of Object.entries(plan as Record<string, unknown>)) {
      if ((k === 'Node Type' || k === 'stage') && typeof v === 'string') out.nodes.push(v);
      else if ((k === 'Index Name' || k === 'indexName') && typeof v === 'string') out.indexes.push(v);
      else planNodes(v, out);
    }
  }
  return out;
}

/** Seeded records in flight (the sweepers' and the admission count's concern): one in `IN_FLIGHT_EVERY`, as in a store that has run for a while. */
const IN_FLIGHT_EVERY = 20;
const SWEPT_STATES = ['QUEUED', 'PLANNING', 'CODING', 'REVIEWING', 'PR_OPEN'] as const;
const FINISHED_STATES = ['COMPLETED', 'FAILED', 'CANCELLED'] as const;

/** The documents as the repositories write them (their in-flight fields included). */
async function seed(db: Db): Promise<void> {
  const now = Date.now();
  const inFlight = (i: number) => i % IN_FLIGHT_EVERY === 0;
  await db.collection('jobs').insertMany(
    Array.from({ length: 5000 }, (_, i) => {
      const state = inFlight(i) ? SWEPT_STATES[(i / IN_FLIGHT_EVERY) % SWEPT_STATES.length] : FINISHED_STATES[i % FINISHED_STATES.length];
      const updatedAt = new Date(now - i * 1000);
      return {
        _id: `job-${i}`, tenantId: `tenant-${i % 50}`, idempotencyKey: `k-${i}`, repositoryId: `org/repo-${i % 20}`, branch: `aicd/${i}`,
        state, version: i % 7, createdAt: updatedAt, updatedAt, ...inFlightFields(state, `tenant-${i % 50}`, updatedAt),
      };
    }) as never[],
  );
  await db.collection('stage_attempts').insertMany(
    Array.from({ length: 5000 }, (_, i) => ({ _id: `att-${i}`, jobId: `job-${i}`, stage: 'coding', version: 1, status: inFlight(i) ? 'running' : 'succeeded', startedAt: new Date(now - i * 1000), heartbeatAt: new Date(now - i * 1000), sweepAt: inFlight(i) ? new Date(now - i * 1000) : null })) as never[],
  );
  await db.collection('runs').insertMany(
    Array.from({ length: 2000 }, (_, i) => ({ _id: `run-${i}`, tenantId: `tenant-${i % 50}`, template: { owner: 'builtin', name: `tpl-${i % 5}`, version: 1 }, status: inFlight(i) ? 'running' : 'succeeded', version: 3, updatedAt: new Date(now - i * 1000), sweepAt: inFlight(i) ? new Date(now - i * 1000) : null })) as never[],
  );
  await db.collection('step_attempts').insertMany(
    Array.from({ length: 5000 }, (_, i) => ({
      _id: `run-${i % 2000}:s${i % 7}:1:1`, runId: `run-${i % 2000}`, step: `s${i % 7}`, templateStep: `s${i % 7}`, visit: 1, attempt: 1, template: `tpl-${i % 5}`, tool: i % 2 ? 'shell' : 'function',
      status: inFlight(i) ? 'running' : 'succeeded', startedAt: new Date(now - i * 1000), heartbeatAt: new Date(now - i * 1000), sweepAt: inFlight(i) ? new Date(now - i * 1000) : null, endedAt: new Date(now - i * 900), durationMs: 100,
    })) as never[],
  );
}

describe('hot queries use an index (explain on a server with real indexes)', () => {
  let instance: DocumentDbInstance | undefined;
  let client: MongoClient | undefined;

  afterAll(async () => {
    await client?.close();
    instance?.stop();
  });

  it('stage read, commit, sweeper scans, admission count, listings, attempts: every captured command is an index scan', async () => {
    // The suite's server when it has real indexes, else a private FerretDB v2 + DocumentDB.
    let uri = process.env.MONGODB_URI!;
    const probe = await MongoClient.connect(uri);
    const suiteServer = await detectStoreServer(probe.db('admin')).finally(() => probe.close());
    if (!suiteServer.atomicUpdates) {
      if (!hasDocumentDb(ROOT)) {
        console.warn(`skipped: the suite's server (${`${suiteServer.product} ${suiteServer.version}`}) scans every query, and FerretDB v2 + DocumentDB is not at ${docdbDir(ROOT)} (set DOCDB_DIR)`);
        return;
      }
      instance = await startDocumentDb(docdbDir(ROOT), 'aicd-indexes-test');
      uri = instance.uri;
    }
    client = new MongoClient(uri, { monitorCommands: true });
    await client.connect();
    const db = client.db(uniqueName('idx'));
    const jobs = new MongoJobRepository(db);
    jobs.useAtomicCommits(true);
    const stageAttempts = new MongoStageAttemptRepository(db);
    const runs = new MongoRunRepository(db);
    const stepAttempts = new StepAttemptRepository(db);
    const stepDurations = new StepDurations(db, stepAttempts);
    await stepDurations.ensureCollection();
    await Promise.all([jobs.ensureIndexes(), stageAttempts.ensureIndexes(), runs.ensureIndexes(), stepAttempts.ensureIndexes()]);
    await seed(db);

    // What each hot path sends, with arguments that match nothing (so no document is decoded).
    const captured: { label: string; command: Document }[] = [];
    let label = '';
    client.on('commandStarted', (e) => {
      if (EXPLAINED.has(e.commandName) && e.databaseName === db.databaseName) captured.push({ label, command: e.command });
    });
    const hot: [string, () => Promise<unknown>][] = [
      ['job stage read (findById)', () => jobs.findById('none')],
      ['job read by tenant (findForTenant)', () => jobs.findForTenant('tenant-1', 'none')],
      ['job by branch (webhooks)', () => jobs.findByBranch('org/none', 'aicd/none')],
      ['job list', () => jobs.list('tenant-none', { limit: 50 } as never)],
      ['job list by state and repository', () => jobs.list('tenant-none', { limit: 50, state: 'QUEUED', repositoryId: 'org/repo-1' } as never)],
      ['job counts by state', () => jobs.countByState('tenant-none', {} as never)],
      ['job sweeper scan (findStale)', () => jobs.findStale(['QUEUED', 'PLANNING', 'CODING'], new Date(0), 100)],
      ['admission count (countActive)', () => jobs.countActive('tenant-none')],
      ['stage attempts of a job', () => stageAttempts.listForJob('none')],
      ['stale stage attempts (sweeper)', () => stageAttempts.findStale(new Date(0), 100)],
      ['live stage attempt (redelivery)', () => stageAttempts.findLive('none', 1, new Date(0))],
      ['earlier failed usage', () => stageAttempts.failedUsage('none', 'coding', 1)],
      ['run read', () => runs.findById('none')],
      ['run list', () => runs.list({ tenantId: 'tenant-none', limit: 50 } as never)],
      ['run sweeper scan (findStale)', () => runs.findStale(['running'], new Date(0), 100)],
      ["a template's last ended runs (its quarantine at admission)", () => runs.lastEnded('tenant-none', 'tpl-none', 3)],
      ['step attempts of a visit', () => stepAttempts.listForVisit('none', 's1', 1)],
      ['dead step attempts (sweeper)', () => stepAttempts.findDead(new Date(0), 100)],
      ['recently lost step attempts (sweeper)', () => stepAttempts.findRecentlyLost(new Date(), 100)],
      ['step durations for the ETA', () => stepDurations.medians('tenant-none', 'tpl-none', ['s1'])],
      ["router's auto: a tool's newest successes", () => stepAttempts.medianByTool(['tool-none'])],
      ['step attempts of a run (durations recorded at its end)', () => stepAttempts.listForRun('none')],
    ];
    for (const [name, run] of hot) {
      label = name;
      await run();
    }
    // The commit: one updateOne({ _id, version }) on an atomic server.
    label = 'job commit (updateOne { _id, version })';
    await db.collection('jobs').updateOne({ _id: 'job-1', version: -1 } as never, { $set: { state: 'QUEUED' } });
    label = '';

    const problems: string[] = [];
    const seen = new Set<string>();
    for (const { label: name, command } of captured) {
      const { lsid: _l, $clusterTime: _c, $db: _d, txnNumber: _t, ...raw } = command as Record<string, unknown>;
      // DocumentDB does not explain an update: its filter decides the scan, so it is explained as a find.
      const updates = raw.updates as { q: Document }[] | undefined;
      const cmd = raw.update && updates ? { find: raw.update, filter: updates[0].q, limit: 1 } : raw;
      const explained = await db.command({ explain: cmd, verbosity: 'queryPlanner' });
      const { nodes, indexes } = planNodes(explained.queryPlanner ?? explained);
      seen.add(name);
      const meant = SERVED_BY[name];
      if (indexes.length === 0 || nodes.some((n) => n === 'Seq Scan' || n === 'COLLSCAN') || (meant && !indexes.some((i) => meant.includes(i)))) {
        problems.push(`${name}: ${JSON.stringify(cmd).slice(0, 300)} → nodes ${nodes.join(', ')}; indexes ${indexes.join(', ') || 'none'}`);
      }
    }
    expect(problems).toEqual([]);
    // Every hot path sent at least one command that was explained.
    expect([...hot.map(([n]) => n), 'job commit (updateOne { _id, version })'].filter((n) => !seen.has(n))).toEqual([]);

    console.log(`hot queries: ${captured.length} commands of ${seen.size} hot paths explained on ${suiteServer.atomicUpdates ? `${suiteServer.product} ${suiteServer.version}` : 'a private FerretDB v2 + DocumentDB'}, every one an index scan`);
    await db.dropDatabase();
  }, 240_000);
});
