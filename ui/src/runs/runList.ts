import type { RunFilters } from '../api/endpoints';
import type { PipelineRun, RunChangeEvent, RunStatus } from '../api/types';

/** The run list's filters as kept in the route's query. */
export interface RunFilterValues {
  status: string;
  template: string;
}

export function readRunFilters(params: URLSearchParams): RunFilterValues {
  return { status: params.get('status') ?? '', template: params.get('template') ?? '' };
}

export function writeRunFilters(v: RunFilterValues): URLSearchParams {
  const params = new URLSearchParams();
  if (v.status.trim()) params.set('status', v.status.trim());
  if (v.template.trim()) params.set('template', v.template.trim());
  return params;
}

export function toApiRunFilters(v: RunFilterValues): RunFilters {
  const out: RunFilters = {};
  if (v.status.trim()) out.status = v.status.trim();
  if (v.template.trim()) out.template = v.template.trim();
  return out;
}

/** What a row of the run list shows; built from a listing or from a live `run` event. */
export interface RunRow {
  id: string;
  template: { name: string; version: number };
  status: RunStatus;
  version: number;
  progress: { done: number; total: number; percent: number };
  updatedAt: string;
  createdAt: string | null;
}

export function rowOfRun(run: PipelineRun): RunRow {
  const { done, total, percent } = run.progress;
  return { id: run.id, template: run.template, status: run.status, version: run.version, progress: { done, total, percent }, updatedAt: run.updatedAt, createdAt: run.createdAt };
}

export function runEventMatches(e: RunChangeEvent, f: RunFilters): boolean {
  if (f.status && e.status !== f.status) return false;
  if (f.template && e.template.name !== f.template) return false;
  return true;
}

/**
 * The rows after a live `run` event (the list is ordered by update time, like the jobs): a
 * listed run is updated and moved to the top of the first page (in place on later pages), or
 * dropped when it leaves the filter; an unlisted matching run is added to the top of the first
 * page. Events older than the row (by version) are ignored.
 */
export function applyRunEvent(rows: RunRow[], e: RunChangeEvent, f: RunFilters, firstPage: boolean): RunRow[] {
  const existing = rows.find((r) => r.id === e.runId);
  if (existing && existing.version >= e.version) return rows;
  const match = runEventMatches(e, f);
  if (existing) {
    if (!match) return rows.filter((r) => r.id !== e.runId);
    const updated: RunRow = { ...existing, status: e.status, version: e.version, progress: e.progress, updatedAt: e.updatedAt };
    if (!firstPage) return rows.map((r) => (r.id === e.runId ? updated : r));
    return [updated, ...rows.filter((r) => r.id !== e.runId)];
  }
  if (!firstPage || !match) return rows;
  const row: RunRow = { id: e.runId, template: e.template, status: e.status, version: e.version, progress: e.progress, updatedAt: e.updatedAt, createdAt: e.created ? e.updatedAt : null };
  return [row, ...rows];
}
