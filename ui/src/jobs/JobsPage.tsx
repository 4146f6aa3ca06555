import { useMemo } from 'react';
import { useSearchParams } from 'react-router';
import { ErrorBox } from '../common/ErrorBox';
import { BulkActions } from './BulkActions';
import { JobFiltersForm } from './JobFiltersForm';
import { JobsTable } from './JobsTable';
import { readFilters, toApiFilters, writeFilters, type FilterValues } from './filters';
import { StateCounts } from './StateCounts';
import { SubmitJobForm } from './SubmitJobForm';
import { useJobList } from './useJobList';

/** `#/jobs`: filters (kept in the route's query), counts per state, a page of jobs, submission. */
export function JobsPage() {
  const [params, setParams] = useSearchParams();
  const values = useMemo(() => readFilters(params), [params]);
  const filters = useMemo(() => toApiFilters(values), [values]);
  const { rows, counts, cursor, nextPage, firstPage } = useJobList(filters);
  const apply = (v: FilterValues) => setParams(writeFilters(v));

  return (
    <div className="jobs-page">
      <section className="jobs-main" aria-labelledby="jobs-title">
        <div className="section-head">
          <h1 id="jobs-title">Jobs</h1>
          {rows.loading && rows.data ? <span className="muted small">updating…</span> : null}
        </div>
        <JobFiltersForm value={values} onChange={apply} />
        <StateCounts counts={counts.data} selected={values.state} onSelect={(state) => apply({ ...values, state })} />
        <BulkActions filters={filters} counts={counts.data} />
        <ErrorBox error={counts.error} what="Counts" />
        <ErrorBox error={rows.error} what="Jobs" />
        {rows.data ? <JobsTable rows={rows.data.rows} /> : rows.loading ? <p className="muted">Loading…</p> : null}
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
        <SubmitJobForm />
      </aside>
    </div>
  );
}
