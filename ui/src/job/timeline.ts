import { FINAL_STATES, STAGE_STATE, stageOfState, type JobDetail, type JobState, type Stage, type StageAttempt } from '../api/types';

/** One stay of the job in a state, from the history. */
export interface Visit {
  state: JobState;
  /** ISO time the job entered the state. */
  from: string;
  /** ISO time it left; null while it is still there. */
  to: string | null;
  /** The event that brought it here ("submitted" for the first). */
  enteredBy: string;
  /** Who sent that event, in words ("api key:3f9a1c02", "worker vm:4242"); absent for the first visit and old records. */
  enteredActor?: string;
  /** The event that took it away, and that stage visit's attempt. */
  leftBy?: string;
  leftAttempt?: number;
  guard?: string;
  /** Self-transitions (e.g. a retried stage) folded into this visit. */
  repeats: number;
}

/** A transition's actor in words: "api key:3f9a1c02", "bulk key:3f9a1c02", "worker vm:4242", "deadline JOB_DEADLINE_MS". */
export function actorText(actor: { kind: string; id: string }): string {
  return `${actor.kind} ${actor.id}`;
}

/** Visits in order: QUEUED from the creation, then one per transition of the history. */
export function visitsOf(job: Pick<JobDetail, 'createdAt' | 'history' | 'state'>): Visit[] {
  const first: JobState = job.history[0]?.from ?? job.state;
  const out: Visit[] = [{ state: first, from: job.createdAt, to: null, enteredBy: 'submitted', repeats: 0 }];
  for (const t of job.history) {
    const cur = out[out.length - 1]!;
    if (t.from === t.to && t.to === cur.state) {
      cur.repeats++;
      continue;
    }
    cur.to = t.at;
    cur.leftBy = t.event;
    cur.leftAttempt = t.attempt;
    if (t.guard) cur.guard = t.guard;
    out.push({ state: t.to, from: t.at, to: null, enteredBy: t.event, ...(t.actor ? { enteredActor: actorText(t.actor) } : {}), repeats: 0 });
  }
  const last = out[out.length - 1]!;
  if (FINAL_STATES.includes(last.state)) last.to = last.from;
  return out;
}

/** The visit an attempt belongs to: the last visit of its stage's state that began before it (2 s of clock slack). */
export function visitIndexOf(visits: Visit[], a: Pick<StageAttempt, 'stage' | 'startedAt'>): number {
  const state = STAGE_STATE[a.stage];
  const start = Date.parse(a.startedAt) + 2000;
  let found = -1;
  visits.forEach((v, i) => {
    if (v.state === state && Date.parse(v.from) <= start) found = i;
  });
  if (found === -1) found = visits.findIndex((v) => v.state === state);
  // Not in the history yet (a stage commits when it ends: a job being planned is still QUEUED):
  // under the visit the job was in when the attempt started.
  if (found === -1) visits.forEach((v, i) => Date.parse(v.from) <= start && (found = i));
  return found === -1 ? visits.length - 1 : found;
}

/** An attempt a view can select: from a record, or known only from the history / live log lines. */
export interface AttemptKey {
  stage: Stage;
  attempt: number;
  /** When the history says it ended (for ordering keys that have no record). */
  at?: string;
}

export const keyString = (k: AttemptKey) => `${k.stage}:${k.attempt}`;

export function parseKey(s: string | null): AttemptKey | null {
  if (!s) return null;
  const [stage, n] = s.split(':');
  const attempt = Number(n);
  if (!stage || !Number.isInteger(attempt) || attempt < 1) return null;
  return { stage: stage as Stage, attempt };
}

/**
 * Every (stage, attempt) with something to show: the attempt records, the stage attempts the
 * history names (short in-process calls leave no record), and keys seen in live log lines.
 * Oldest first (by first appearance).
 */
export function attemptKeys(job: Pick<JobDetail, 'history'>, attempts: StageAttempt[], extra: AttemptKey[] = []): AttemptKey[] {
  const seen = new Map<string, AttemptKey>();
  const add = (k: AttemptKey) => {
    if (!seen.has(keyString(k))) seen.set(keyString(k), k);
  };
  const sorted = [...attempts].sort((a, b) => Date.parse(a.startedAt) - Date.parse(b.startedAt));
  for (const t of job.history) {
    const stage = stageOfState(t.from);
    if (stage && t.attempt > 0) {
      for (const a of sorted) if (a.stage === stage && a.attempt <= t.attempt) add({ stage, attempt: a.attempt });
      add({ stage, attempt: t.attempt, at: t.at });
    }
  }
  for (const a of sorted) add({ stage: a.stage, attempt: a.attempt });
  for (const k of extra) add(k);
  return [...seen.values()];
}

/** The attempt to show first: a running one, else the latest. */
export function defaultKey(keys: AttemptKey[], attempts: StageAttempt[]): AttemptKey | null {
  const running = attempts.find((a) => a.status === 'running');
  if (running) return { stage: running.stage, attempt: running.attempt };
  return keys[keys.length - 1] ?? null;
}

/** The newest record of a (stage, attempt): a stage attempt number can repeat across job versions. */
export function recordOf(attempts: StageAttempt[], k: AttemptKey | null): StageAttempt | undefined {
  if (!k) return undefined;
  return attempts
    .filter((a) => a.stage === k.stage && a.attempt === k.attempt)
    .sort((a, b) => Date.parse(b.startedAt) - Date.parse(a.startedAt))[0];
}
