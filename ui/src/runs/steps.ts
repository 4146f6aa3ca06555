import type { PipelineRun, RunAuditEvent, StepAttemptRecord, TemplateStep } from '../api/types';

/** One row of the step table. */
export interface StepRow {
  step: string;
  needs: TemplateStep['needs'];
  status: string;
  visit: number;
  /** Attempts recorded for the step (every visit). */
  attempts: number;
  /** When its last visit entered running, and when it ended (null: still on). */
  span: { from: string; to: string | null } | null;
  reason?: string;
  error?: { code: string; message: string };
  /** Set for a spawned step. */
  parentStepId?: string;
}

/**
 * When each step last entered `running` and when it next changed (succeeded, failed, awaiting a
 * spawned step, back to waiting in a quarantine, canceled) — from the run's audit events.
 */
export function stepSpans(events: readonly RunAuditEvent[]): Map<string, { from: string; to: string | null }> {
  const spans = new Map<string, { from: string; to: string | null }>();
  for (const e of events) {
    if (e.kind !== 'step' || !e.step) continue;
    const s = spans.get(e.step);
    if (e.to === 'running' && e.from !== 'running') spans.set(e.step, { from: e.at, to: null });
    else if (s && s.to === null && e.from === 'running') s.to = e.at;
  }
  return spans;
}

/** The step table: the template's steps in order (the run's own when the template is not known), then the spawned ones. */
export function stepRows(templateSteps: readonly TemplateStep[] | null, run: Pick<PipelineRun, 'steps' | 'spawned'>, events: readonly RunAuditEvent[], attempts: readonly StepAttemptRecord[]): StepRow[] {
  const spans = stepSpans(events);
  const count = (step: string) => attempts.filter((a) => a.step === step).length;
  const ids = templateSteps ? templateSteps.map((s) => s.id) : Object.keys(run.steps);
  const rows: StepRow[] = ids.map((id) => {
    const s = run.steps[id];
    const needs = templateSteps?.find((t) => t.id === id)?.needs ?? [];
    return {
      step: id,
      needs,
      status: s?.status ?? 'waiting',
      visit: s?.visit ?? 0,
      attempts: count(id),
      span: spans.get(id) ?? null,
      ...(s?.reason ? { reason: s.reason } : {}),
      ...(s?.error ? { error: s.error } : {}),
    };
  });
  for (const s of run.spawned) {
    rows.push({ step: s.id, needs: [], status: s.status, visit: s.visit ?? 0, attempts: count(s.id), span: spans.get(s.id) ?? null, parentStepId: s.parentStepId, ...(s.error ? { error: s.error } : {}) });
  }
  return rows;
}

/**
 * Steps a person may rerun from (`POST /runs/:id/steps/:step/retry`): failed or skipped template
 * steps, and a quarantined run's interrupted step (back to waiting, with its error).
 */
export function retryable(row: StepRow): boolean {
  return !row.parentStepId && (row.status === 'failed' || row.status === 'skipped' || (row.status === 'waiting' && !!row.error));
}

/**
 * Whether the attempts shown may lag the run: an attempt still `running` for a step (or a run)
 * that is no longer running — its process is being stopped and its record is written just after
 * the run's commit — or a running step whose current visit has no running attempt yet (the step
 * message is on its way to a worker). The run page then reloads the attempts a few more times.
 */
export function attemptsUnsettled(run: Pick<PipelineRun, 'status' | 'steps' | 'spawned'>, attempts: readonly StepAttemptRecord[]): boolean {
  const statusOf = (step: string) => run.steps[step]?.status ?? run.spawned.find((s) => s.id === step)?.status;
  for (const a of attempts) {
    if (a.status !== 'running') continue;
    if (run.status !== 'running' || statusOf(a.step) !== 'running') return true;
  }
  if (run.status !== 'running') return false;
  const running = [...Object.entries(run.steps).map(([id, s]) => ({ id, status: s.status, visit: s.visit })), ...run.spawned.map((s) => ({ id: s.id, status: s.status, visit: s.visit ?? 0 }))];
  return running.some((s) => s.status === 'running' && !attempts.some((a) => a.step === s.id && a.visit === s.visit && a.status === 'running'));
}
