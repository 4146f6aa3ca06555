import { useState } from 'react';
import { api } from '../api/endpoints';
import type { PipelineRun } from '../api/types';
import { actionErrorText } from '../job/actionText';
import { ConfirmDialog } from '../job/ConfirmDialog';

/** An action waiting for confirmation. */
export type RunAction = { event: 'CANCEL' } | { event: 'RELEASE' } | { event: 'RETRY_STEP'; step: string };

const HELP: Record<RunAction['event'], string> = {
  CANCEL: 'POST /runs/:id/cancel — the run is canceled and every running step’s process is killed.',
  RELEASE: 'POST /runs/:id/release — the quarantined run goes on; the steps it interrupted run again.',
  RETRY_STEP: 'POST /runs/:id/steps/:step/retry — the step and every step that depends on it run again; upstream steps keep their results and artifacts.',
};

function title(a: RunAction, runId: string): string {
  const run = runId.replace(/^run_/, '').slice(0, 8);
  return a.event === 'CANCEL' ? `Cancel run ${run}?` : a.event === 'RELEASE' ? `Release run ${run}?` : `Retry run ${run} from step ${a.step}?`;
}

interface Props {
  run: PipelineRun;
  /** The action being confirmed (Cancel/Release here, Retry from the step table). */
  pending: RunAction | null;
  setPending: (a: RunAction | null) => void;
  busy: boolean;
  setBusy: (busy: boolean) => void;
  onDone: (run: PipelineRun) => void;
  onRefused: () => void;
}

/**
 * Cancel and Release (enabled from the run's `acceptedEvents`) and the confirmation of every run
 * action, Retry from a step included. A refusal — 409 ILLEGAL_EVENT when the run moved on
 * meanwhile — is said in words ("Cannot send RELEASE: the run is canceled, which accepts no
 * events.").
 */
export function RunActions({ run, pending, setPending, busy, setBusy, onDone, onRefused }: Props) {
  const [error, setError] = useState<string | null>(null);
  const [result, setResult] = useState<string | null>(null);
  const accepted = new Set(run.acceptedEvents);

  async function confirm() {
    if (!pending) return;
    const a = pending;
    setBusy(true);
    try {
      const updated = a.event === 'CANCEL' ? await api.cancelRun(run.id) : a.event === 'RELEASE' ? await api.releaseRun(run.id) : await api.retryStep(run.id, a.step);
      setError(null);
      setResult(`Sent ${a.event}${a.event === 'RETRY_STEP' ? ` (${a.step})` : ''}: the run is ${updated.status}.`);
      onDone(updated);
    } catch (e) {
      setResult(null);
      setError(actionErrorText(e, a.event, 'run'));
      onRefused();
    } finally {
      setBusy(false);
      setPending(null);
    }
  }

  const button = (event: 'CANCEL' | 'RELEASE', label: string, danger: boolean) => (
    <button
      type="button"
      className={`btn ${danger ? 'btn-danger-quiet' : ''}`}
      disabled={!accepted.has(event) || busy}
      onClick={() => setPending({ event })}
      title={accepted.has(event) ? HELP[event] : `The run (${run.status}) does not accept ${event} now.`}
      data-testid={`action-${event}`}
    >
      {label}
    </button>
  );

  return (
    <div className="actions" aria-label="Actions" role="group">
      <div className="actions-row">
        {button('CANCEL', 'Cancel', true)}
        {button('RELEASE', 'Release', false)}
        <span className="small muted">
          {accepted.has('RETRY_STEP') ? 'Retry from a failed or skipped step in the step table.' : run.acceptedEvents.length === 0 ? `The run (${run.status}) accepts no events.` : ''}
        </span>
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
      {pending ? (
        <ConfirmDialog
          title={title(pending, run.id)}
          confirmLabel={pending.event === 'CANCEL' ? 'Cancel the run' : pending.event === 'RELEASE' ? 'Release the run' : `Retry from ${pending.step}`}
          danger={pending.event === 'CANCEL'}
          busy={busy}
          onClose={() => setPending(null)}
          onConfirm={() => void confirm()}
        >
          <p>
            The run of {run.template.name}@{run.template.version} is <strong>{run.status}</strong>. {HELP[pending.event]}
          </p>
        </ConfirmDialog>
      ) : null}
    </div>
  );
}
