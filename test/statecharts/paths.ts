/**
 * Generated paths through the job statechart, and the set of legal transitions they must cover.
 *
 * - {@link legalTransitions} walks the machine's state nodes (`jobMachine.root.states[…].transitions`)
 *   and lists every (source state, event type, guard branch) → target. It never looks at paths.
 * - {@link generatePaths} asks `getShortestPaths` (xstate/graph) for paths, with an explicit event
 *   list (external events, and the invoked actors' `xstate.done.actor.<id>` / `xstate.error.actor.<id>`
 *   with payloads that drive every guard branch) and a `serializeState` that includes the
 *   transition the state was entered by, so each transition (not only each state) gets a path.
 *   It runs once per limits variant (auto-complete on and off: `autoComplete` is part of the
 *   machine's input, fixed when a job is created).
 * - {@link replayPure} replays a path on the pure machine (`transition` from xstate) and reports
 *   the transitions it took, recomputed step by step.
 */
import { initialTransition, transition, type AnyMachineSnapshot, type EventObject } from 'xstate';
import { getShortestPaths, type StatePath } from 'xstate/graph';
import { jobMachine, overBudget } from '../../src/lifecycle/job.machine';
import {
  EXTERNAL_EVENT_TYPES,
  FINAL_STATES,
  seedEventName,
  STAGE_ACTOR_ID,
  STAGES,
  type JobContext,
  type JobInput,
  type JobLimits,
  type JobState,
  type Stage,
  type StageFault,
} from '../../src/lifecycle/job.types';

/** Attempts per stage message in the full-stack app (STAGE_ATTEMPTS) and in the fault payloads. */
export const STAGE_ATTEMPTS = 3;
/** Review rounds per job (MAX_REVIEW_ROUNDS): small, so the "rounds exceeded" path is short. */
export const MAX_REVIEW_ROUNDS = 2;

/** The limits variants paths are generated for; `auto` is the default configuration. */
/** The budget of every path's job: one dollar; a stage reporting {@link OVER_BUDGET_USAGE} exceeds it. */
export const PATH_BUDGET = { usd: 1, tokens: null };
/** Usage a stage reports to push the job over {@link PATH_BUDGET}. */
export const OVER_BUDGET_USAGE = { inputTokens: 1000, outputTokens: 500, costUsd: 2.5 };

export const LIMIT_VARIANTS = {
  auto: { maxReviewRounds: MAX_REVIEW_ROUNDS, autoComplete: true, budget: PATH_BUDGET },
  manual: { maxReviewRounds: MAX_REVIEW_ROUNDS, autoComplete: false, budget: PATH_BUDGET },
} as const satisfies Record<string, JobLimits>;
export type LimitVariant = keyof typeof LIMIT_VARIANTS;

export function machineInput(variant: LimitVariant): JobInput {
  return {
    jobId: `path-${variant}`,
    tenantId: 'acme',
    repositoryId: 'acme/widgets',
    issue: { id: '1', title: 'Fix the widget', body: '', url: 'https://github.com/acme/widgets/issues/1' },
    limits: { ...LIMIT_VARIANTS[variant], budget: { ...PATH_BUDGET } },
  };
}

type JobSnapshot = AnyMachineSnapshot;
/** Any event the machine processes: external ones and the invoked actors' done/error events. */
export type PathEvent = EventObject & Record<string, unknown>;

// ---------------------------------------------------------------------------------------------
// Legal transitions, from the machine's state nodes

/** One legal transition: (source, event type, branch) → target. Targetless ones stay in source. */
export interface LegalTransition {
  /** `<source>:<eventType>:<branch>` */
  id: string;
  source: JobState;
  eventType: string;
  branch: number;
  target: JobState;
  targetless: boolean;
  guard: string | null;
}

interface TransitionDef {
  eventType: string;
  guard?: unknown;
  target?: readonly { key: string }[];
  source: { key: string; transitions: Map<string, TransitionDef[]> };
}

function guardName(guard: unknown): string | null {
  if (guard === undefined) return null;
  if (typeof guard === 'string') return guard;
  const g = guard as { type: string; params?: Record<string, unknown> };
  return g.params ? `${g.type}(${Object.values(g.params).join(', ')})` : g.type;
}

export function transitionId(source: string, eventType: string, branch: number): string {
  return `${source}:${eventType}:${branch}`;
}

/** Every legal transition of the job machine, walking `jobMachine.root.states`. */
export function legalTransitions(): LegalTransition[] {
  const out: LegalTransition[] = [];
  for (const [key, node] of Object.entries(jobMachine.root.states)) {
    for (const [eventType, defs] of node.transitions as unknown as Map<string, TransitionDef[]>) {
      defs.forEach((def, branch) => {
        const targetless = !def.target || def.target.length === 0;
        out.push({
          id: transitionId(key, eventType, branch),
          source: key as JobState,
          eventType,
          branch,
          target: (targetless ? key : def.target![0].key) as JobState,
          targetless,
          guard: guardName(def.guard),
        });
      });
    }
  }
  return out;
}

/** The transition `event` takes from `snapshot` (first enabled branch), or null if none. */
export function takenTransition(snapshot: JobSnapshot, event: PathEvent): string | null {
  const defs = jobMachine.getTransitionData(snapshot as never, event as never) as unknown as TransitionDef[];
  const def = defs[0];
  if (!def) return null;
  const branch = def.source.transitions.get(def.eventType)!.indexOf(def);
  return transitionId(def.source.key, def.eventType, branch);
}

/** Top-level state of a snapshot. */
export function stateOf(snapshot: { value: unknown }): JobState {
  return snapshot.value as JobState;
}

// ---------------------------------------------------------------------------------------------
// Events with payloads that drive every guard branch

const results = {
  plan: { steps: ['Reproduce', 'Fix', 'Test'], summary: 'Fix the widget' },
  code: { changes: [{ path: 'src/widget.ts', patch: '+fix', commitMessage: 'fix: widget' }] },
  approved: { approved: true, comments: ['Looks good.'] },
  rejected: { approved: false, comments: ['Needs a test.'] },
  pr: { url: 'https://github.com/acme/widgets/pull/1', number: 1 },
};

/** What an invoked stage actor's error carries; `kind` says which guard branch it should take. */
export type FaultKind = 'transient' | 'permanent' | 'exhausted';
function fault(stage: Stage, kind: FaultKind): StageFault {
  return {
    code: kind === 'permanent' ? 'MOCK_PERMANENT_FAILURE' : 'MOCK_TRANSIENT_FAILURE',
    message: `${kind} fault in ${stage}`,
    stage,
    attempt: kind === 'exhausted' ? STAGE_ATTEMPTS : 1,
    maxAttempts: STAGE_ATTEMPTS,
    retryable: kind !== 'permanent',
  };
}

const done = (id: string, result: unknown, usage?: typeof OVER_BUDGET_USAGE): PathEvent => ({
  type: `xstate.done.actor.${id}`,
  output: { result, attempt: 1, ...(usage ? { usage } : {}) },
});

/** Whether a done event reports usage (the over-budget variants). */
export function reportsUsage(event: PathEvent): boolean {
  return (event.output as { usage?: unknown } | undefined)?.usage !== undefined;
}
const error = (stage: Stage, kind: FaultKind): PathEvent => ({ type: `xstate.error.actor.${STAGE_ACTOR_ID[stage]}`, error: fault(stage, kind) });

/**
 * Every event tried in every state. Order matters for ties: the shortest-path search keeps the
 * first event found, so the permanent fault (one attempt) comes before the exhausted one (three).
 */
export const PATH_EVENTS: readonly PathEvent[] = [
  ...EXTERNAL_EVENT_TYPES.map((type) => ({ type })),
  { type: 'MARK_FAILED', error: { code: 'JOB_DEADLINE_EXCEEDED', message: 'job did not finish within JOB_DEADLINE_MS', stage: 'lifecycle' } },
  done('plan', results.plan),
  done('code', results.code),
  done('review', results.approved),
  done('review', results.rejected),
  done('openPullRequest', results.pr),
  // The same results pushing the job over its budget (the isOverBudget branches).
  done('plan', results.plan, OVER_BUDGET_USAGE),
  done('code', results.code, OVER_BUDGET_USAGE),
  done('review', results.approved, OVER_BUDGET_USAGE),
  ...STAGES.flatMap((s) => (['transient', 'permanent', 'exhausted'] as const).map((k) => error(s, k))),
];

// ---------------------------------------------------------------------------------------------
// Path generation

/**
 * Serialises a state for the traversal: the state value, the parts of context that guards read
 * (review rounds, failed stage, whether a PR exists, whether the job is over its budget), and the
 * transition it was entered by.
 * Payloads that take the same branch lead to the same vertex.
 */
export function serializeState(snapshot: JobSnapshot, event: PathEvent | undefined, prev: JobSnapshot | undefined): string {
  const via = event && prev ? takenTransition(prev, event) : 'init';
  const c = snapshot.context as JobContext;
  // Guards compare reviewRounds + 1 with the limit only: every count at or past it behaves alike
  // (without the cap, a loop through the budget branch and RETRY would count rounds for ever).
  const rounds = Math.min(c.reviewRounds, c.limits.maxReviewRounds);
  return JSON.stringify([snapshot.value, rounds, c.failedStage, c.prUrl !== null, overBudget(c.usage, c.limits.budget), via]);
}

/** One step of a generated path: from `source`, `event` takes transition `transition` to `target`. */
export interface PathStep {
  source: JobState;
  target: JobState;
  event: PathEvent;
  transition: string;
}

/** A generated path: the steps from the initial state (QUEUED), for one limits variant. */
export interface GeneratedPath {
  variant: LimitVariant;
  steps: PathStep[];
  /** State at the end of the path. */
  end: JobState;
  /** The snapshot at the end (pure machine). */
  endSnapshot: JobSnapshot;
  /** Human-readable: `QUEUED -START_PLANNING-> PLANNING -PLAN_SUCCEEDED-> …`. */
  description: string;
}

function toGeneratedPath(variant: LimitVariant, path: StatePath<JobSnapshot, PathEvent>): GeneratedPath {
  // xstate/graph paths: steps[0] is the initial state (event xstate.init); steps[i] is the state
  // reached by steps[i].event from steps[i - 1].state.
  const steps: PathStep[] = [];
  for (let i = 1; i < path.steps.length; i++) {
    const prev = path.steps[i - 1].state;
    const { event, state } = path.steps[i];
    const id = takenTransition(prev, event);
    if (!id) throw new Error(`generated step ${i} takes no transition: ${JSON.stringify(event)}`);
    steps.push({ source: stateOf(prev), target: stateOf(state), event, transition: id });
  }
  return { variant, steps, end: stateOf(path.state), endSnapshot: path.state, description: describePath(steps) };
}

export function describePath(steps: PathStep[]): string {
  if (!steps.length) return 'QUEUED';
  return [steps[0].source, ...steps.map((s) => `-${stepLabel(s)}-> ${s.target}`)].join(' ');
}

/** A step's event in the seed vocabulary, with the fault kind for errors. */
export function stepLabel(step: PathStep): string {
  const name = seedEventName(step.event as { type: string; output?: unknown });
  if (step.event.type.startsWith('xstate.error.actor.')) {
    const f = step.event.error as StageFault;
    return `${name}(${!f.retryable ? 'permanent' : f.attempt < f.maxAttempts ? 'transient' : 'exhausted'})`;
  }
  return name;
}

/** All shortest paths (one per serialised vertex) of one limits variant, from `getShortestPaths`. */
export function shortestPaths(variant: LimitVariant, events: readonly PathEvent[] = PATH_EVENTS): GeneratedPath[] {
  const paths = getShortestPaths(jobMachine, {
    input: machineInput(variant),
    events: events as never,
    filterEvents: (snapshot: JobSnapshot, event: PathEvent) => snapshot.can(event),
    serializeState: serializeState as never,
  } as never) as unknown as StatePath<JobSnapshot, PathEvent>[];
  return paths.map((p) => toGeneratedPath(variant, p));
}

/** Every generated path of every variant, and the covering selection. */
export interface GeneratedPaths {
  /** All shortest paths (both variants; with and without MARK_FAILED among the events), distinct. */
  all: GeneratedPath[];
  /**
   * One path per legal transition — the shortest path whose last step takes it (preferring
   * paths without an earlier MARK_FAILED, then variant `auto`, then fewer steps, then
   * description order) — plus the empty path (a job at rest in
   * QUEUED). Replayed on the pure machine and through the whole stack.
   */
  covering: GeneratedPath[];
}

export function generatePaths(): GeneratedPaths {
  // A second traversal without MARK_FAILED finds, for the transitions out of FAILED, paths that
  // fail through a real stage fault (which a worker produces) rather than through MARK_FAILED.
  const withoutMarkFailed = PATH_EVENTS.filter((e) => e.type !== 'MARK_FAILED');
  const seen = new Set<string>();
  const all = [
    ...shortestPaths('auto'),
    ...shortestPaths('manual'),
    ...shortestPaths('auto', withoutMarkFailed),
    ...shortestPaths('manual', withoutMarkFailed),
  ].filter((p) => {
    const key = `${p.variant} ${p.description}`;
    if (seen.has(key)) return false;
    seen.add(key);
    return true;
  });
  // Prefer paths a real job can follow through REST and the workers: MARK_FAILED has no REST
  // producer (it is sent in-process), so it is avoided except as the transition under test.
  const internal = (p: GeneratedPath) => p.steps.slice(0, -1).filter((s) => s.event.type === 'MARK_FAILED').length;
  const rank = (p: GeneratedPath) => [internal(p), p.variant === 'auto' ? 0 : 1, p.steps.length, p.description] as const;
  const better = (a: GeneratedPath, b: GeneratedPath) => {
    const [x, y] = [rank(a), rank(b)];
    for (let i = 0; i < x.length; i++) if (x[i] !== y[i]) return x[i] < y[i];
    return false;
  };
  const byTransition = new Map<string, GeneratedPath>();
  for (const p of all) {
    const last = p.steps.at(-1);
    if (!last) continue;
    const current = byTransition.get(last.transition);
    if (!current || better(p, current)) byTransition.set(last.transition, p);
  }
  const initial = all.find((p) => p.variant === 'auto' && p.steps.length === 0);
  if (!initial) throw new Error('no path for the initial state');
  const order = legalTransitions().map((t) => t.id);
  const covering = [initial, ...order.filter((id) => byTransition.has(id)).map((id) => byTransition.get(id)!)];
  return { all, covering };
}

// ---------------------------------------------------------------------------------------------
// Replay on the pure machine

export interface PureReplay {
  /** Transition ids taken, in order (recomputed, not copied from the path). */
  taken: string[];
  end: JobSnapshot;
}

/**
 * Replays `path` from the machine's initial state with xstate's pure `transition`, checking at
 * every step that the event is accepted, takes the path's transition and reaches the path's state.
 * @throws Error describing the first step that differs.
 */
export function replayPure(path: GeneratedPath): PureReplay {
  let [snapshot] = initialTransition(jobMachine, machineInput(path.variant));
  const taken: string[] = [];
  path.steps.forEach((step, i) => {
    if (stateOf(snapshot) !== step.source) throw new Error(`step ${i + 1}: in ${stateOf(snapshot)}, path expects ${step.source}`);
    if (!snapshot.can(step.event as never)) throw new Error(`step ${i + 1}: ${step.event.type} not accepted in ${step.source}`);
    const id = takenTransition(snapshot, step.event);
    if (id !== step.transition) throw new Error(`step ${i + 1}: took ${id}, path expects ${step.transition}`);
    taken.push(id);
    [snapshot] = transition(jobMachine, snapshot, step.event as never);
    if (stateOf(snapshot) !== step.target) throw new Error(`step ${i + 1}: reached ${stateOf(snapshot)}, path expects ${step.target}`);
  });
  return { taken, end: snapshot };
}

// ---------------------------------------------------------------------------------------------
// What the stored history shows

/** A history entry without time and attempt. */
export interface HistoryStep {
  from: JobState;
  to: JobState;
  event: string;
}

/**
 * Transitions the stored history cannot show: the retryable-fault stays (`xstate.error.actor.<id>`
 * branch 0, targetless). A stage worker that sees one commits nothing and lets BullMQ retry the
 * stage message, so the stay exists only in the worker's run and in the agent's call log.
 */
export function isUncommittedStay(step: Pick<PathStep, 'transition'>): boolean {
  return /^[A-Z_]+:xstate\.error\.actor\.[A-Za-z]+:0$/.test(step.transition);
}

/** The history a job that followed `path` has stored: every step but the stays, in seed names. */
export function expectedHistory(path: GeneratedPath): HistoryStep[] {
  return path.steps
    .filter((s) => !isUncommittedStay(s))
    .map((s) => ({ from: s.source, to: s.target, event: seedEventName(s.event as { type: string; output?: unknown }) }));
}

/** External event types the snapshot does not accept (REST must answer 409 for each). */
export function illegalExternalEvents(snapshot: JobSnapshot): string[] {
  return EXTERNAL_EVENT_TYPES.filter((type) => !snapshot.can({ type } as never));
}

export function isFinal(state: JobState): boolean {
  return FINAL_STATES.includes(state);
}
