import type { Collection, Document, Filter, UpdateFilter, WithId } from 'mongodb';

/**
 * Gives `field` to the documents that match `filter` and lack it (documents written before the
 * field existed), one single-document `updateOne` each — no multi-document write, which neither
 * FerretDB line makes atomic. Each update is filtered on the document as it was read: on `guard`
 * (e.g. its `version`, or its `status` and `heartbeatAt`) and on the field still missing, so a
 * concurrent writer, which sets the field itself, wins.
 * @param guard the fields of the read document that must still hold (the `_id` always does).
 * @param set the fields to set, from the read document (it carries `guard`'s fields and `reads`).
 * @returns how many documents were updated.
 * @throws what the driver throws.
 */
export async function backfillMissing<D extends Document>(
  collection: Collection<D>,
  field: string,
  filter: Filter<D>,
  guard: string[],
  reads: string[],
  set: (doc: WithId<D>) => Record<string, unknown>,
): Promise<number> {
  const missing = { [field]: { $exists: false } };
  const projection = Object.fromEntries(['_id', ...guard, ...reads].map((f) => [f, 1]));
  let updated = 0;
  for await (const doc of collection.find({ ...filter, ...missing } as Filter<D>, { projection })) {
    const still = Object.fromEntries(guard.map((f) => [f, (doc as Record<string, unknown>)[f]]));
    const r = await collection.updateOne({ _id: doc._id, ...still, ...missing } as Filter<D>, { $set: set(doc) } as UpdateFilter<D>);
    updated += r.modifiedCount;
  }
  return updated;
}
