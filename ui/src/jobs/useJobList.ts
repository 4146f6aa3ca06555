import { useCallback, useState } from 'react';
import { api, type JobFilters } from '../api/endpoints';
import type { JobCounts } from '../api/types';
import { useDebounced, useResource, type Resource } from '../common/useResource';
import { useLiveEvents } from '../live/LiveEvents';
import { applyJobEvent, rowOf, type JobRow } from './filters';

export const PAGE_SIZE = 25;

export interface JobList {
  rows: Resource<{ rows: JobRow[]; nextCursor: string | null }>;
  counts: Resource<JobCounts>;
  cursor: string | undefined;
  nextPage: () => void;
  firstPage: () => void;
}

/**
 * A page of the tenant's jobs and the counts per state for `filters`, kept current by the live
 * `job` events: rows are patched in place, the counts reloaded (debounced) — no polling.
 */
export function useJobList(filters: JobFilters): JobList {
  const filterKey = JSON.stringify(filters);
  const [paging, setPaging] = useState<{ filterKey: string; cursor: string | undefined }>({ filterKey, cursor: undefined });
  // New filters start on the first page.
  const cursor = paging.filterKey === filterKey ? paging.cursor : undefined;

  const rows = useResource(
    async (signal) => {
      const page = await api.listJobs(filters, { limit: PAGE_SIZE, cursor }, signal);
      return { rows: page.items.map(rowOf), nextCursor: page.nextCursor };
    },
    `${filterKey}|${cursor ?? ''}`,
  );
  const counts = useResource((signal) => api.countJobs(filters, signal), filterKey);
  const reloadCounts = useDebounced(counts.reload, 300);

  useLiveEvents(
    (e) => {
      if (e.kind !== 'job') return;
      // Still loading: load once more after it, so the answer is not older than the event.
      if (!rows.data) rows.reload();
      else rows.setData((prev) => (prev ? { ...prev, rows: applyJobEvent(prev.rows, e, filters, cursor === undefined) } : { rows: [], nextCursor: null }));
      reloadCounts();
    },
    () => {
      rows.reload();
      counts.reload();
    },
  );

  const nextPage = useCallback(() => {
    const next = rows.data?.nextCursor;
    if (next) setPaging({ filterKey, cursor: next });
  }, [rows.data?.nextCursor, filterKey]);
  const firstPage = useCallback(() => setPaging({ filterKey, cursor: undefined }), [filterKey]);

  return { rows, counts, cursor, nextPage, firstPage };
}
