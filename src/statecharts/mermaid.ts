import { transitionLabel, type StatechartModel, type StatechartTransition } from './statechart.model';

/** What to highlight in a diagram of one running instance (e.g. a job). */
export interface MermaidHighlight {
  /** The instance's current state key. */
  current: string;
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
 * transition labelled `EVENT [guard]`, initial and final pseudo-states. With `highlight`, the
 * current state gets class `current`, states passed through get class `visited`, and every
 * transition taken gets `(taken)` / `(taken ×n)` appended to its label. Deterministic.
 */
export function toMermaid(model: StatechartModel, options: { header?: string; highlight?: MermaidHighlight } = {}): string {
  const { highlight } = options;
  const counts = new Map<string, number>();
  for (const step of highlight?.taken ?? []) {
    const t = matchTransition(model, step);
    if (t) counts.set(t.id, (counts.get(t.id) ?? 0) + 1);
  }
  const out: string[] = ['stateDiagram-v2'];
  if (options.header) for (const line of options.header.split('\n')) out.push(`    %% ${line}`);
  for (const s of model.states) {
    // The name as the box's title; the description lines below it (without the explicit title,
    // Mermaid would show the first description line in place of the name).
    out.push(`    state "${s.key}" as ${s.key}`);
    for (const line of wrap(text(s.description ?? ''))) out.push(`    ${s.key} : ${line}`);
  }
  out.push('');
  out.push(`    [*] --> ${model.initial}`);
  for (const t of model.transitions) {
    const n = counts.get(t.id) ?? 0;
    const mark = n === 0 ? '' : n === 1 ? ' (taken)' : ` (taken ×${n})`;
    out.push(`    ${t.source} --> ${t.target} : ${text(transitionLabel(t))}${mark}`);
  }
  for (const s of model.states.filter((x) => x.final)) out.push(`    ${s.key} --> [*]`);
  if (highlight) {
    const visited = new Set<string>();
    for (const step of highlight.taken) {
      visited.add(step.from);
      visited.add(step.to);
    }
    visited.delete(highlight.current);
    const known = new Set(model.states.map((s) => s.key));
    out.push('');
    out.push('    classDef current fill:#ffd54f,stroke:#e65100,stroke-width:3px,color:#000');
    out.push('    classDef visited fill:#c8e6c9,stroke:#2e7d32,color:#000');
    const visitedKeys = model.states.map((s) => s.key).filter((k) => visited.has(k));
    if (visitedKeys.length) out.push(`    class ${visitedKeys.join(',')} visited`);
    if (known.has(highlight.current)) out.push(`    class ${highlight.current} current`);
  }
  return `${out.join('\n')}\n`;
}
