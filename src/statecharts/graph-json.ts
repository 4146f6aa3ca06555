import type { AnyStateMachine } from 'xstate';
import { toDirectedGraph, type DirectedGraphNode } from 'xstate/graph';
import { guardExpression, guardText, type StatechartLabeller } from './statechart.model';

/** A JSON-safe node of the directed graph. */
export interface GraphJsonNode {
  id: string;
  key: string;
  type: string;
  description: string | null;
  invokes: string[];
  children: GraphJsonNode[];
  edges: GraphJsonEdge[];
}

/** A JSON-safe edge of the directed graph (one per transition branch and target). */
export interface GraphJsonEdge {
  id: string;
  source: string;
  target: string;
  /** As `toDirectedGraph` labels it: the raw event type. */
  label: { text: string };
  /** Event name people use (e.g. PLAN_SUCCEEDED). */
  event: string;
  /** Index of the branch among the state's transitions for this event. */
  branch: number;
  guard: string | null;
  /** True when the transition has no target (drawn as a self-loop). */
  targetless: boolean;
}

/**
 * The machine's directed graph from `toDirectedGraph` (xstate/graph), reduced to its JSON-safe
 * parts (ids, keys, descriptions, edges with event, branch and guard) in definition order.
 */
export function toGraphJson(machine: AnyStateMachine, labeller?: StatechartLabeller): GraphJsonNode {
  return convert(toDirectedGraph(machine), labeller);
}

function convert(node: DirectedGraphNode, labeller?: StatechartLabeller): GraphJsonNode {
  const sn = node.stateNode as unknown as {
    key: string;
    type: string;
    description?: string;
    invoke: { id: string }[];
    transitions: Map<string, unknown[]>;
  };
  return {
    id: node.id,
    key: sn.key,
    type: sn.type,
    description: sn.description ?? null,
    invokes: sn.invoke.map((i) => i.id),
    children: node.children.map((c) => convert(c, labeller)),
    edges: node.edges.map((e) => {
      const t = e.transition as unknown as { eventType: string; guard?: unknown; target?: unknown[] };
      const branch = sn.transitions.get(t.eventType)?.indexOf(t) ?? 0;
      const targetless = !t.target || t.target.length === 0;
      const target = (e.target as unknown as { key: string }).key;
      const guard = guardText(t.guard);
      return {
        id: e.id,
        source: e.source.id,
        target: e.target.id,
        label: { text: e.label.text },
        event: labeller ? labeller.eventLabel(t.eventType, { index: branch, guard, target, targetless }) : t.eventType,
        branch,
        guard: guardExpression(t.guard),
        targetless,
      };
    }),
  };
}
