import type { BulkResult } from '../api/types';

/** The result in words: how many were changed, how many skipped and why. */
export function bulkResultText(r: BulkResult): string {
  const verb = r.type === 'MARK_CANCELLED' ? 'cancelled' : 'retried';
  const reasons = new Map<string, number>();
  for (const s of r.skipped) reasons.set(`${s.code} (${s.state})`, (reasons.get(`${s.code} (${s.state})`) ?? 0) + 1);
  const skipped = r.skipped.length ? `; ${r.skipped.length} skipped: ${[...reasons].map(([k, n]) => `${n} ${k}`).join(', ')}` : '';
  return `${r.applied.length} of ${r.matched} ${verb}${skipped}${r.more ? '. More jobs match: run it again.' : '.'}`;
}
