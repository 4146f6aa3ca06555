import type { PipelineRun, TemplateStep } from '../api/types';

/** Node colours by step status (the DAG's legend uses the same names). */
const CLASS_DEFS = [
  'classDef waiting fill:#f4f5f7,stroke:#8993a4,color:#42526e',
  'classDef ready fill:#e8eefc,stroke:#4c9aff,color:#0747a6',
  'classDef running fill:#deebff,stroke:#0747a6,stroke-width:3px,color:#0747a6',
  'classDef awaitingSpawn fill:#f3e8fd,stroke:#6b2fa3,stroke-width:2px,color:#6b2fa3',
  'classDef succeeded fill:#e3f4e8,stroke:#1f7a3a,color:#1f7a3a',
  'classDef failed fill:#fdecea,stroke:#b42318,stroke-width:2px,color:#b42318',
  'classDef skipped fill:#fafbfc,stroke:#c1c7d0,stroke-dasharray:4 3,color:#8993a4',
  'classDef canceled fill:#f4f0e6,stroke:#a59466,color:#6b5a2e',
];

export interface DagDiagram {
  /** Mermaid `flowchart` text. */
  text: string;
  /** Mermaid node id → the step id in the run (`dev~1` for a spawned step) and its status. */
  nodes: Map<string, { step: string; status: string }>;
}

/** A step's label: its id, then its status (and visit when it ran more than once). */
function label(step: string, status: string, visit: number | undefined): string {
  const more = visit !== undefined && visit > 1 ? ` · visit ${visit}` : '';
  return `"${step.replace(/"/g, '')}<br/>${status}${more}"`;
}

/**
 * The run's steps as a Mermaid flowchart (left to right): the template's steps with their
 * `needs` as edges (`success` solid, `failure`/`always` dotted and labelled), the spawned steps
 * hanging off the step that spawned them, each node classed by its status. Without the template
 * (still loading) the run's steps are drawn without edges. Node ids are `n_<step>` with every
 * character Mermaid would read as syntax replaced (`dev~1` → `n_dev_1`; a clash gets a suffix).
 */
export function dagMermaid(templateSteps: readonly TemplateStep[] | null, run: Pick<PipelineRun, 'steps' | 'spawned'>): DagDiagram {
  const nodes = new Map<string, { step: string; status: string }>();
  const idOf = new Map<string, string>();
  const add = (step: string, status: string) => {
    const base = `n_${step.replace(/[^A-Za-z0-9_]/g, '_')}`;
    let id = base;
    for (let n = 2; nodes.has(id); n++) id = `${base}_${n}`;
    nodes.set(id, { step, status });
    idOf.set(step, id);
    return id;
  };
  const steps = templateSteps ?? Object.keys(run.steps).map((id) => ({ id, tool: '', needs: [] }));
  const out = ['flowchart LR'];
  for (const s of steps) {
    const state = run.steps[s.id];
    const status = state?.status ?? 'waiting';
    out.push(`    ${add(s.id, status)}(${label(s.id, status, state?.visit)})`);
  }
  for (const s of run.spawned) out.push(`    ${add(s.id, s.status)}[/${label(s.id, s.status, s.visit)}/]`);
  for (const s of steps) {
    for (const need of s.needs) {
      const from = idOf.get(need.step);
      const to = idOf.get(s.id);
      if (!from || !to) continue;
      out.push(need.on === 'success' ? `    ${from} --> ${to}` : `    ${from} -. ${need.on} .-> ${to}`);
    }
  }
  for (const s of run.spawned) {
    const parent = idOf.get(s.parentStepId);
    if (parent) out.push(`    ${parent} -. spawned .-> ${idOf.get(s.id)}`);
  }
  out.push(...CLASS_DEFS.map((c) => `    ${c}`));
  const byStatus = new Map<string, string[]>();
  for (const [id, n] of nodes) byStatus.set(n.status, [...(byStatus.get(n.status) ?? []), id]);
  for (const [status, ids] of byStatus) if (/^\w+$/.test(status)) out.push(`    class ${ids.join(',')} ${status}`);
  return { text: `${out.join('\n')}\n`, nodes };
}
