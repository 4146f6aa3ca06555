import { transitionLabel, type StatechartModel, type StatechartTransition } from './statechart.model';
import { wrap } from './mermaid';

function quote(s: string): string {
  return `"${s.replace(/\\/g, '\\\\').replace(/"/g, '\\"')}"`;
}

/** Options of {@link toDot}. */
export interface DotOptions {
  /**
   * States reached from (almost) everywhere, e.g. FAILED and CANCELLED: edges into them do not
   * constrain the layout, so the main path stays a straight spine.
   */
  sinks?: string[];
  /** Groups of states drawn side by side (same rank), e.g. a sink beside the state it is drawn next to. */
  sameRank?: string[][];
}

/**
 * Renders `model` as a Graphviz DOT digraph (the source of the SVG picture): states as rounded
 * boxes with their description, final states with a double border, a point for the initial
 * pseudo-state. Transitions between the same two states share one edge whose label lists them
 * (`EVENT [guard]`, one per line); targetless transitions are dashed self-loops. Deterministic.
 */
export function toDot(model: StatechartModel, options: DotOptions = {}): string {
  const sinks = new Set(options.sinks ?? []);
  const out: string[] = [
    `digraph ${quote(model.id)} {`,
    '  graph [rankdir=TB, fontname="Helvetica", fontsize=11, nodesep=0.6, ranksep=0.55, newrank=true];',
    '  node [shape=box, style="rounded,filled", fillcolor="#f5f5f5", fontname="Helvetica", fontsize=11, margin="0.2,0.08"];',
    '  edge [fontname="Helvetica", fontsize=9, color="#455a64", fontcolor="#263238"];',
    '  "__initial" [shape=point, width=0.15, label=""];',
  ];
  for (const s of model.states) {
    const lines = [s.key, ...wrap((s.description ?? '').replace(/`/g, ''), 36)];
    const label = lines.map((l) => l.replace(/\\/g, '\\\\').replace(/"/g, '\\"')).join('\\n');
    const extra = s.final ? ', peripheries=2, fillcolor="#e3f2fd"' : s.key === 'FAILED' ? ', fillcolor="#ffebee"' : '';
    out.push(`  ${quote(s.key)} [label="${label}"${extra}];`);
  }
  for (const group of options.sameRank ?? []) out.push(`  { rank=same; ${group.map(quote).join('; ')}; }`);
  out.push(`  "__initial" -> ${quote(model.initial)};`);
  const groups = new Map<string, StatechartTransition[]>();
  for (const t of model.transitions) {
    const key = `${t.source}\u0000${t.target}\u0000${t.targetless ? 'loop' : 'move'}`;
    groups.set(key, [...(groups.get(key) ?? []), t]);
  }
  for (const ts of groups.values()) {
    const { source, target, targetless } = ts[0];
    const label = ts.map((t) => transitionLabel(t).replace(/\\/g, '\\\\').replace(/"/g, '\\"')).join('\\l') + '\\l';
    const attrs = [`label="${label}"`];
    if (targetless) attrs.push('style=dashed');
    if (sinks.has(target) && source !== target) attrs.push('constraint=false');
    if (sinks.has(source) && source !== target) attrs.push('constraint=false', 'style=dotted');
    // Self-loops on the west side, away from the edges towards the sinks drawn to the east.
    const ends = source === target ? [`${quote(source)}:w`, `${quote(target)}:w`] : [quote(source), quote(target)];
    out.push(`  ${ends[0]} -> ${ends[1]} [${attrs.join(', ')}];`);
  }
  out.push('}');
  return `${out.join('\n')}\n`;
}
