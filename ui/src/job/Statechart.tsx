import { useEffect, useLayoutEffect, useRef, useState, type RefObject } from 'react';
import { currentStatesOf } from './mermaid';
import { useMermaid } from './useMermaid';

/** The SVG element of state `key` in Mermaid's output. */
function findState(svg: SVGSVGElement, key: string): Element | null {
  return svg.querySelector(`g.node[data-id="${CSS.escape(key)}"]`) ?? svg.querySelector(`g.node[id*="-state-${CSS.escape(key)}-"]`);
}

const ZOOMS = [
  { value: 'fit', label: 'fit width' },
  { value: '0.5', label: '50 %' },
  { value: '0.75', label: '75 %' },
  { value: '1', label: '100 %' },
] as const;
type Zoom = (typeof ZOOMS)[number]['value'];

/** Whether the element is on screen (or near it); always true when `always`. */
function useVisible(ref: RefObject<HTMLElement | null>, always: boolean): boolean {
  const [visible, setVisible] = useState(always);
  useEffect(() => {
    const el = ref.current;
    if (always || !el || typeof IntersectionObserver === 'undefined') {
      setVisible(true);
      return;
    }
    const observer = new IntersectionObserver((entries) => setVisible(entries.some((e) => e.isIntersecting)), { rootMargin: '0px' });
    observer.observe(el);
    return () => observer.disconnect();
  }, [ref, always]);
  return visible;
}

/** Sizes the SVG for `zoom` and, when zoomed in, scrolls the current state into the middle. */
function applyZoom(box: HTMLDivElement, zoom: Zoom): void {
  const svg = box.querySelector('svg');
  if (!svg) return;
  const natural = svg.viewBox.baseVal?.width || svg.getBBox().width;
  if (zoom === 'fit') {
    svg.style.width = '100%';
    svg.style.maxWidth = `${natural}px`;
  } else {
    svg.style.width = `${natural * Number(zoom)}px`;
    svg.style.maxWidth = 'none';
  }
  svg.style.height = 'auto';
  const node = svg.querySelector('[data-current="true"]');
  const scroller = box.parentElement;
  if (!node || !scroller || zoom === 'fit') return;
  const n = node.getBoundingClientRect();
  const s = scroller.getBoundingClientRect();
  scroller.scrollLeft += n.left + n.width / 2 - (s.left + s.width / 2);
  scroller.scrollTop += n.top + n.height / 2 - (s.top + s.height / 2);
}

/**
 * A statechart exactly as the server draws it (`GET /jobs/:id/statechart`, `GET /runs/:id/statechart`:
 * Mermaid text with the current state(s) classed `current`, visited ones `visited`, taken
 * transitions marked) rendered by Mermaid. When drawn, the container carries
 * `data-current-state` (the first current state), `data-current-states` (all of them, space
 * separated: a run's chart has one per step region) and each current state's element
 * `data-current="true"`.
 */
export function Statechart({ text, subject = 'job', lazy = false }: { text: string | undefined; subject?: string; lazy?: boolean }) {
  const box = useRef<HTMLDivElement>(null);
  const wrap = useRef<HTMLDivElement>(null);
  const visible = useVisible(wrap, !lazy);
  const [currents, setCurrents] = useState<string[]>([]);
  const [rendered, setRendered] = useState(0);
  const [zoom, setZoom] = useState<Zoom>('fit');

  // Lazy: drawn (and redrawn) only while on screen — a run's chart is large and slow to lay out.
  const error = useMermaid(visible ? text : undefined, (svg, drawnText) => {
    const el = box.current;
    if (!el) return;
    el.innerHTML = svg;
    const svgEl = el.querySelector('svg');
    const keys = currentStatesOf(drawnText);
    const nodes = svgEl ? keys.map((k) => findState(svgEl, k)) : [];
    if (svgEl && keys.length && !nodes.some(Boolean)) nodes.push(svgEl.querySelector('g.node.current'));
    for (const node of nodes) {
      node?.setAttribute('data-current', 'true');
      node?.classList.add('is-current');
    }
    setCurrents(keys);
    setRendered((r) => r + 1);
  });

  useLayoutEffect(() => {
    if (box.current && rendered) applyZoom(box.current, zoom);
  }, [zoom, rendered]);

  const current = currents[0] ?? null;
  const shown = currents.length > 3 ? `${currents.slice(0, 3).join(', ')} +${currents.length - 3}` : currents.join(', ');
  return (
    <div className="statechart-wrap" ref={wrap}>
      <div className="statechart-tools">
        <span className="small muted">
          current <strong title={currents.join(', ')}>{shown || '…'}</strong> · <span className="legend legend-current">current</span>{' '}
          <span className="legend legend-visited">visited</span> · transitions marked “(taken)” were taken
        </span>
        <label className="small">
          Zoom{' '}
          <select value={zoom} onChange={(e) => setZoom(e.target.value as Zoom)} data-testid="statechart-zoom">
            {ZOOMS.map((z) => (
              <option key={z.value} value={z.value}>
                {z.label}
              </option>
            ))}
          </select>
        </label>
      </div>
      {error ? (
        <p className="error-box" role="alert">
          The statechart could not be drawn: {error}
        </p>
      ) : null}
      <div
        className="statechart"
        data-testid="statechart"
        data-current-state={current ?? undefined}
        data-current-states={currents.length ? currents.join(' ') : undefined}
        role="img"
        aria-label={current ? `Statechart of the ${subject}; current state${currents.length > 1 ? 's' : ''} ${currents.join(', ')}` : `Statechart of the ${subject}`}
      >
        {text === undefined || (!visible && !rendered) ? <p className="muted small">Loading the statechart…</p> : null}
        {/* Mermaid's SVG goes here, outside React's reconciliation. */}
        <div ref={box} className="statechart-svg" />
      </div>
    </div>
  );
}
