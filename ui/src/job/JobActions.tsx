import { useState } from 'react';
import { api } from '../api/endpoints';
import { EXTERNAL_EVENTS, type JobDetail } from '../api/types';
import { actionErrorText } from './actionText';
import { ConfirmDialog } from './ConfirmDialog';

interface Action {
  /** `data-testid="action-<id>"`. */
  id: string;
  label: string;
  event: string;
  danger?: boolean;
  help: string;
}

const CANCEL: Action = { id: 'CANCEL', label: 'Cancel', event: 'MARK_CANCELLED', danger: true, help: 'POST /jobs/:id/cancel — any running agent call is aborted.' };
const RETRY: Action = { id: 'RETRY', label: 'Retry', event: 'RETRY', help: 'Resume at the stage that failed; optionally with a new budget.' };
/** Every other external event (RETRY is the Retry button). */
const EVENTS: Action[] = EXTERNAL_EVENTS.filter((e) => e !== 'RETRY').map((e) => ({ id: e, label: e, event: e, danger: e === 'MARK_CANCELLED', help: `POST /jobs/:id/events { type: ${e} }` }));

/** "", a number ≥ 0, or "none" (null: no limit). */
function parseBudget(raw: string, integer: boolean): number | null | undefined | 'invalid' {
  const s = raw.trim().toLowerCase();
  if (s === '') return undefined;
  if (s === 'none') return null;
  const n = Number(s);
  if (!Number.isFinite(n) || n < 0 || (integer && !Number.isInteger(n))) return 'invalid';
  return n;
}

interface Props {
  job: JobDetail;
  onDone: (job: JobDetail) => void;
  onRefused: () => void;
}

/**
 * Cancel, Retry and a button per external event; enabled for the events the job accepts now.
 * Each asks for confirmation; a refusal (409 when the job moved on meanwhile) is said in words.
 */
export function JobActions({ job, onDone, onRefused }: Props) {
  const [open, setOpen] = useState<Action | null>(null);
  const [busy, setBusy] = useState(false);
  const [error, setError] = useState<string | null>(null);
  const [result, setResult] = useState<string | null>(null);
  const [budgetUsd, setBudgetUsd] = useState('');
  const [budgetTokens, setBudgetTokens] = useState('');
  const [reason, setReason] = useState('');
  const [formError, setFormError] = useState<string | null>(null);
  const accepted = new Set(job.acceptedEvents);

  function start(a: Action) {
    setOpen(a);
    setFormError(null);
    setBudgetUsd('');
    setBudgetTokens('');
    setReason('');
  }

  async function confirm() {
    if (!open) return;
    const a = open;
    let send: () => Promise<JobDetail>;
    if (a.id === 'CANCEL') send = () => api.cancel(job.id);
    else if (a.id === 'RETRY') {
      const usd = parseBudget(budgetUsd, false);
      const tokens = parseBudget(budgetTokens, true);
      if (usd === 'invalid' || tokens === 'invalid') {
        setFormError('A budget is a number ≥ 0 (tokens: a whole number), or "none" for no limit; leave it empty to keep it.');
        return;
      }
      send =
        usd === undefined && tokens === undefined
          ? () => api.retry(job.id)
          : () => api.sendEvent(job.id, { type: 'RETRY', ...(usd !== undefined ? { budgetUsd: usd } : {}), ...(tokens !== undefined ? { budgetTokens: tokens } : {}) });
    } else send = () => api.sendEvent(job.id, { type: a.event, ...(a.event === 'MARK_CANCELLED' && reason.trim() ? { reason: reason.trim() } : {}) });
    setBusy(true);
    try {
      const updated = await send();
      setError(null);
      setResult(`Sent ${a.event}: the job is ${updated.state}.`);
      onDone(updated);
    } catch (e) {
      setResult(null);
      setError(actionErrorText(e, a.event));
      onRefused();
    } finally {
      setBusy(false);
      setOpen(null);
    }
  }

  const button = (a: Action) => (
    <button
      key={a.id}
      type="button"
      className={`btn ${a.danger ? 'btn-danger-quiet' : ''}`}
      disabled={!accepted.has(a.event) || busy}
      onClick={() => start(a)}
      title={accepted.has(a.event) ? a.help : `The job (${job.state}) does not accept ${a.event} now.`}
      data-testid={`action-${a.id}`}
    >
      {a.label}
    </button>
  );

  return (
    <div className="actions" aria-label="Actions" role="group">
      <div className="actions-row">
        {button(CANCEL)}
        {button(RETRY)}
        <span className="actions-sep" aria-hidden="true" />
        <span className="small muted">Send event:</span>
        {EVENTS.map(button)}
      </div>
      {error ? (
        <p className="error-box" role="alert" data-testid="action-error">
          {error}
        </p>
      ) : null}
      {result ? (
        <p className="ok small" role="status" data-testid="action-result">
          {result}
        </p>
      ) : null}
      {open ? (
        <ConfirmDialog
          title={`${open.label === open.event ? `Send ${open.event}` : open.label} — job ${job.id.slice(0, 8)}?`}
          confirmLabel={open.id === 'CANCEL' ? 'Cancel the job' : `Send ${open.event}`}
          danger={open.danger ?? false}
          busy={busy}
          onClose={() => setOpen(null)}
          onConfirm={() => void confirm()}
        >
          <p>
            The job is <strong>{job.state}</strong> ({job.issue.title}). {open.help}
          </p>
          {open.id === 'RETRY' ? (
            <div className="dialog-fields">
              <div className="field">
                <label htmlFor="retry-usd">New budget, USD (optional)</label>
                <input id="retry-usd" inputMode="decimal" placeholder={`now ${job.context.budget.usd ?? 'none'}`} value={budgetUsd} onChange={(e) => setBudgetUsd(e.target.value)} data-testid="retry-budget-usd" />
              </div>
              <div className="field">
                <label htmlFor="retry-tokens">New budget, tokens (optional)</label>
                <input id="retry-tokens" inputMode="numeric" placeholder={`now ${job.context.budget.tokens ?? 'none'}`} value={budgetTokens} onChange={(e) => setBudgetTokens(e.target.value)} data-testid="retry-budget-tokens" />
              </div>
              <p className="small muted">Empty keeps the budget; “none” removes the limit.</p>
            </div>
          ) : null}
          {open.id === 'MARK_CANCELLED' ? (
            <div className="field">
              <label htmlFor="cancel-reason">Reason (optional)</label>
              <input id="cancel-reason" value={reason} onChange={(e) => setReason(e.target.value)} data-testid="cancel-reason" />
            </div>
          ) : null}
          {formError ? (
            <p className="field-error" role="alert">
              {formError}
            </p>
          ) : null}
        </ConfirmDialog>
      ) : null}
    </div>
  );
}
