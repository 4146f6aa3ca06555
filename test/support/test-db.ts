import { Db, MongoClient, type MongoClientOptions } from 'mongodb';
import { uniqueName } from './test-app';

/** What {@link useTestDatabase} gives a describe block (set in its beforeAll). */
export interface TestDatabase<R> {
  client: MongoClient;
  db: Db;
  repo: R;
}

/**
 * A private database on the test MongoDB-wire server (MONGODB_URI) for one describe block: in
 * beforeAll it connects, makes the repository on a fresh database named after `label` and creates
 * its indexes; in afterAll it drops the database and closes the client. Call it inside `describe`,
 * before any hook that uses the result.
 */
export function useTestDatabase<R extends { ensureIndexes(): Promise<void> }>(label: string, makeRepo: (db: Db) => R, options: MongoClientOptions = {}): TestDatabase<R> {
  const t = {} as TestDatabase<R>;
  beforeAll(async () => {
    t.client = await MongoClient.connect(process.env.MONGODB_URI!, options);
    t.db = t.client.db(uniqueName(label));
    t.repo = makeRepo(t.db);
    await t.repo.ensureIndexes();
  });
  afterAll(async () => {
    await t.db?.dropDatabase();
    await t.client?.close();
  });
  return t;
}
