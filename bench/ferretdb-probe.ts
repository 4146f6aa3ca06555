/**
 * `npx tsx bench/ferretdb-probe.ts` (MONGODB_URI): what the job repository's two queries cost on
 * the MongoDB-wire server as the collection grows, and whether its compare-and-set is atomic
 * there. Uses a throw-away database, dropped at the end.
 *
 * Why: FerretDB v1 (SQLite backend) pushes a filter down to SQL only when it is exactly
 * `{ _id: <string|ObjectId> }`, so the CAS filter `{ _id, version }` reads every document; and
 * its findAndModify is read → filter in Go → write, not one transaction, so concurrent CAS calls
 * on the same version can all "win". MongoDB does neither.
 */
import { MongoClient } from 'mongodb';
import { randomBytes } from 'node:crypto';
import { performance } from 'node:perf_hooks';

async function main(): Promise<void> {
  const uri = process.env.MONGODB_URI;
  if (!uri) throw new Error('MONGODB_URI must be set');
  const sizes = (process.env.PROBE_SIZES ?? '1000,5000').split(',').map(Number);
  const client = await MongoClient.connect(uri, { maxPoolSize: 30 });
  const db = client.db(`probe_${randomBytes(3).toString('hex')}`);
  const jobs = db.collection<{ _id: string; version: number; snapshot: unknown; history: unknown[] }>('jobs');
  const ms = async (n: number, f: (i: number) => Promise<unknown>) => {
    const t = performance.now();
    for (let i = 0; i < n; i++) await f(i);
    return Math.round(((performance.now() - t) / n) * 100) / 100;
  };
  try {
    const rows: Record<string, unknown>[] = [];
    let inserted = 0;
    for (const size of sizes) {
      const docs = Array.from({ length: size - inserted }, (_, k) => ({ _id: `j${inserted + k}`, version: 0, snapshot: { pad: 'x'.repeat(3000) }, history: [] }));
      if (docs.length) await jobs.insertMany(docs);
      inserted = size;
      // The newest documents: what a running job is (FerretDB scans in insertion order).
      const id = (i: number) => `j${size - 1 - i}`;
      rows.push({
        documents: size,
        'findOne {_id} ms': await ms(20, (i) => jobs.findOne({ _id: id(i) })),
        'findOneAndUpdate {_id} ms': await ms(20, (i) => jobs.findOneAndUpdate({ _id: id(i) }, { $set: { x: 1 } }, { returnDocument: 'after' })),
        'findOneAndUpdate {_id, version} (the CAS) ms': await ms(20, (i) =>
          jobs.findOneAndUpdate({ _id: id(20 + i), version: 0 }, { $inc: { version: 1 }, $push: { history: { i } } }, { returnDocument: 'after' }),
        ),
      });
    }
    console.table(rows);
    await jobs.insertOne({ _id: 'race', version: 0, snapshot: {}, history: [] });
    const attempts = 20;
    const results = await Promise.all(
      Array.from({ length: attempts }, () => jobs.findOneAndUpdate({ _id: 'race', version: 0 }, { $inc: { version: 1 } }, { returnDocument: 'after' }).catch(() => null)),
    );
    const winners = results.filter((r) => r !== null).length;
    console.log(`${attempts} concurrent CAS on the same version: ${winners} won (atomic: exactly 1)`);
  } finally {
    await db.dropDatabase();
    await client.close();
  }
}

main().catch((e: unknown) => {
  console.error(e);
  process.exit(1);
});
