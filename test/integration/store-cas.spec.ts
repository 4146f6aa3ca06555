import * as path from 'node:path';
import { Db, MongoClient } from 'mongodb';
import { JOB_MACHINE_VERSION } from '../../src/lifecycle/job.machine';
import { applyEvent, createJobSnapshot } from '../../src/lifecycle/job.runtime';
import type { JobRecord } from '../../src/jobs/job.record';
import { MongoJobRepository } from '../../src/jobs/mongo-job.repository';
import { detectStoreServer } from '../../src/jobs/store-server';
import { docdbDir, hasDocumentDb, startDocumentDb, type DocumentDbInstance } from '../../scripts/lib/docdb';
import { input } from '../support/machine-drivers';
import { uniqueName } from '../support/test-app';

const ROOT = path.resolve(__dirname, '..', '..');

let n = 0;
function newJob(): JobRecord {
  const id = `00000000-0000-4000-9000-${String(++n).padStart(12, '0')}`;
  const s = createJobSnapshot({ ...input(), jobId: id, tenantId: 'acme' });
  const now = new Date();
  return { id, tenantId: 'acme', idempotencyKey: id, repositoryId: 'acme/widgets', state: s.state, version: 0, machineVersion: JOB_MACHINE_VERSION, snapshot: s.snapshot, history: [], error: null, createdAt: now, updatedAt: now };
}

/** 20 rounds of 10 writers committing the same version at once: @returns the winners per round. */
async function race(repo: MongoJobRepository): Promise<number[]> {
  const winners: number[] = [];
  for (let round = 0; round < 20; round++) {
    const { job } = await repo.create(newJob());
    const next = applyEvent(job.snapshot, { type: 'MARK_CANCELLED' });
    const results = await Promise.all(
      Array.from({ length: 10 }, (_, i) =>
        repo.commit(job, { state: next.state, snapshot: next.snapshot, machineVersion: JOB_MACHINE_VERSION, error: null, transitions: next.transitions.map((t) => ({ ...t, at: new Date().toISOString(), attempt: i })) }),
      ),
    );
    winners.push(results.filter(Boolean).length);
    const stored = await repo.findById(job.id);
    expect(stored!.version).toBe(1);
    expect(stored!.history).toHaveLength(1);
  }
  return winners;
}

describe('the compare-and-set is chosen from the server', () => {
  it('the suite\'s server is detected, and the repository commits with the matching compare-and-set', async () => {
    const client = await MongoClient.connect(process.env.MONGODB_URI!);
    try {
      const db = client.db(uniqueName('cas'));
      const server = await detectStoreServer(db);
      const repo = new MongoJobRepository(db);
      repo.useAtomicCommits(server.atomicUpdates);
      expect(repo.commitMode).toBe(server.atomicUpdates ? 'one-operation' : 'version-claim');
      expect(await race(repo)).toEqual(Array(20).fill(1));
      await repo.flushClaims();
      expect(await db.collection('job_commits').countDocuments()).toBe(0);
      await db.dropDatabase();
    } finally {
      await client.close();
    }
  });

  // FerretDB v2 + DocumentDB from ../shared/docdb (this machine kind's tool library): an atomic
  // server, so commits are one updateOne each and no claim is ever written.
  const docdb = hasDocumentDb(ROOT) ? describe : describe.skip;
  if (!hasDocumentDb(ROOT)) console.log(`store-cas: ${docdbDir(ROOT)} not found — the one-operation compare-and-set test on DocumentDB is skipped`);
  docdb('on FerretDB v2 + DocumentDB', () => {
    let instance: DocumentDbInstance | undefined;
    let client: MongoClient;
    let db: Db;
    beforeAll(async () => {
      instance = await startDocumentDb(docdbDir(ROOT), 'aicd-test-docdb');
      client = await MongoClient.connect(instance.uri);
      db = client.db(uniqueName('cas'));
    }, 300_000);
    afterAll(async () => {
      await client?.close();
      instance?.stop();
    });

    it('is detected as atomic; exactly one of 10 racing one-operation writers wins each of 20 rounds, and no claim is written', async () => {
      const server = await detectStoreServer(db);
      expect(server).toEqual(expect.objectContaining({ product: 'FerretDB', atomicUpdates: true }));
      expect(server.version).toMatch(/^v2\./);
      const repo = new MongoJobRepository(db);
      await repo.ensureIndexes();
      repo.useAtomicCommits(true);
      expect(await race(repo)).toEqual(Array(20).fill(1));
      expect(await db.collection('job_commits').countDocuments()).toBe(0); // one operation: no claims at all
    }, 120_000);
  });
});
