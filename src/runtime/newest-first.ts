import type { Collection, Document, Filter, WithId } from 'mongodb';

/**
 * The look-back windows (ms before the newest possible `updatedAt`) of {@link newestFirst}: one
 * hour, one day, one week; then no bound.
 */
export const NEWEST_FIRST_WINDOWS_MS = [3_600_000, 86_400_000, 604_800_000] as const;

/** Per listing key (collection and tenant): the window index that answered last time. */
const startAt = new Map<string, number>();
/** Keys remembered at most (the oldest forgotten first). */
const MAX_KEYS = 10_000;

/**
 * The first `limit` documents matching `filter`, newest `field` (a date; default `updatedAt`)
 * first, ties by `_id` descending — the page of a listing, or the latest entries of a history —
 * read in widening time windows.
 *
 * Why: FerretDB v2 + DocumentDB answers `find(filter).sort({ updatedAt: -1 }).limit(n)` by reading
 * and sorting every match before the limit (documentdb/documentdb#191; explain: Limit → Sort →
 * Index Scan), so a tenant's first page took 0.3–1.3 s with 100,000 jobs (BENCHMARKS.md). Bounding
 * `updatedAt` from below lets the index give only the window's entries: the same page in ~20 ms
 * when the last hour holds it. The page is exact: a window that holds at least `limit` matches holds
 * the newest `limit` of them all, since every match outside it is older than every match inside.
 * Otherwise the next window is tried, and the last query has no bound (the old cost, for a
 * listing whose matches are mostly old). The window that answered is remembered per `key` (a
 * tenant), so the next page starts there: one query for a tenant whose listing is dense (the
 * narrowest window that holds a page) or sparse (no bound) alike; a start that no longer holds a
 * page widens, and one narrower than needed is tried when the page fits in it. On MongoDB, where
 * the index already stops at the limit, every window is cheap.
 *
 * @param key what the listing belongs to (e.g. a tenant id), for the remembered window.
 * @param options.newest the newest `field` value the page can hold (a cursor's position), default
 *   now; a document dated later (clock skew between processes) is still matched — windows bound
 *   only from below.
 * @param options.field the date field the page is ordered by, default `updatedAt`.
 * @param options.projection fields to read (the `field` is added), default all.
 * @returns at most `limit` documents.
 */
export async function newestFirst<D extends Document>(
  collection: Collection<D>,
  key: string,
  filter: Filter<D>,
  limit: number,
  { newest = new Date(), field = 'updatedAt', projection }: { newest?: Date; field?: string; projection?: Document } = {},
): Promise<WithId<D>[]> {
  const page = (f: Filter<D>) => collection.find(f, projection ? { projection: { ...projection, [field]: 1 } } : {}).sort({ [field]: -1, _id: -1 }).limit(limit).toArray();
  const remembered = `${collection.collectionName}\n${key}`;
  const windows = NEWEST_FIRST_WINDOWS_MS.length;
  for (let i = startAt.get(remembered) ?? 0; i <= windows; i++) {
    const bounded = i < windows;
    const lower = new Date(newest.getTime() - (bounded ? NEWEST_FIRST_WINDOWS_MS[i] : 0));
    const docs = await page(bounded ? ({ $and: [filter, { [field]: { $gte: lower } }] } as Filter<D>) : filter);
    if (docs.length < limit && bounded) continue;
    // Next time start at the narrowest window that would have held this page.
    const oldest = docs.length >= limit ? (docs[docs.length - 1] as Record<string, unknown>)[field] : undefined;
    let next = i;
    while (next > 0 && oldest instanceof Date && oldest.getTime() >= newest.getTime() - NEWEST_FIRST_WINDOWS_MS[next - 1]) next--;
    startAt.delete(remembered);
    startAt.set(remembered, next);
    if (startAt.size > MAX_KEYS) startAt.delete(startAt.keys().next().value as string);
    return docs;
  }
  return []; // not reached: the unbounded read returns
}
