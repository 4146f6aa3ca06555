import { useCallback, useState } from 'react';
import { api, type RunFilters } from '../api/endpoints';
import { useResource, type Resource } from '../common/useResource';
import { useLiveEvents } from '../live/LiveEvents';
import { applyRunEvent, rowOfRun, type RunRow } from './runList';

export const RUN_PAGE_SIZE = 25;

export interface RunList {
  rows: Resource<{ rows: RunRow[]; nextCursor: string | null }>;
  cursor: string | undefined;
  nextPage: () => void;
  firstPage: () => void;
}

/**
 * A page of the tenant's pipeline runs (`GET /runs`) for `filters`, kept current by the live
 * `run` events of the tenant's stream: rows are patched in place, a new matching run appears at
 * the top of the first page — no polling.
 */
export function useRuns(filters: RunFilters): RunList {
  const filterKey = JSON.stringify(filters);
  const [paging, setPaging] = useState<{ filterKey: string; cursor: string | undefined }>({ filterKey, cursor: undefined });
  // New filters start on the first page.
  const cursor = paging.filterKey === filterKey ? paging.cursor : undefined;

  const rows = useResource(
    async (signal) => {
      const page = await api.listRuns(filters, { limit: RUN_PAGE_SIZE, cursor }, signal);
      return { rows: page.items.map(rowOfRun), nextCursor: page.nextCursor };
    },
    `${filterKey}|${cursor ?? ''}`,
  );

  useLiveEvents(
    (e) => {
      if (e.kind !== 'run') return;
      // Still loading: load once more after it, so the answer is not older than the event.
      if (!rows.data) rows.reload();
      else rows.setData((prev) => (prev ? { ...prev, rows: applyRunEvent(prev.rows, e, filters, cursor === undefined) } : { rows: [], nextCursor: null }));
    },
    () => rows.reload(),
  );

  const nextPage = useCallback(() => {
    const next = rows.data?.nextCursor;
    if (next) setPaging({ filterKey, cursor: next });
  }, [rows.data?.nextCursor, filterKey]);
  const firstPage = useCallback(() => setPaging({ filterKey, cursor: undefined }), [filterKey]);

  return { rows, cursor, nextPage, firstPage };
}
