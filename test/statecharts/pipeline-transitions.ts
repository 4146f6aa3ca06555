/**
 * The legal transitions of a compiled pipeline statechart, read from its state nodes (never from
 * paths), and a recorder of the transitions an event takes on the pure machine: the two sides of
 * the generated coverage (./pipeline-paths.ts generates the paths, ./pipeline-coverage.spec.ts
 * compares them).
 */
import { createActor, type AnyActorScope, type AnyMachineSnapshot, type AnyStateMachine, type AnyTransitionDefinition, type InspectionEvent } from 'xstate';
import type { PipelineEvent, PipelineInput } from '../../src/pipelines/pipeline.types';

/** Event type of the eventless (`always`) branches in transition ids. */
export const ALWAYS = 'always';

/** One legal transition: (source, event type, branch) → target. Targetless ones stay in source. */
export interface LegalPipelineTransition {
  /** `<source state path>:<event type>:<branch>`, e.g. `running.plan.waiting:always:4`. */
  id: string;
  /** Dotted state path, e.g. `running.plan.waiting`, `quarantined`. */
  source: string;
  /** The event type, {@link ALWAYS} for eventless branches. */
  eventType: string;
  branch: number;
  /** Dotted path of the target (the source itself for a targetless branch). */
  target: string;
  targetless: boolean;
  /** `type(param values…)`, or null for an unguarded branch. */
  guard: string | null;
}

type StateNodeLike = AnyStateMachine['root'];

const pathOf = (node: { path: readonly string[] }) => node.path.join('.');

function guardName(guard: unknown): string | null {
  if (guard === undefined) return null;
  if (typeof guard === 'string') return guard;
  const g = guard as { type: string; params?: Record<string, unknown> };
  return g.params ? `${g.type}(${Object.values(g.params).join(', ')})` : g.type;
}

export function pipelineTransitionId(source: string, eventType: string, branch: number): string {
  return `${source}:${eventType}:${branch}`;
}

/** The legal id of a transition definition taken at run time (by source node, event type and branch index). */
export function transitionIdOf(def: AnyTransitionDefinition): string {
  const eventless = def.eventType === '';
  const branches: readonly AnyTransitionDefinition[] | undefined = eventless ? def.source.always : def.source.transitions.get(def.eventType);
  const branch = branches ? branches.indexOf(def) : -1;
  return pipelineTransitionId(pathOf(def.source), eventless ? ALWAYS : def.eventType, branch);
}

/** Every legal transition of `machine`, walking its state nodes recursively (nested and parallel regions). */
export function legalPipelineTransitions(machine: AnyStateMachine): LegalPipelineTransition[] {
  const out: LegalPipelineTransition[] = [];
  const add = (node: StateNodeLike, eventType: string, defs: readonly AnyTransitionDefinition[]) =>
    defs.forEach((def, branch) => {
      const targetless = !def.target || def.target.length === 0;
      out.push({
        id: pipelineTransitionId(pathOf(node), eventType, branch),
        source: pathOf(node),
        eventType,
        branch,
        target: targetless ? pathOf(node) : pathOf(def.target![0]),
        targetless,
        guard: guardName(def.guard),
      });
    });
  const walk = (node: StateNodeLike) => {
    for (const [eventType, defs] of node.transitions) add(node, eventType, defs);
    if (node.always) add(node, ALWAYS, node.always);
    for (const child of Object.values(node.states)) walk(child);
  };
  walk(machine.root);
  return out;
}

// ---------------------------------------------------------------------------------------------
// Limits variants (the machine's input): each makes other guard branches reachable

// ---------------------------------------------------------------------------------------------
// Taking an event and recording the transitions taken

export type PipelineSnapshot = AnyMachineSnapshot;

/**
 * Takes events on the pure machine (`machine.transition`, as xstate's `transition` does) with an
 * actor scope whose system reports inspection events, so that each event's `@xstate.microstep`
 * events (their `_transitions`) say which transitions it took. Faster than an actor per event
 * (the traversal takes one per edge); {@link replayPipelinePath} checks its answers with real actors.
 */
export class TransitionRecorder {
  private taken: AnyTransitionDefinition[] = [];
  private readonly scope: AnyActorScope;

  constructor(
    private readonly machine: AnyStateMachine,
    input: PipelineInput,
  ) {
    const inspector = createActor(machine, { input, inspect: (e: InspectionEvent) => this.onInspect(e) });
    // The shape of xstate's own inert actor scope (the one `transition()` uses).
    this.scope = {
      self: inspector,
      id: '',
      sessionId: '',
      logger: () => {},
      defer: () => {},
      emit: () => {},
      system: inspector.system,
      stopChild: () => {},
      actionExecutor: () => {},
    } as unknown as AnyActorScope;
  }

  private onInspect(e: InspectionEvent) {
    if (e.type === '@xstate.microstep') this.taken.push(...e._transitions);
  }

  /** The snapshot after `event`, and the ids of the transitions it took, in order. */
  step(snapshot: PipelineSnapshot, event: PipelineEvent): { next: PipelineSnapshot; taken: string[] } {
    this.taken = [];
    const next = this.machine.transition(snapshot, event, this.scope) as PipelineSnapshot;
    return { next, taken: this.taken.map(transitionIdOf) };
  }

  initial(input: PipelineInput): PipelineSnapshot {
    return this.machine.getInitialSnapshot(this.scope, input) as PipelineSnapshot;
  }
}
