/**
 * Generated paths through the compiled pipeline statecharts (one machine per built-in template),
 * and the set of legal transitions they must cover. The pipeline counterpart of ./paths.ts.
 *
 * - {@link legalPipelineTransitions} walks the machine's state nodes recursively (top-level
 *   states, the parallel `running` state, every step region's states) and lists every
 *   (source state, event type, guard branch) → target, eventless `always` branches and the
 *   `running` state's onDone (`xstate.done.state.pipeline.running`) included. It never looks at paths.
 * - {@link explorePipeline} asks `getShortestPaths` (xstate/graph) for one shortest path to every
 *   abstract state (see {@link abstractState}) of one limits variant, with the events generated
 *   from each snapshot ({@link pipelineEvents}), then extends every such path by every event its
 *   end state accepts: one path per edge of the explored graph, each with the legal transitions
 *   its last event took (the event's own transition, the eventless ones it set off, onDone).
 *   The job machine's generator gets the same per-transition paths by putting the transition
 *   taken into its `serializeState`; a parallel state with one region per step would multiply
 *   the state space by the number of transition sets entering each state, so here a state is
 *   explored once and its edges are enumerated instead.
 * - {@link coveringPaths} picks, for every legal transition, the shortest path whose last event
 *   takes it.
 * - {@link replayPipelinePath} replays a path on the pure machine (an in-memory actor, no
 *   side effects: the machine's only actions are `assign`s) and reports the transitions every event
 *   took, read from the `@xstate.microstep` inspection events (eventless steps are microsteps too).
 */
import { createActor, type AnyMachineSnapshot, type AnyStateMachine, type InspectionEvent } from 'xstate';
import { getShortestPaths, type StatePath } from 'xstate/graph';
import { BUILT_IN_TEMPLATES } from '../../src/pipelines/built-in-templates';
import { compilePipeline, needVerdict } from '../../src/pipelines/pipeline.compiler';
import type { PipelineContext, PipelineEvent, PipelineInput, RunLimits } from '../../src/pipelines/pipeline.types';
import { validateTemplate, type PipelineTemplate } from '../../src/pipelines/template.schema';
import { transitionIdOf, TransitionRecorder, type PipelineSnapshot } from './pipeline-transitions';

export { ALWAYS, legalPipelineTransitions, pipelineTransitionId, transitionIdOf, TransitionRecorder, type LegalPipelineTransition } from './pipeline-transitions';

/** What the built-in templates may refer to (the app's tool adapters: shell and function). */
export const BUILT_IN_CHECK = { tools: ['shell', 'function'], capabilities: [], functions: [] } as const;

/** The version the built-in templates are stored as. */
export const BUILT_IN_VERSION = 1;

export interface BuiltInPipeline {
  template: PipelineTemplate;
  machine: AnyStateMachine;
  /** `pipeline:<name>@1`, the machine's name in the coverage lines. */
  label: string;
}

/** Every built-in template, validated and compiled. */
export function builtInPipelines(): BuiltInPipeline[] {
  return BUILT_IN_TEMPLATES.map((raw) => {
    const template = validateTemplate(raw, { tools: [...BUILT_IN_CHECK.tools], capabilities: [], functions: [] });
    const machine = compilePipeline(template, BUILT_IN_VERSION) as unknown as AnyStateMachine;
    return { template, machine, label: `pipeline:${machine.version}` };
  });
}

// ---------------------------------------------------------------------------------------------
// Legal transitions, from the machine's state nodes

export interface LimitsVariant {
  name: string;
  /** Why the variant exists. */
  purpose: string;
  limits(template: PipelineTemplate): RunLimits;
}

const baseLimits = (t: PipelineTemplate): RunLimits => ({
  maxParallel: t.maxParallel,
  failFast: t.failFast,
  // One spawn round per step: the second STEP_SPAWNED of a step takes the spawn-limit branch
  // (`isCurrent` → failed, MAX_SPAWN_DEPTH). The templates' own depth (5) only makes paths longer.
  maxSpawnDepth: 1,
  maxStepsPerRun: t.maxStepsPerRun,
  maxFailedAttempts: 0,
});

export const LIMITS_VARIANTS: readonly LimitsVariant[] = [
  { name: 'no-budget', purpose: "the template's maxParallel, no failure budget (quarantine only by a quarantine-class error)", limits: baseLimits },
  { name: 'budget-2', purpose: 'maxFailedAttempts 2: the second failed attempt quarantines the run', limits: (t) => ({ ...baseLimits(t), maxFailedAttempts: 2 }) },
  { name: 'serial', purpose: 'maxParallel 1 (with the failure budget of 2)', limits: (t) => ({ ...baseLimits(t), maxParallel: 1, maxFailedAttempts: 2 }) },
];

/** The variants that differ for `template` (`serial` is `budget-2` when the template already runs one step at a time). */
export function variantsFor(template: PipelineTemplate): LimitsVariant[] {
  return LIMITS_VARIANTS.filter((v) => v.name !== 'serial' || template.maxParallel > 1);
}

export function pipelineInput(template: PipelineTemplate, variant: LimitsVariant): PipelineInput {
  return {
    runId: `path-${template.name}-${variant.name}`,
    tenantId: 'acme',
    template: { name: template.name, version: BUILT_IN_VERSION },
    limits: variant.limits(template),
    stepIds: template.steps.map((s) => s.id),
  };
}

// ---------------------------------------------------------------------------------------------
// Events, generated from the current snapshot

const contextOf = (snapshot: AnyMachineSnapshot) => snapshot.context as PipelineContext;

/** Steps (template and spawned) running in `snapshot`, with their current visit. */
export function runningSteps(snapshot: AnyMachineSnapshot): { step: string; visit: number; spawned: boolean }[] {
  const c = contextOf(snapshot);
  return [
    ...Object.entries(c.steps)
      .filter(([, s]) => s.status === 'running')
      .map(([step, s]) => ({ step, visit: s.visit, spawned: false })),
    ...c.spawned.filter((s) => s.status === 'running').map((s) => ({ step: s.id, visit: s.visit, spawned: true })),
  ];
}

/** The template step a step's STEP_SPAWNED asks for: its `spawnOnFailure`, else itself. */
function spawnTarget(template: PipelineTemplate, step: string): string {
  const id = step.split('~')[0];
  const target = template.steps.find((s) => s.id === id)?.with.spawnOnFailure;
  return typeof target === 'string' ? target : id;
}

/**
 * Every event tried in `snapshot`, kept if the snapshot accepts it: START; for every running
 * step (template or spawned), on its current visit, STEP_SUCCEEDED, STEP_FAILED (plain and
 * quarantine-class), STEP_ATTEMPT_FAILED (plain and quarantine-class) and STEP_SPAWNED; RELEASE,
 * RETRY_STEP for every template step, CANCEL. Order matters for ties: the shortest-path search
 * keeps the first event found, so the successful outcomes come first and CANCEL last.
 */
export function pipelineEvents(template: PipelineTemplate, snapshot: AnyMachineSnapshot): PipelineEvent[] {
  const events: PipelineEvent[] = [{ type: 'START' }];
  for (const { step, visit } of runningSteps(snapshot)) {
    events.push(
      { type: 'STEP_SUCCEEDED', step, visit },
      { type: 'STEP_FAILED', step, visit, attempts: 1, code: 'EXIT_1', message: `${step} exited with 1` },
      { type: 'STEP_FAILED', step, visit, attempts: 1, code: 'TOOL_MISSING', message: `${step}: tool not installed`, quarantine: true },
      { type: 'STEP_ATTEMPT_FAILED', step, visit, code: 'EXIT_1', message: `${step} exited with 1` },
      { type: 'STEP_ATTEMPT_FAILED', step, visit, code: 'TOOL_MISSING', message: `${step}: tool not installed`, quarantine: true },
      { type: 'STEP_SPAWNED', step, visit, spawn: spawnTarget(template, step), reason: `${step} asks for a regression round` },
    );
  }
  events.push({ type: 'RELEASE' }, ...template.steps.map((s) => ({ type: 'RETRY_STEP' as const, step: s.id })), { type: 'CANCEL' });
  return events.filter((e) => snapshot.can(e));
}

/** `STEP_FAILED(test v2, quarantine)`, `RETRY_STEP(dev)`, `START`. */
export function eventLabel(event: PipelineEvent): string {
  const args: string[] = [];
  if ('step' in event) args.push('visit' in event ? `${event.step} v${event.visit}` : event.step);
  if ('quarantine' in event && event.quarantine) args.push('quarantine');
  if (event.type === 'STEP_SPAWNED') args.push(`spawn ${event.spawn}`);
  return args.length ? `${event.type}(${args.join(', ')})` : event.type;
}

// ---------------------------------------------------------------------------------------------
// Abstract states: what the guards read, so that the traversal is finite and small

/** Whether a running template step's next STEP_SPAWNED may spawn (the `spawnAllowed` guard without the visit check). */
function spawnAllowed(c: PipelineContext, step: string): boolean {
  const rounds = c.spawned.filter((s) => s.parentStepId === step).length;
  return rounds < c.limits.maxSpawnDepth && Object.keys(c.steps).length + c.spawned.length < c.limits.maxStepsPerRun;
}

/**
 * Serialises a snapshot for the traversal: the state value, every template step's status (a
 * running one with whether it may still spawn), the parents of the running spawned steps and the
 * failure-budget count capped where it stops mattering (`failedAttempts + 1 >= maxFailedAttempts`).
 * Visits are left out: every generated event carries the step's current visit, so the visit
 * numbers never change a guard's outcome. The spawn history of steps that are not running is
 * left out too (it matters again only when the step runs, and is then part of the key): that
 * merges states, so some behaviours are explored from one representative only — the coverage
 * assertion says whether that is enough.
 */
export function abstractState(snapshot: AnyMachineSnapshot): string {
  const c = contextOf(snapshot);
  const steps = Object.entries(c.steps).map(([id, s]) => (s.status === 'running' && !spawnAllowed(c, id) ? 'running/spawn-limit' : s.status));
  const spawned = c.spawned.filter((s) => s.status === 'running').map((s) => s.parentStepId);
  const budget = c.limits.maxFailedAttempts > 0 ? Math.min(c.failedAttempts, c.limits.maxFailedAttempts - 1) : 0;
  return JSON.stringify([snapshot.value, steps, spawned, budget]);
}

// ---------------------------------------------------------------------------------------------
// Exploration

/** One generated path: events from the initial state (`pending`) of one limits variant. */
export interface PipelinePath {
  pipeline: string;
  variant: string;
  input: PipelineInput;
  events: PipelineEvent[];
}

/** An abstract state the traversal reached: its shortest path and the snapshot at its end. */
export interface ExploredVertex {
  key: string;
  path: PipelinePath;
  snapshot: PipelineSnapshot;
}

/** An edge: a vertex's path extended by one accepted event. */
export interface ExploredEdge {
  from: ExploredVertex;
  event: PipelineEvent;
  /** The transitions the event took (ids), in order. */
  taken: string[];
  next: PipelineSnapshot;
}

export interface Exploration {
  pipeline: BuiltInPipeline;
  variant: LimitsVariant;
  vertices: ExploredVertex[];
  edges: ExploredEdge[];
}

/** A bound on the traversal (states dequeued per variant); it throws when exceeded, so an explosion fails fast. */
export const TRAVERSAL_LIMIT = 100_000;

/**
 * Explores one machine under one limits variant: `getShortestPaths` (xstate/graph) gives a
 * shortest path to every abstract state; each is replayed (it must reach a snapshot with the same
 * abstract state) and extended by every event its end accepts.
 */
export function explorePipeline(pipeline: BuiltInPipeline, variant: LimitsVariant): Exploration {
  const { template, machine, label } = pipeline;
  const input = pipelineInput(template, variant);
  const shortest = getShortestPaths(machine, {
    input,
    events: (snapshot: PipelineSnapshot) => pipelineEvents(template, snapshot),
    serializeState: (snapshot: PipelineSnapshot) => abstractState(snapshot),
    limit: TRAVERSAL_LIMIT,
  } as never) as unknown as StatePath<PipelineSnapshot, PipelineEvent>[];

  const recorder = new TransitionRecorder(machine, input);
  // Paths come in breadth-first order, each one its predecessor's path plus one event: replay
  // each from its predecessor's snapshot.
  const byEvents = new Map<string, PipelineSnapshot>([['[]', recorder.initial(input)]]);
  const vertices: ExploredVertex[] = [];
  for (const p of shortest) {
    // steps[0] is the initial state (event xstate.init); steps[i] was reached by steps[i].event.
    const events = p.steps.slice(1).map((s) => s.event);
    const key = abstractState(p.state);
    let snapshot: PipelineSnapshot | undefined = byEvents.get(JSON.stringify(events));
    if (!snapshot) {
      const before = byEvents.get(JSON.stringify(events.slice(0, -1)));
      if (!before) throw new Error(`${label} ${variant.name}: no snapshot for the prefix of the path to ${key}`);
      snapshot = recorder.step(before, events.at(-1)!).next;
      byEvents.set(JSON.stringify(events), snapshot);
    }
    if (abstractState(snapshot) !== key) {
      throw new Error(`${label} ${variant.name}: replaying ${events.map(eventLabel).join(' ')} reaches ${abstractState(snapshot)}, not ${key}`);
    }
    vertices.push({ key, path: { pipeline: label, variant: variant.name, input, events }, snapshot });
  }

  const keys = new Set(vertices.map((v) => v.key));
  const edges: ExploredEdge[] = [];
  for (const from of vertices) {
    for (const event of pipelineEvents(template, from.snapshot)) {
      const { next, taken } = recorder.step(from.snapshot, event);
      if (!keys.has(abstractState(next))) throw new Error(`${label} ${variant.name}: an edge leaves the explored states: ${abstractState(next)}`);
      edges.push({ from, event, taken, next });
    }
  }
  return { pipeline, variant, vertices, edges };
}

/** The path of an edge: its vertex's path and the edge's event. */
export function edgePath(edge: ExploredEdge): PipelinePath {
  return { ...edge.from.path, events: [...edge.from.path.events, edge.event] };
}

/**
 * For every transition id some edge takes, the shortest path whose last event takes it (ties:
 * the first variant, then breadth-first order), and the distinct paths so chosen.
 */
export function coveringPaths(explorations: readonly Exploration[]): { byTransition: Map<string, PipelinePath>; paths: PipelinePath[] } {
  const best = new Map<string, ExploredEdge>();
  for (const x of explorations) {
    for (const edge of x.edges) {
      for (const id of edge.taken) {
        const current = best.get(id);
        if (!current || edge.from.path.events.length < current.from.path.events.length) best.set(id, edge);
      }
    }
  }
  const byTransition = new Map<string, PipelinePath>();
  const distinct = new Map<string, PipelinePath>();
  for (const [id, edge] of best) {
    const path = edgePath(edge);
    const key = `${path.variant} ${JSON.stringify(path.events)}`;
    if (!distinct.has(key)) distinct.set(key, path);
    byTransition.set(id, distinct.get(key)!);
  }
  return { byTransition, paths: [...distinct.values()] };
}

// ---------------------------------------------------------------------------------------------
// Replay with an actor

export interface ReplayedStep {
  event: PipelineEvent;
  /** Transition ids the event took, from the actor's `@xstate.microstep` inspection events. */
  taken: string[];
  /** The snapshot after the event. */
  snapshot: PipelineSnapshot;
}

export interface Replay {
  initial: PipelineSnapshot;
  steps: ReplayedStep[];
}

/**
 * Replays `path` on the pure machine with an in-memory actor, checking before every event that
 * the current snapshot accepts it.
 * @throws Error naming the first event the machine does not accept.
 */
export function replayPipelinePath(machine: AnyStateMachine, path: PipelinePath): Replay {
  let current: string[] = [];
  const actor = createActor(machine, {
    input: path.input,
    inspect: (e: InspectionEvent) => {
      if (e.type === '@xstate.microstep') current.push(...e._transitions.map(transitionIdOf));
    },
  });
  actor.start();
  const initial = actor.getSnapshot() as PipelineSnapshot;
  const steps: ReplayedStep[] = [];
  try {
    path.events.forEach((event, i) => {
      const before = actor.getSnapshot() as PipelineSnapshot;
      if (!before.can(event)) throw new Error(`event ${i + 1} (${eventLabel(event)}) not accepted in ${JSON.stringify(before.value)}`);
      current = [];
      actor.send(event);
      steps.push({ event, taken: current, snapshot: actor.getSnapshot() as PipelineSnapshot });
    });
  } finally {
    actor.stop();
  }
  return { initial, steps };
}

/** `pending -START-> running{plan: running} -STEP_SUCCEEDED(plan v1)-> …` (the top-level state, and the running steps). */
export function describeReplay(replay: Replay): string {
  const at = (s: PipelineSnapshot) => {
    const top = typeof s.value === 'string' ? s.value : Object.keys(s.value as object)[0];
    const running = runningSteps(s).map((r) => r.step);
    return running.length ? `${top}{${running.join(', ')}}` : top;
  };
  return [at(replay.initial), ...replay.steps.map((s) => `-${eventLabel(s.event)}-> ${at(s.snapshot)}`)].join(' ');
}

// ---------------------------------------------------------------------------------------------
// Semantic checks on snapshots

/**
 * What a snapshot at rest must satisfy, as messages (empty when it does):
 * - no more steps running (template and spawned) than `maxParallel`;
 * - a running (or spawn-awaiting) step has all its needs met (`success` needs succeeded, …);
 * - a run that ended `succeeded` has no failed step (every step succeeded or was skipped);
 * - a run that ended `failed` has a failed step.
 */
export function invariantViolations(template: PipelineTemplate, snapshot: PipelineSnapshot): string[] {
  const c = contextOf(snapshot);
  const out: string[] = [];
  const running = runningSteps(snapshot);
  if (running.length > c.limits.maxParallel) {
    out.push(`maxParallel: ${running.length} steps running (${running.map((r) => r.step).join(', ')}), maxParallel is ${c.limits.maxParallel}`);
  }
  for (const step of template.steps) {
    const s = c.steps[step.id];
    if (s.status !== 'running' && s.status !== 'awaitingSpawn') continue;
    for (const need of step.needs) {
      if (needVerdict(need, c.steps[need.step].status) !== 'met') out.push(`needs: ${step.id} is ${s.status} but needs ${need.step} on ${need.on}, which is ${c.steps[need.step].status}`);
    }
  }
  if (snapshot.value === 'succeeded') {
    const bad = Object.entries(c.steps).filter(([, s]) => s.status !== 'succeeded' && s.status !== 'skipped');
    if (bad.length) out.push(`succeeded: the run succeeded with ${bad.map(([id, s]) => `${id} ${s.status}`).join(', ')}`);
  }
  if (snapshot.value === 'failed' && !Object.values(c.steps).some((s) => s.status === 'failed')) out.push('failed: the run failed with no failed step');
  return out;
}
