import type { AnyStateMachine } from 'xstate';
import { toDirectedGraph, type DirectedGraphNode } from 'xstate/graph';
import { defaultEventLabel, guardExpression, guardText, type StatechartLabeller } from './statechart.model';

/** A JSON-safe node of the directed graph. */
export interface GraphJsonNode {
  id: string;
  key: string;
  /** `atomic`, `compound`, `parallel` or `final` (the root: `compound`). */
  type: string;
  /**
   * Id of the enclosing state node, for a state below the top level (e.g. `pipeline.running` for
   * `pipeline.running.test`); absent for the top-level states (whose parent is the root) and the root.
   */
  parent?: string;
  description: string | null;
  invokes: string[];
  children: GraphJsonNode[];
  edges: GraphJsonEdge[];
}

/** A JSON-safe edge of the directed graph (one per transition branch and target). */
export interface GraphJsonEdge {
  /** `toDirectedGraph`'s `<state id>:<transition index>:<target index>`; `<state id>:always:<branch>:<target index>` for an eventless edge. */
  id: string;
  source: string;
  target: string;
  /** As `toDirectedGraph` labels it: the raw event type (`''` for an eventless edge). */
  label: { text: string };
  /** Event name people use (e.g. PLAN_SUCCEEDED; `done` for an `onDone`, `''` when eventless). */
  event: string;
  /** Index of the branch among the state's transitions for this event. */
  branch: number;
  guard: string | null;
  /** True when the transition has no target (drawn as a self-loop). */
  targetless: boolean;
  /** Present (true) on an eventless (`always`) transition, taken as soon as its guard holds. */
  eventless?: true;
}

/**
 * The machine's directed graph from `toDirectedGraph` (xstate/graph), reduced to its JSON-safe
 * parts (ids, keys, descriptions, edges with event, branch and guard) in definition order. Nested
 * states are the `children` of their parent (and name it in `parent`). `toDirectedGraph` leaves
 * out eventless (`always`) transitions: they are added after a node's other edges, marked
 * `eventless`.
 */
export function toGraphJson(machine: AnyStateMachine, labeller?: StatechartLabeller): GraphJsonNode {
  return convert(toDirectedGraph(machine), labeller, 0);
}

interface TransitionLike {
  eventType: string;
  guard?: unknown;
  target?: readonly { id: string; key: string }[];
}

function convert(node: DirectedGraphNode, labeller: StatechartLabeller | undefined, depth: number): GraphJsonNode {
  const sn = node.stateNode as unknown as {
    id: string;
    key: string;
    type: string;
    description?: string;
    parent?: { id: string };
    invoke: { id: string }[];
    transitions: Map<string, unknown[]>;
    always?: TransitionLike[];
  };
  const edge = (t: TransitionLike, branch: number, target: { id: string; key: string }) => {
    const targetless = !t.target || t.target.length === 0;
    const guard = guardText(t.guard);
    const info = { index: branch, guard, target: target.key, targetless };
    return {
      event: labeller ? labeller.eventLabel(t.eventType, info) : defaultEventLabel(t.eventType),
      branch,
      guard: guardExpression(t.guard),
      targetless,
    };
  };
  const always = (sn.always ?? []).flatMap((t, branch) =>
    (t.target?.length ? t.target : [sn]).map((target, i) => ({
      id: `${sn.id}:always:${branch}:${i}`,
      source: sn.id,
      target: target.id,
      label: { text: t.eventType },
      ...edge(t, branch, target),
      eventless: true as const,
    })),
  );
  return {
    id: node.id,
    key: sn.key,
    type: sn.type,
    ...(depth >= 2 && sn.parent ? { parent: sn.parent.id } : {}),
    description: sn.description ?? null,
    invokes: sn.invoke.map((i) => i.id),
    children: node.children.map((c) => convert(c, labeller, depth + 1)),
    edges: [
      ...node.edges.map((e) => {
        const t = e.transition as unknown as TransitionLike;
        const branch = sn.transitions.get(t.eventType)?.indexOf(t) ?? 0;
        return {
          id: e.id,
          source: e.source.id,
          target: e.target.id,
          label: { text: e.label.text },
          ...edge(t, branch, e.target as unknown as { id: string; key: string }),
        };
      }),
      ...always,
    ],
  };
}
