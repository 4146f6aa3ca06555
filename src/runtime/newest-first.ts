import type { Collection, Document, Filter, WithId } from 'mongodb';

/**
 * The look-back windows (ms before the newest possible `updatedAt`) of {@link newestFirst}: one
 * hour, one day, one week; then no bound.
 */
export const NEWEST_FIRST_WINDOWS_MS = [3_600_000, 86_400_000, 604_800_000] as const;

/**
 * The first `limit` documents matching `filter`, newest `updatedAt` first (ties by `_id`,
 * descending) — the page of a listing — read in widening time windows.
 *
 * Why: FerretDB v2 + DocumentDB answers `find(filter).sort({ updatedAt: -1 }).limit(n)` by reading
 * and sorting every match before the limit (documentdb/documentdb#191; explain: Limit → Sort →
 * Index Scan), so a tenant's first page took 0.3–1.3 s with 100,000 jobs (BENCHMARKS.md). Bounding
 * `updatedAt` from below lets the index give only the window's entries: the same page in ~20 ms
 * when the last hour holds it. The page is exact: a window that holds at least `limit` matches holds
 * the newest `limit` of them all, since every match outside it is older than every match inside.
 * Otherwise the next window is tried, and the last query has no bound (the old cost, for a
 * listing whose matches are mostly old). On MongoDB, where the index already stops at the limit,
 * the first window usually answers.
 *
 * @param newest the newest `updatedAt` the page can hold (a cursor's position), default now; a
 *   document dated later (clock skew between processes) is still matched — windows bound only
 *   from below.
 * @returns at most `limit` documents.
 */
export async function newestFirst<D extends Document>(collection: Collection<D>, filter: Filter<D>, limit: number, newest: Date = new Date()): Promise<WithId<D>[]> {
  const page = (f: Filter<D>) => collection.find(f).sort({ updatedAt: -1, _id: -1 }).limit(limit).toArray();
  for (const windowMs of NEWEST_FIRST_WINDOWS_MS) {
    const docs = await page({ $and: [filter, { updatedAt: { $gte: new Date(newest.getTime() - windowMs) } }] } as Filter<D>);
    if (docs.length >= limit) return docs;
  }
  return page(filter);
}
