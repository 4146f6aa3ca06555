/**
 * Run events (seed 002 `run_events`): the audit of every transition of a run, derived by
 * comparing the context and status before and after one commit, and progress figures. Pure.
 */
import type { PipelineContext, RunStatus, StepStatus } from './pipeline.types';
import { RUN_STATUSES, TERMINAL_STEP_STATUSES } from './pipeline.types';

/** Who caused a change: a person through the API (key fingerprint), a worker (`host:pid`), the sweeper. */
export interface RunActor {
  kind: 'api' | 'worker' | 'sweeper';
  id: string;
}

/** One entry of a run's append-only audit. `seq` counts from 1 within the run. */
export interface RunEvent {
  seq: number;
  /** ISO 8601. */
  at: string;
  /** `run` for the run's status, `step` for a step's (spawned steps included). */
  kind: 'run' | 'step';
  step?: string;
  from: string;
  to: string;
  /** The event that caused it (`STEP_SUCCEEDED`, `CANCEL`, …). */
  event: string;
  /** The step's visit, for step entries. */
  visit?: number;
  /** Why (a skip's reason, an error's code and message). */
  detail?: string;
  /** For a spawned step: the step that spawned it. */
  parentStepId?: string;
  actor: RunActor;
}

/** The top-level run status of a snapshot value. */
export function runStatusOf(value: unknown): RunStatus {
  const key = typeof value === 'string' ? value : Object.keys(value as object)[0];
  if (!(RUN_STATUSES as readonly string[]).includes(key)) throw new Error(`not a run status: ${key}`);
  return key as RunStatus;
}

/**
 * The run events of one commit: the run's status change, then every step whose status changed
 * (template order, then spawned steps in spawn order).
 */
export function diffRunEvents(
  before: { status: RunStatus; context: PipelineContext } | null,
  after: { status: RunStatus; context: PipelineContext },
  event: string,
  actor: RunActor,
  firstSeq: number,
  at: Date,
): RunEvent[] {
  const out: Omit<RunEvent, 'seq'>[] = [];
  const iso = at.toISOString();
  if (!before || before.status !== after.status) {
    out.push({ at: iso, kind: 'run', from: before?.status ?? 'none', to: after.status, event, actor, ...(after.context.error && after.status !== 'running' ? { detail: `${after.context.error.code}: ${after.context.error.message}` } : {}) });
  }
  for (const [id, s] of Object.entries(after.context.steps)) {
    const old = before?.context.steps[id];
    if (old && old.status === s.status && old.visit === s.visit) continue;
    if (!old && s.status === 'waiting') continue;
    const detail = s.status === 'skipped' || s.status === 'canceled' ? s.reason : s.status === 'failed' && s.error ? `${s.error.code}: ${s.error.message}` : undefined;
    out.push({ at: iso, kind: 'step', step: id, from: old?.status ?? 'waiting', to: s.status, event, visit: s.visit, actor, ...(detail ? { detail } : {}) });
  }
  for (const s of after.context.spawned) {
    const old = before?.context.spawned.find((x) => x.id === s.id);
    if (old && old.status === s.status && old.visit === s.visit) continue;
    const detail = !old ? `spawned by ${s.parentStepId}: ${s.regressionContext.reason}` : s.error ? `${s.error.code}: ${s.error.message}` : undefined;
    out.push({ at: iso, kind: 'step', step: s.id, from: old?.status ?? 'none', to: s.status, event, visit: s.visit, parentStepId: s.parentStepId, actor, ...(detail ? { detail } : {}) });
  }
  return out.map((e, i) => ({ seq: firstSeq + i, ...e }));
}

/** Steps of a run by status, and how far it is. */
export interface RunProgress {
  /** Template steps and spawned steps by status. */
  counts: Partial<Record<StepStatus, number>>;
  total: number;
  /** Steps that ended (succeeded, failed, skipped, canceled). */
  done: number;
  /** 0–100, rounded down. */
  percent: number;
  /** ms since the run started (to its end when it ended). */
  elapsedMs: number;
  /**
   * Estimated ms to the end: the sum of the median past durations (ms) of the steps not done yet,
   * divided by maxParallel; null when no past duration is known for some remaining step.
   */
  etaMs: number | null;
}

/**
 * Progress of a run. `pastDurationsMs` maps a template step id to the median duration (ms) of its
 * successful attempts in earlier runs of the same template (see `StepDurations`).
 */
export function runProgress(context: PipelineContext, startedAt: Date, endedAt: Date | null, pastDurationsMs: Record<string, number>, now = new Date()): RunProgress {
  const counts: Partial<Record<StepStatus, number>> = {};
  const statuses: { step: string; status: StepStatus }[] = [
    ...Object.entries(context.steps).map(([step, s]) => ({ step, status: s.status })),
    ...context.spawned.map((s) => ({ step: s.templateStep, status: (s.status === 'ready' ? 'ready' : s.status) as StepStatus })),
  ];
  for (const s of statuses) counts[s.status] = (counts[s.status] ?? 0) + 1;
  const done = statuses.filter((s) => TERMINAL_STEP_STATUSES.includes(s.status)).length;
  const remaining = statuses.filter((s) => !TERMINAL_STEP_STATUSES.includes(s.status));
  let eta: number | null = 0;
  for (const r of remaining) {
    const d = pastDurationsMs[r.step];
    if (d === undefined) {
      eta = null;
      break;
    }
    eta += d;
  }
  return {
    counts,
    total: statuses.length,
    done,
    percent: statuses.length ? Math.floor((done / statuses.length) * 100) : 0,
    elapsedMs: Math.max(0, (endedAt ?? now).getTime() - startedAt.getTime()),
    etaMs: eta === null ? null : remaining.length === 0 ? 0 : Math.round(eta / Math.max(1, context.limits.maxParallel)),
  };
}
