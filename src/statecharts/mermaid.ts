import {
  childrenOf,
  transitionLabel,
  transitionScope,
  type StatechartModel,
  type StatechartState,
  type StatechartTransition,
} from './statechart.model';

/** What to highlight in a diagram of one running instance (e.g. a job). */
export interface MermaidHighlight {
  /** The instance's current state key (several for a machine in parallel states). */
  current: string | readonly string[];
  /** Transitions the instance took, oldest first, as (from, to, event label, guard) — e.g. a job's history. */
  taken: { from: string; to: string; event: string; guard?: string }[];
}

/** Characters Mermaid may read as syntax inside free text (statement separator, entities, HTML, markdown). */
function text(s: string): string {
  return s
    .replace(/`/g, '')
    .replace(/;/g, ',')
    .replace(/#/g, 'no.')
    .replace(/[<>{}]/g, '')
    .replace(/\s+/g, ' ')
    .trim();
}

/** Splits `s` into lines of at most `width` characters (at spaces). */
export function wrap(s: string, width = 48): string[] {
  const lines: string[] = [];
  let line = '';
  for (const word of s.split(' ')) {
    if (line && line.length + 1 + word.length > width) {
      lines.push(line);
      line = word;
    } else line = line ? `${line} ${word}` : word;
  }
  if (line) lines.push(line);
  return lines;
}

/** Words of the stateDiagram grammar that cannot be a state id. */
const RESERVED = new Set(['state', 'note', 'end', 'as', 'class', 'classDef', 'style', 'direction', 'click', 'left', 'right', 'of', 'hide', 'empty', 'description']);

/**
 * Mermaid ids of the model's states. A Mermaid id is one word of letters, digits and `_`, and is
 * global to the diagram: each state key's other characters (the `.` of nesting, the `-` of step
 * ids) become `_` (`running.build-a.waiting` → `running_build_a_waiting`), a clash gets a
 * `_2`, `_3`… suffix in state order. Keys that are already ids (the job machine's) are kept.
 */
export function mermaidIds(model: StatechartModel): Map<string, string> {
  const ids = new Map<string, string>();
  const used = new Set<string>();
  for (const s of model.states) {
    let base = s.key.replace(/[^A-Za-z0-9_]/g, '_');
    if (RESERVED.has(base) || /^[0-9]/.test(base)) base = `s_${base}`;
    let id = base;
    for (let n = 2; used.has(id); n++) id = `${base}_${n}`;
    used.add(id);
    ids.set(s.key, id);
  }
  return ids;
}

/**
 * Finds the model transition a recorded step took: same source, target and event label. When
 * several branches match (they differ only by guard), the first one is used.
 */
export function matchTransition(model: StatechartModel, step: { from: string; to: string; event: string; guard?: string }): StatechartTransition | undefined {
  // A label may name several events ("REVIEW_APPROVED / REVIEW_REJECTED"); the recorded guard
  // tells apart branches with the same source, target and event.
  const candidates = model.transitions.filter((t) => t.source === step.from && t.target === step.to && t.label.split(' / ').includes(step.event));
  return candidates.find((t) => t.guard === (step.guard ?? null)) ?? candidates[0];
}

/**
 * Renders `model` as a Mermaid `stateDiagram-v2`: every state with its description, every
 * transition labelled `EVENT [guard]` (`[guard]` alone when eventless), initial and final
 * pseudo-states. Nested states are composite states (`state "running" as running { … }`) whose
 * description is a `%%` comment (Mermaid draws none for a group); the regions of a
 * parallel state are composite states named by their key, separated by `--`. A transition is
 * written in the innermost composite state enclosing both its ends ({@link transitionScope}).
 * Ids come from {@link mermaidIds}; titles show the states' own names. With `highlight`, the
 * current state(s) get class `current`, states passed through get class `visited`, and every
 * transition taken gets `(taken)` / `(taken ×n)` appended to its label. Deterministic.
 */
export function toMermaid(model: StatechartModel, options: { header?: string; highlight?: MermaidHighlight } = {}): string {
  const { highlight } = options;
  const counts = new Map<string, number>();
  for (const step of highlight?.taken ?? []) {
    const t = matchTransition(model, step);
    if (t) counts.set(t.id, (counts.get(t.id) ?? 0) + 1);
  }
  const ids = mermaidIds(model);
  const id = (key: string) => ids.get(key) ?? key;
  const scoped = new Map<string | null, StatechartTransition[]>();
  for (const t of model.transitions) {
    const scope = transitionScope(model, t);
    scoped.set(scope, [...(scoped.get(scope) ?? []), t]);
  }
  const arrow = (t: StatechartTransition, indent: string) => {
    const n = counts.get(t.id) ?? 0;
    const mark = n === 0 ? '' : n === 1 ? ' (taken)' : ` (taken ×${n})`;
    const label = text(transitionLabel(t)) + mark;
    return `${indent}${id(t.source)} --> ${id(t.target)}${label ? ` : ${label.trim()}` : ''}`;
  };
  /** A state's declaration; a composite state's block holds its children, initial, transitions and finals. */
  const declare = (s: StatechartState, indent: string): string[] => {
    const description = wrap(text(s.description ?? ''));
    // The name as the box's title; the description lines below it (without the explicit title,
    // Mermaid would show the first description line in place of the name).
    if (s.kind !== 'compound' && s.kind !== 'parallel') return [`${indent}state "${text(s.name)}" as ${id(s.key)}`, ...description.map((line) => `${indent}${id(s.key)} : ${line}`)];
    const inner = `${indent}    `;
    // Mermaid draws no description in a group (and places notes far from it): a comment keeps it in the text.
    const out = [`${indent}state "${text(s.name)}" as ${id(s.key)} {`, ...description.map((line) => `${inner}%% ${line}`)];
    const children = childrenOf(model, s.key);
    children.forEach((c, i) => {
      if (s.kind === 'parallel' && i > 0) out.push(`${inner}--`);
      out.push(...declare(c, inner));
    });
    if (s.initial) out.push(`${inner}[*] --> ${id(s.initial)}`);
    for (const t of scoped.get(s.key) ?? []) out.push(arrow(t, inner));
    if (s.kind === 'compound') for (const c of children.filter((x) => x.final)) out.push(`${inner}${id(c.key)} --> [*]`);
    out.push(`${indent}}`);
    return out;
  };

  const out: string[] = ['stateDiagram-v2'];
  if (options.header) for (const line of options.header.split('\n')) out.push(`    %% ${line}`);
  for (const s of childrenOf(model, null)) out.push(...declare(s, '    '));
  out.push('');
  out.push(`    [*] --> ${id(model.initial)}`);
  for (const t of scoped.get(null) ?? []) out.push(arrow(t, '    '));
  for (const s of childrenOf(model, null).filter((x) => x.final)) out.push(`    ${id(s.key)} --> [*]`);
  if (highlight) {
    const current = new Set(typeof highlight.current === 'string' ? [highlight.current] : highlight.current);
    const visited = new Set<string>();
    for (const step of highlight.taken) {
      visited.add(step.from);
      visited.add(step.to);
    }
    for (const c of current) visited.delete(c);
    out.push('');
    out.push('    classDef current fill:#ffd54f,stroke:#e65100,stroke-width:3px,color:#000');
    out.push('    classDef visited fill:#c8e6c9,stroke:#2e7d32,color:#000');
    const visitedIds = model.states.filter((s) => visited.has(s.key)).map((s) => id(s.key));
    if (visitedIds.length) out.push(`    class ${visitedIds.join(',')} visited`);
    const currentIds = model.states.filter((s) => current.has(s.key)).map((s) => id(s.key));
    if (currentIds.length) out.push(`    class ${currentIds.join(',')} current`);
  }
  return `${out.join('\n')}\n`;
}
