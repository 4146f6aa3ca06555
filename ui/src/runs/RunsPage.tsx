import { useMemo } from 'react';
import { useSearchParams } from 'react-router';
import { api } from '../api/endpoints';
import { RUN_STATUSES } from '../api/types';
import { ErrorBox } from '../common/ErrorBox';
import { useResource } from '../common/useResource';
import { readRunFilters, toApiRunFilters, writeRunFilters, type RunFilterValues } from './runList';
import { RunsTable } from './RunsTable';
import { StartRunForm } from './StartRunForm';
import { useRuns } from './useRuns';

/** `#/runs`: pipeline runs by status and template (kept in the route's query), cursor pages, live rows, "Start a run". */
export function RunsPage() {
  const [params, setParams] = useSearchParams();
  const values = useMemo(() => readRunFilters(params), [params]);
  const filters = useMemo(() => toApiRunFilters(values), [values]);
  const { rows, cursor, nextPage, firstPage } = useRuns(filters);
  const templates = useResource((s) => api.templates(s), 'templates');
  const apply = (v: RunFilterValues) => setParams(writeRunFilters(v));
  // A filter on a template no longer listed still shows as an option.
  const names = [...new Set([...(templates.data ?? []).map((t) => t.name), ...(values.template ? [values.template] : [])])];

  return (
    <div className="jobs-page" data-testid="runs-page">
      <section className="jobs-main" aria-labelledby="runs-title">
        <div className="section-head">
          <h1 id="runs-title">Runs</h1>
          {rows.loading && rows.data ? <span className="muted small">updating…</span> : null}
        </div>
        <form className="filters" onSubmit={(e) => e.preventDefault()} aria-label="Filter runs" data-testid="run-filters">
          <div className="field">
            <label htmlFor="rf-status">Status</label>
            <select id="rf-status" value={values.status} onChange={(e) => apply({ ...values, status: e.target.value })} data-testid="run-filter-status">
              <option value="">any</option>
              {RUN_STATUSES.map((s) => (
                <option key={s} value={s}>
                  {s}
                </option>
              ))}
            </select>
          </div>
          <div className="field">
            <label htmlFor="rf-template">Template</label>
            <select id="rf-template" value={values.template} onChange={(e) => apply({ ...values, template: e.target.value })} data-testid="run-filter-template">
              <option value="">any</option>
              {names.map((n) => (
                <option key={n} value={n}>
                  {n}
                </option>
              ))}
            </select>
          </div>
          <div className="field field-buttons">
            <button type="button" className="btn btn-quiet" onClick={() => apply({ status: '', template: '' })} disabled={!values.status && !values.template} data-testid="run-filter-clear">
              Clear
            </button>
          </div>
        </form>
        <ErrorBox error={templates.error} what="Templates" />
        <ErrorBox error={rows.error} what="Runs" />
        {rows.data ? <RunsTable rows={rows.data.rows} /> : rows.loading ? <p className="muted">Loading…</p> : null}
        <nav className="pager" aria-label="Pages">
          <button type="button" className="btn" onClick={firstPage} disabled={cursor === undefined} data-testid="page-first">
            First page
          </button>
          <button type="button" className="btn" onClick={nextPage} disabled={!rows.data?.nextCursor} data-testid="page-next">
            Next page
          </button>
        </nav>
      </section>
      <aside className="jobs-side">
        <StartRunForm templates={templates.data} {...(values.template ? { initial: values.template } : {})} />
      </aside>
    </div>
  );
}
