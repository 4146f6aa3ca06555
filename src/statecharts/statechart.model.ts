import { guardExpression, guardText } from '../lifecycle/guard-text';
import type { AnyStateMachine } from 'xstate';

/**
 * A JSON-safe description of a statechart, read from an XState machine's state nodes: every
 * state (nested and parallel ones included, in document order) and every transition branch.
 * Every exported format (Mermaid, SCXML, JSON, DOT/SVG) is rendered from it, so they cannot
 * disagree. Pure: no I/O, no Nest.
 */
export interface StatechartModel {
  /** Machine id (e.g. `job`). */
  id: string;
  /** Machine version string, if any. */
  version: string | null;
  /** Key of the initial top-level state. */
  initial: string;
  /** Every state, depth first in definition order (a state before its children). */
  states: StatechartState[];
  /** Transitions in definition order (states depth first; per state: events in map order, then its eventless branches). */
  transitions: StatechartTransition[];
}

/** `atomic` (no children), `compound` (one active child), `parallel` (every child active: regions), `final`. */
export type StatechartStateKind = 'atomic' | 'compound' | 'parallel' | 'final';

export interface StatechartState {
  /**
   * Unique key in the machine: the dot path from the root, e.g. `PLANNING` (top-level),
   * `running.test.waiting` (state `waiting` of region `test` of parallel state `running`).
   */
  key: string;
  /** The state's own name, the last segment of `key` (e.g. `waiting`). */
  name: string;
  /** Full state node id, e.g. `job.PLANNING`, `pipeline.running.test.waiting`. */
  id: string;
  /** Key of the enclosing state; null for a top-level state. */
  parent: string | null;
  kind: StatechartStateKind;
  /** Key of the initial child of a compound state; null for other kinds. */
  initial: string | null;
  /** Same as `kind === 'final'`. */
  final: boolean;
  description: string | null;
  /** Ids of the actors this state invokes. */
  invokes: string[];
}

/** One branch of one event in one state: (source, eventType, branch) is unique. */
export interface StatechartTransition {
  /** Stable id: `<source>:<eventType>:<branch>` (`running.test.waiting::0` for an eventless branch). */
  id: string;
  /** Key of the state that declares the transition. */
  source: string;
  /**
   * Raw event type as the machine processes it (e.g. `xstate.done.actor.plan`); `''` for an
   * eventless (`always`) transition; `xstate.done.state.<state id>` for a state's `onDone`.
   */
  eventType: string;
  /** True for an eventless (`always`) transition, taken as soon as its guard holds. */
  eventless: boolean;
  /** Index among the transitions for this event in this state (guard order). */
  branch: number;
  /** Target state key; equal to `source` for a targetless transition. */
  target: string;
  /** True when the transition has no target (the state does not change; actions may run). */
  targetless: boolean;
  /** Guard as text, e.g. `isApproved` or `failedIn(planning)`; null when unguarded. */
  guard: string | null;
  /** Guard as a call expression, e.g. `isApproved` or `failedIn('planning')` (SCXML `cond`); null when unguarded. */
  guardExpression: string | null;
  /**
   * Human label of the event, e.g. `PLAN_SUCCEEDED` (see {@link StatechartLabeller}); by default
   * `''` for an eventless transition and `done` for an `onDone` ({@link defaultEventLabel}).
   */
  label: string;
  /** Label of the condition: the guard, or for a fallback after guarded branches a description of it. */
  condition: string | null;
}

/**
 * Names events and fallback branches for people. `eventLabel` maps a raw event type (and its
 * branch) to the vocabulary people use; `fallbackLabel` names an unguarded branch that follows
 * guarded ones (default: the negated guards, e.g. `!isRetryableFault`).
 */
export interface StatechartLabeller {
  eventLabel(eventType: string, branch: { index: number; guard: string | null; target: string; targetless: boolean }): string;
  fallbackLabel?(eventType: string, previousGuards: string[]): string | undefined;
}

/**
 * The label of a raw event type when no labeller names it: `''` for an eventless transition,
 * `done` for a state's `onDone` (`xstate.done.state.<id>`), else the event type itself.
 */
export function defaultEventLabel(eventType: string): string {
  if (eventType === '') return '';
  if (eventType.startsWith('xstate.done.state.')) return 'done';
  return eventType;
}

/** The labeller of machines whose event names are already the ones people use ({@link defaultEventLabel}). */
export const DEFAULT_LABELLER: StatechartLabeller = { eventLabel: (eventType) => defaultEventLabel(eventType) };

export { guardExpression, guardText } from '../lifecycle/guard-text';

interface TransitionLike {
  guard?: unknown;
  target?: readonly NodeLike[];
}

interface NodeLike {
  id: string;
  key: string;
  path: string[];
  type: string;
  description?: string;
  states: Record<string, NodeLike>;
  invoke: { id: string }[];
  initial?: { target?: readonly NodeLike[] };
  transitions: Map<string, TransitionLike[]>;
  always?: TransitionLike[];
}

/** A state node's key in the model: its path from the root, dot-separated. */
function keyOf(node: NodeLike): string {
  return node.path.join('.');
}

/**
 * Reads every state (nested and parallel ones included) and every transition branch of
 * `machine`: the event transitions of each state (`on`, `onDone`, invoke done/error, in XState's
 * map order), then its eventless (`always`) ones. For a flat machine (such as the job machine)
 * the result is the same as before nested states were read.
 * @throws Error for a history state, or a transition with several targets.
 */
export function statechartModel(machine: AnyStateMachine, labeller?: StatechartLabeller): StatechartModel {
  const root = machine.root as unknown as NodeLike;
  const initial = root.initial?.target?.[0];
  if (!initial) throw new Error(`machine ${root.id} has no initial state`);
  const states: StatechartState[] = [];
  const transitions: StatechartTransition[] = [];
  const visit = (node: NodeLike, parent: string | null): void => {
    if (node.type === 'history') throw new Error(`history states are not supported (${node.id})`);
    const key = keyOf(node);
    const kind = node.type as StatechartStateKind;
    const first = kind === 'compound' ? node.initial?.target?.[0] : undefined;
    states.push({
      key,
      name: node.key,
      id: node.id,
      parent,
      kind,
      initial: first ? keyOf(first) : null,
      final: kind === 'final',
      description: node.description ?? null,
      invokes: node.invoke.map((i) => i.id),
    });
    const branches: [string, TransitionLike[]][] = [...node.transitions];
    if (node.always?.length) branches.push(['', node.always]);
    for (const [eventType, defs] of branches) {
      const previous: string[] = [];
      defs.forEach((def, branch) => {
        if (def.target && def.target.length > 1) throw new Error(`multiple targets are not supported (${node.id} on ${eventType || 'always'})`);
        const targetless = !def.target || def.target.length === 0;
        const target = targetless ? key : keyOf(def.target![0]);
        const guard = guardText(def.guard);
        const info = { index: branch, guard, target, targetless };
        const label = labeller ? labeller.eventLabel(eventType, info) : defaultEventLabel(eventType);
        const fallback = guard === null && previous.length > 0 ? labeller?.fallbackLabel?.(eventType, previous) ?? previous.map((g) => `!${g}`).join(' && ') : null;
        transitions.push({
          id: `${key}:${eventType}:${branch}`,
          source: key,
          eventType,
          eventless: eventType === '',
          branch,
          target,
          targetless,
          guard,
          guardExpression: guardExpression(def.guard),
          label,
          condition: guard ?? fallback,
        });
        if (guard) previous.push(guard);
      });
    }
    for (const child of Object.values(node.states)) visit(child, key);
  };
  for (const node of Object.values(root.states)) visit(node, null);
  return { id: root.id, version: (machine as { version?: string }).version ?? null, initial: keyOf(initial), states, transitions };
}

/** The transition label people read: `EVENT [condition]`; `[condition]` alone for an eventless transition. */
export function transitionLabel(t: Pick<StatechartTransition, 'label' | 'condition'>): string {
  if (!t.label) return t.condition ? `[${t.condition}]` : '';
  return t.condition ? `${t.label} [${t.condition}]` : t.label;
}

/** The states directly inside `parent` (null: the top-level states), in definition order. */
export function childrenOf(model: StatechartModel, parent: string | null): StatechartState[] {
  return model.states.filter((s) => s.parent === parent);
}

/** Whether the model has nested states (any state below the top level). */
export function isNested(model: StatechartModel): boolean {
  return model.states.some((s) => s.parent !== null);
}

/** `key` and the keys of the states enclosing it, innermost first (`a.b.c` → `a.b.c`, `a.b`, `a`). */
function selfAndAncestors(model: StatechartModel, key: string): string[] {
  const parents = new Map(model.states.map((s) => [s.key, s.parent]));
  const out: string[] = [];
  for (let k: string | null | undefined = key; k; k = parents.get(k)) out.push(k);
  return out;
}

/**
 * The innermost state that strictly encloses both ends of `t` (null: the machine's root): where a
 * renderer that nests blocks (Mermaid composite states) writes the transition. A self-loop on a
 * state belongs to its parent.
 */
export function transitionScope(model: StatechartModel, t: Pick<StatechartTransition, 'source' | 'target'>): string | null {
  const around = new Set(selfAndAncestors(model, t.source).slice(1));
  for (const k of selfAndAncestors(model, t.target).slice(1)) if (around.has(k)) return k;
  return null;
}
