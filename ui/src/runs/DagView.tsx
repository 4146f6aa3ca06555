import { useMemo, useRef, useState } from 'react';
import type { PipelineRun, TemplateStep } from '../api/types';
import { useMermaid } from '../job/useMermaid';
import { dagMermaid } from './dag';

/** The SVG element of flowchart node `id` in Mermaid's output. */
function findNode(svg: SVGSVGElement, id: string): Element | null {
  return svg.querySelector(`g.node[data-id="${CSS.escape(id)}"]`) ?? svg.querySelector(`g.node[id*="-${CSS.escape(id)}-"]`);
}

const LEGEND = ['waiting', 'ready', 'running', 'awaitingSpawn', 'succeeded', 'failed', 'skipped', 'canceled'];

/**
 * The run's steps as a DAG — a Mermaid flowchart of the template's steps and needs, nodes
 * coloured by status (see dag.ts), redrawn when a status changes. Each drawn node carries
 * `data-testid="dag-node"`, `data-step` and `data-status`.
 */
export function DagView({ steps, run }: { steps: readonly TemplateStep[] | null; run: Pick<PipelineRun, 'steps' | 'spawned'> }) {
  const box = useRef<HTMLDivElement>(null);
  const [drawn, setDrawn] = useState(0);
  const diagram = useMemo(() => dagMermaid(steps, run), [steps, run]);

  // The DAG renders before statecharts waiting for Mermaid (priority 1): it is small.
  const error = useMermaid(
    diagram.text,
    (svg) => {
      const el = box.current;
      if (!el) return;
      el.innerHTML = svg;
      const svgEl = el.querySelector('svg');
      if (svgEl) {
        svgEl.style.maxWidth = '100%';
        svgEl.style.height = 'auto';
        for (const [id, node] of diagram.nodes) {
          const g = findNode(svgEl, id);
          g?.setAttribute('data-testid', 'dag-node');
          g?.setAttribute('data-step', node.step);
          // The status the drawn picture shows (its class), which may be an older text's than `diagram`'s.
          g?.setAttribute('data-status', LEGEND.find((st) => g.classList.contains(st)) ?? node.status);
        }
      }
      setDrawn((d) => d + 1);
    },
    1,
  );

  return (
    <div className="dag-wrap">
      <p className="small muted dag-legend">
        {LEGEND.map((s) => (
          <span key={s} className={`dag-key dag-key-${s}`}>
            {s}
          </span>
        ))}{' '}
        · solid: needs success; dotted: failure / always / spawned
      </p>
      {error ? (
        <p className="error-box" role="alert">
          The DAG could not be drawn: {error}
        </p>
      ) : null}
      <div className="dag" data-testid="dag" data-drawn={drawn} role="img" aria-label={`Steps of the run: ${[...diagram.nodes.values()].map((n) => `${n.step} ${n.status}`).join(', ')}`}>
        {/* Mermaid's SVG goes here, outside React's reconciliation. */}
        <div ref={box} className="dag-svg" />
      </div>
    </div>
  );
}
