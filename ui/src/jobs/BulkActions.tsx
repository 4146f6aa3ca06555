import { useState } from 'react';
import type { JobFilters } from '../api/endpoints';
import { api } from '../api/endpoints';
import type { JobCounts } from '../api/types';
import { actionErrorText } from '../job/actionText';
import { ConfirmDialog } from '../job/ConfirmDialog';
import { bulkResultText } from './bulkText';

type BulkType = 'MARK_CANCELLED' | 'RETRY';

const LABEL: Record<BulkType, string> = { MARK_CANCELLED: 'Cancel all matching', RETRY: 'Retry all matching' };
/** At most this many jobs per click (the API's maximum is 500). */
const LIMIT = 500;

/** How many jobs the filter matches (the counts ignore the state filter, so take that state's count). */
function matching(filters: JobFilters, counts: JobCounts | undefined): number | undefined {
  if (!counts) return undefined;
  return filters.state ? (counts.byState as Record<string, number>)[filters.state] ?? 0 : counts.total;
}

/**
 * "Cancel all matching" / "Retry all matching": `POST /jobs/bulk` with the list's filters, behind a
 * confirmation saying how many jobs match. Disabled without a filter (the API refuses an empty one).
 */
export function BulkActions({ filters, counts }: { filters: JobFilters; counts: JobCounts | undefined }) {
  const [open, setOpen] = useState<BulkType | null>(null);
  const [busy, setBusy] = useState(false);
  const [message, setMessage] = useState<string | null>(null);
  const n = matching(filters, counts);
  const filtered = Object.keys(filters).length > 0;

  async function confirm() {
    if (!open) return;
    setBusy(true);
    try {
      setMessage(bulkResultText(await api.bulk({ type: open, filter: filters, limit: LIMIT })));
    } catch (e) {
      setMessage(actionErrorText(e, open));
    } finally {
      setBusy(false);
      setOpen(null);
    }
  }

  return (
    <div className="bulk-actions" data-testid="bulk-actions">
      {(['MARK_CANCELLED', 'RETRY'] as const).map((type) => (
        <button
          key={type}
          type="button"
          className={type === 'MARK_CANCELLED' ? 'btn btn-danger-quiet' : 'btn'}
          disabled={!filtered || n === 0}
          title={filtered ? `POST /jobs/bulk { type: ${type} } with these filters` : 'Choose a filter first'}
          onClick={() => setOpen(type)}
          data-testid={`bulk-${type}`}
        >
          {LABEL[type]}
        </button>
      ))}
      {message ? (
        <p className="muted small" role="status" data-testid="bulk-result">
          {message}
        </p>
      ) : null}
      {open ? (
        <ConfirmDialog
          title={`${LABEL[open]}?`}
          confirmLabel={open === 'MARK_CANCELLED' ? 'Cancel them' : 'Retry them'}
          busy={busy}
          danger={open === 'MARK_CANCELLED'}
          onConfirm={() => void confirm()}
          onClose={() => setOpen(null)}
        >
          <p>
            Send {open} to {n === undefined ? 'every' : `the ${Math.min(n, LIMIT)}`} job{n === 1 ? '' : 's'} matching the filters
            {n !== undefined && n > LIMIT ? ` (of ${n}; run it again for the rest)` : ''}. Jobs whose state does not accept it are skipped.
          </p>
        </ConfirmDialog>
      ) : null}
    </div>
  );
}
