import { childrenOf, isNested, transitionLabel, type StatechartModel, type StatechartState, type StatechartTransition } from './statechart.model';
import { wrap } from './mermaid';

function quote(s: string): string {
  return `"${s.replace(/\\/g, '\\\\').replace(/"/g, '\\"')}"`;
}

/** Text lines as one DOT label (`\n`-separated, escaped). */
function lines(ls: string[]): string {
  return ls.map((l) => l.replace(/\\/g, '\\\\').replace(/"/g, '\\"')).join('\\n');
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

const isComposite = (s: StatechartState) => s.kind === 'compound' || s.kind === 'parallel';

/**
 * Renders `model` as a Graphviz DOT digraph (the source of the SVG picture): states as rounded
 * boxes with their description, final states with a double border, a point for the initial
 * pseudo-state. Transitions between the same two states share one edge whose label lists them
 * (`EVENT [guard]`, `[guard]` when eventless, one per line); targetless transitions are dashed
 * self-loops.
 *
 * Nested states: a compound or parallel state is a cluster (`subgraph "cluster_<key>"`, labelled
 * with its name and description; a parallel state's clusters, its regions, are drawn dashed) with
 * its children inside and, for a compound state, a point for its initial pseudo-state. A
 * transition from or to a composite state is drawn from or to its anchor (the initial point, or
 * for a parallel state a box inside the cluster with its name and description) and clipped at the
 * cluster's border (`compound=true`,
 * `ltail` / `lhead`). A flat model gives the same text as before nesting was supported. Deterministic.
 */
export function toDot(model: StatechartModel, options: DotOptions = {}): string {
  const sinks = new Set(options.sinks ?? []);
  const nested = isNested(model);
  const byKey = new Map(model.states.map((s) => [s.key, s]));
  const referenced = new Set(model.transitions.flatMap((t) => [t.source, t.target]));
  /** The node an edge to or from state `key` attaches to. */
  const anchor = (key: string) => {
    const s = byKey.get(key);
    if (!s || !isComposite(s)) return key;
    return s.initial ? `${key}.__initial` : `${key}.__anchor`;
  };
  const out: string[] = [
    `digraph ${quote(model.id)} {`,
    '  graph [rankdir=TB, fontname="Helvetica", fontsize=11, nodesep=0.6, ranksep=0.55, newrank=true];',
  ];
  if (nested) out.push('  compound=true;');
  out.push(
    '  node [shape=box, style="rounded,filled", fillcolor="#f5f5f5", fontname="Helvetica", fontsize=11, margin="0.2,0.08"];',
    '  edge [fontname="Helvetica", fontsize=9, color="#455a64", fontcolor="#263238"];',
    '  "__initial" [shape=point, width=0.15, label=""];',
  );
  const declare = (s: StatechartState, indent: string): string[] => {
    const description = wrap((s.description ?? '').replace(/`/g, ''), 36);
    if (!isComposite(s)) {
      const extra = s.final ? ', peripheries=2, fillcolor="#e3f2fd"' : s.name.toLowerCase() === 'failed' ? ', fillcolor="#ffebee"' : '';
      return [`${indent}${quote(s.key)} [label="${lines([s.name, ...description])}"${extra}];`];
    }
    const parent = s.parent === null ? undefined : byKey.get(s.parent);
    const region = parent?.kind === 'parallel';
    const inner = `${indent}  `;
    const title = lines([s.kind === 'parallel' ? `${s.name} (parallel)` : s.name, ...description]);
    // A state without an initial point that transitions leave or enter gets a box of its own, which carries the title.
    const box = !s.initial && referenced.has(s.key);
    const block = [
      `${indent}subgraph ${quote(`cluster_${s.key}`)} {`,
      `${inner}label="${box ? '' : title}"; labeljust=l; fontname="Helvetica"; fontsize=11;`,
      `${inner}style="rounded${region ? ',dashed' : ''}"; color="${region ? '#78909c' : '#37474f'}";`,
    ];
    if (s.initial) block.push(`${inner}${quote(anchor(s.key))} [shape=point, width=0.1, label=""];`);
    else if (box) block.push(`${inner}${quote(anchor(s.key))} [label="${title}", fillcolor="#eceff1"];`);
    for (const c of childrenOf(model, s.key)) block.push(...declare(c, inner));
    if (s.initial) block.push(`${inner}${quote(anchor(s.key))} -> ${quote(anchor(s.initial))};`);
    block.push(`${indent}}`);
    return block;
  };
  for (const s of childrenOf(model, null)) out.push(...declare(s, '  '));
  for (const group of options.sameRank ?? []) out.push(`  { rank=same; ${group.map((k) => quote(anchor(k))).join('; ')}; }`);
  out.push(`  "__initial" -> ${quote(anchor(model.initial))};`);
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
    if (source !== target) {
      if (isComposite(byKey.get(source)!)) attrs.push(`ltail=${quote(`cluster_${source}`)}`);
      if (isComposite(byKey.get(target)!)) attrs.push(`lhead=${quote(`cluster_${target}`)}`);
    }
    // Self-loops on the west side, away from the edges towards the sinks drawn to the east; a
    // composite state's on the east side of its box, away from the regions beside it.
    const side = isComposite(byKey.get(source)!) ? 'e' : 'w';
    const ends = source === target ? [`${quote(anchor(source))}:${side}`, `${quote(anchor(target))}:${side}`] : [quote(anchor(source)), quote(anchor(target))];
    out.push(`  ${ends[0]} -> ${ends[1]} [${attrs.join(', ')}];`);
  }
  out.push('}');
  return `${out.join('\n')}\n`;
}
