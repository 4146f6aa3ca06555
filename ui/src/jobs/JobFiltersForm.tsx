import { useEffect, useState, type FormEvent } from 'react';
import { JOB_STATES } from '../api/types';
import type { FilterValues } from './filters';

const EMPTY: FilterValues = { state: '', repositoryId: '', createdFrom: '', createdTo: '', updatedFrom: '', updatedTo: '' };

/** State (applies at once), repository and time bounds (apply on submit). */
export function JobFiltersForm({ value, onChange }: { value: FilterValues; onChange: (v: FilterValues) => void }) {
  const [draft, setDraft] = useState(value);
  useEffect(() => setDraft(value), [value]);
  const set = (k: keyof FilterValues) => (e: { target: { value: string } }) => setDraft((d) => ({ ...d, [k]: e.target.value }));

  function submit(e: FormEvent) {
    e.preventDefault();
    onChange(draft);
  }

  return (
    <form className="filters" onSubmit={submit} aria-label="Filter jobs" data-testid="job-filters">
      <div className="field">
        <label htmlFor="f-state">State</label>
        <select
          id="f-state"
          value={draft.state}
          onChange={(e) => {
            const next = { ...draft, state: e.target.value };
            setDraft(next);
            onChange(next);
          }}
          data-testid="filter-state"
        >
          <option value="">any</option>
          {JOB_STATES.map((s) => (
            <option key={s} value={s}>
              {s}
            </option>
          ))}
        </select>
      </div>
      <div className="field">
        <label htmlFor="f-repo">Repository</label>
        <input id="f-repo" type="text" placeholder="owner/name" value={draft.repositoryId} onChange={set('repositoryId')} data-testid="filter-repository" spellCheck={false} />
      </div>
      <div className="field">
        <label htmlFor="f-cfrom">Created from</label>
        <input id="f-cfrom" type="datetime-local" step={1} value={draft.createdFrom} onChange={set('createdFrom')} data-testid="filter-created-from" />
      </div>
      <div className="field">
        <label htmlFor="f-cto">Created to</label>
        <input id="f-cto" type="datetime-local" step={1} value={draft.createdTo} onChange={set('createdTo')} data-testid="filter-created-to" />
      </div>
      <div className="field">
        <label htmlFor="f-ufrom">Updated from</label>
        <input id="f-ufrom" type="datetime-local" step={1} value={draft.updatedFrom} onChange={set('updatedFrom')} data-testid="filter-updated-from" />
      </div>
      <div className="field">
        <label htmlFor="f-uto">Updated to</label>
        <input id="f-uto" type="datetime-local" step={1} value={draft.updatedTo} onChange={set('updatedTo')} data-testid="filter-updated-to" />
      </div>
      <div className="field field-buttons">
        <button type="submit" className="btn" data-testid="filter-apply">
          Apply
        </button>
        <button type="button" className="btn btn-quiet" onClick={() => onChange(EMPTY)} data-testid="filter-clear">
          Clear
        </button>
      </div>
    </form>
  );
}
