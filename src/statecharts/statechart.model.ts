import { guardExpression, guardText } from '../lifecycle/guard-text';
import type { AnyStateMachine } from 'xstate';

/**
 * A flat, JSON-safe description of a statechart, read from an XState machine's state nodes.
 * Every exported format (Mermaid, SCXML, JSON, DOT/SVG) is rendered from it, so they cannot
 * disagree. Pure: no I/O, no Nest.
 */
export interface StatechartModel {
  /** Machine id (e.g. `job`). */
  id: string;
  /** Machine version string, if any. */
  version: string | null;
  /** Key of the initial state. */
  initial: string;
  /** Top-level states in definition order. */
  states: StatechartState[];
  /** Transitions in definition order (per state: events in map order, then branches in order). */
  transitions: StatechartTransition[];
}

export interface StatechartState {
  /** State key, e.g. `PLANNING`. */
  key: string;
  /** Full state node id, e.g. `job.PLANNING`. */
  id: string;
  final: boolean;
  description: string | null;
  /** Ids of the actors this state invokes. */
  invokes: string[];
}

/** One branch of one event in one state: (source, eventType, branch) is unique. */
export interface StatechartTransition {
  /** Stable id: `<source>:<eventType>:<branch>`. */
  id: string;
  source: string;
  /** Raw event type as the machine processes it (e.g. `xstate.done.actor.plan`). */
  eventType: string;
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
  /** Human label of the event, e.g. `PLAN_SUCCEEDED` (see {@link StatechartLabeller}). */
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

export { guardExpression, guardText } from '../lifecycle/guard-text';

interface NodeLike {
  id: string;
  key: string;
  type: string;
  description?: string;
  states: Record<string, NodeLike>;
  invoke: { id: string }[];
  transitions: Map<string, { guard?: unknown; target?: readonly { id: string; key: string }[] }[]>;
}

/**
 * Reads the top-level states and transitions of `machine`. Only flat machines (no nested or
 * parallel states) are supported: the job machine is flat.
 * @throws Error for a nested state, or a transition with several targets.
 */
export function statechartModel(machine: AnyStateMachine, labeller?: StatechartLabeller): StatechartModel {
  const root = machine.root as unknown as NodeLike & { initial?: { target?: readonly { key: string }[] } };
  const initial = root.initial?.target?.[0]?.key;
  if (!initial) throw new Error(`machine ${root.id} has no initial state`);
  const states: StatechartState[] = [];
  const transitions: StatechartTransition[] = [];
  for (const node of Object.values(root.states)) {
    if (Object.keys(node.states).length > 0) throw new Error(`nested states are not supported (${node.id})`);
    states.push({
      key: node.key,
      id: node.id,
      final: node.type === 'final',
      description: node.description ?? null,
      invokes: node.invoke.map((i) => i.id),
    });
    for (const [eventType, defs] of node.transitions) {
      const previous: string[] = [];
      defs.forEach((def, branch) => {
        if (def.target && def.target.length > 1) throw new Error(`multiple targets are not supported (${node.id} on ${eventType})`);
        const targetless = !def.target || def.target.length === 0;
        const target = targetless ? node.key : def.target![0].key;
        const guard = guardText(def.guard);
        const info = { index: branch, guard, target, targetless };
        const label = labeller ? labeller.eventLabel(eventType, info) : eventType;
        const fallback = guard === null && previous.length > 0 ? labeller?.fallbackLabel?.(eventType, previous) ?? previous.map((g) => `!${g}`).join(' && ') : null;
        transitions.push({
          id: `${node.key}:${eventType}:${branch}`,
          source: node.key,
          eventType,
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
  }
  return { id: root.id, version: (machine as { version?: string }).version ?? null, initial, states, transitions };
}

/** The transition label people read: `EVENT [condition]`. */
export function transitionLabel(t: Pick<StatechartTransition, 'label' | 'condition'>): string {
  return t.condition ? `${t.label} [${t.condition}]` : t.label;
}
