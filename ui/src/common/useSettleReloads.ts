import { useCallback, useEffect, useRef } from 'react';

/** Delays of the follow-up reloads after a live event while attempt records lag their record, ms. */
export const SETTLE_DELAYS_MS = [250, 500, 1000, 2000, 4000];

/**
 * Follow-up reloads for records the workers write just after a commit (an aborted attempt's record
 * lands just after the CANCEL commit; a succeeded step's just after the run took its result): while
 * `lagging`, calls `reload` after each of {@link SETTLE_DELAYS_MS} in turn (a new `data` re-checks),
 * then leaves it alone. `reload` must be stable (a useCallback).
 * @returns `reset`, to call on each live event so that the next lag gets its reloads again.
 */
export function useSettleReloads(lagging: boolean, data: unknown, reload: () => void): () => void {
  const settled = useRef(0);
  useEffect(() => {
    if (!lagging || settled.current >= SETTLE_DELAYS_MS.length) return;
    const timer = setTimeout(() => {
      settled.current++;
      reload();
    }, SETTLE_DELAYS_MS[settled.current]);
    return () => clearTimeout(timer);
  }, [lagging, data, reload]);
  return useCallback(() => {
    settled.current = 0;
  }, []);
}
