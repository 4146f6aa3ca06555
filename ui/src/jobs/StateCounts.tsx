import { JOB_STATES, type JobCounts } from '../api/types';

/** Counts per state as chips; a chip filters the list by its state (again: any state). */
export function StateCounts({ counts, selected, onSelect }: { counts: JobCounts | undefined; selected: string; onSelect: (state: string) => void }) {
  return (
    <div className="chips" role="group" aria-label="Jobs per state" data-testid="job-counts">
      <button type="button" className={`chip ${selected === '' ? 'chip-on' : ''}`} onClick={() => onSelect('')} aria-pressed={selected === ''} data-testid="count-total">
        all <span className="chip-n">{counts ? counts.total : '…'}</span>
      </button>
      {JOB_STATES.map((s) => {
        const n = counts?.byState[s] ?? 0;
        return (
          <button
            key={s}
            type="button"
            className={`chip chip-${s.toLowerCase().replace(/_/g, '-')} ${selected === s ? 'chip-on' : ''} ${n === 0 ? 'chip-zero' : ''}`}
            onClick={() => onSelect(selected === s ? '' : s)}
            aria-pressed={selected === s}
            data-testid={`count-${s}`}
            data-count={counts ? n : undefined}
          >
            {s} <span className="chip-n">{counts ? n : '…'}</span>
          </button>
        );
      })}
    </div>
  );
}
