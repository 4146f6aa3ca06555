import type { JobFilters } from '../api/endpoints';
import type { JobEvent, JobState, JobSummary } from '../api/types';
import { localToIso } from '../common/format';

/** The filter form's values as kept in the route's query (`datetime-local` values as typed). */
export interface FilterValues {
  state: string;
  repositoryId: string;
  createdFrom: string;
  createdTo: string;
  updatedFrom: string;
  updatedTo: string;
}

export const FILTER_KEYS: (keyof FilterValues)[] = ['state', 'repositoryId', 'createdFrom', 'createdTo', 'updatedFrom', 'updatedTo'];

export function readFilters(params: URLSearchParams): FilterValues {
  const get = (k: keyof FilterValues) => params.get(k) ?? '';
  return { state: get('state'), repositoryId: get('repositoryId'), createdFrom: get('createdFrom'), createdTo: get('createdTo'), updatedFrom: get('updatedFrom'), updatedTo: get('updatedTo') };
}

export function writeFilters(values: FilterValues): URLSearchParams {
  const params = new URLSearchParams();
  for (const k of FILTER_KEYS) {
    const v = values[k].trim();
    if (v) params.set(k, v);
  }
  return params;
}

/** The API's query: times as ISO-8601. */
export function toApiFilters(v: FilterValues): JobFilters {
  const out: JobFilters = {};
  if (v.state) out.state = v.state;
  if (v.repositoryId.trim()) out.repositoryId = v.repositoryId.trim();
  const times = { createdFrom: localToIso(v.createdFrom), createdTo: localToIso(v.createdTo), updatedFrom: localToIso(v.updatedFrom), updatedTo: localToIso(v.updatedTo) };
  for (const [k, iso] of Object.entries(times)) if (iso) out[k as keyof typeof times] = iso;
  return out;
}

/** What a row shows; built from a listing or from a live event. */
export interface JobRow {
  id: string;
  repositoryId: string;
  title: string;
  state: JobState;
  version: number;
  updatedAt: string;
  createdAt: string | null;
}

export function rowOf(job: JobSummary): JobRow {
  return { id: job.id, repositoryId: job.repositoryId, title: job.issue.title, state: job.state, version: job.version, updatedAt: job.updatedAt, createdAt: job.createdAt };
}

/**
 * Whether a job an event describes belongs in the filtered list: `true`, `false`, or `null` when
 * the event cannot tell (its creation time is unknown and the list filters on it).
 */
export function eventMatches(e: JobEvent, f: JobFilters): boolean | null {
  if (f.state && e.state !== f.state) return false;
  if (f.repositoryId && e.repositoryId !== f.repositoryId) return false;
  const updated = Date.parse(e.updatedAt);
  if (f.updatedFrom && updated < Date.parse(f.updatedFrom)) return false;
  if (f.updatedTo && updated > Date.parse(f.updatedTo)) return false;
  if (f.createdFrom || f.createdTo) {
    if (!e.created) return null;
    if (f.createdFrom && updated < Date.parse(f.createdFrom)) return false;
    if (f.createdTo && updated > Date.parse(f.createdTo)) return false;
  }
  return true;
}

/**
 * The rows after a live `job` event: a listed job is updated (and moved to the top of the first
 * page, which is ordered by update time) or dropped when it no longer matches; an unlisted
 * matching job is added to the top of the first page. Older versions are ignored.
 */
export function applyJobEvent(rows: JobRow[], e: JobEvent, f: JobFilters, firstPage: boolean): JobRow[] {
  const i = rows.findIndex((r) => r.id === e.jobId);
  const existing = i >= 0 ? rows[i] : undefined;
  if (existing && existing.version >= e.version) return rows;
  const match = eventMatches(e, f);
  if (existing) {
    // A listed job passed the creation filter already.
    const stillMatches = match ?? true;
    if (!stillMatches) return rows.filter((r) => r.id !== e.jobId);
    const updated: JobRow = { ...existing, state: e.state, version: e.version, updatedAt: e.updatedAt, title: e.issueTitle || existing.title };
    if (!firstPage) return rows.map((r) => (r.id === e.jobId ? updated : r));
    return [updated, ...rows.filter((r) => r.id !== e.jobId)];
  }
  if (!firstPage || match !== true) return rows;
  const row: JobRow = { id: e.jobId, repositoryId: e.repositoryId, title: e.issueTitle, state: e.state, version: e.version, updatedAt: e.updatedAt, createdAt: e.created ? e.updatedAt : null };
  return [row, ...rows];
}
