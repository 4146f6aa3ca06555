import { useEffect, useLayoutEffect, useRef, useState } from 'react';
import { errorText } from '../common/errorText';
import { currentStateOf, renderMermaid } from './mermaid';

/** The SVG element of state `key` in Mermaid's output. */
function findState(svg: SVGSVGElement, key: string): Element | null {
  return (
    svg.querySelector(`g.node[data-id="${CSS.escape(key)}"]`) ??
    svg.querySelector(`g.node[id*="-state-${CSS.escape(key)}-"]`) ??
    svg.querySelector('g.node.current')
  );
}

const ZOOMS = [
  { value: 'fit', label: 'fit width' },
  { value: '0.5', label: '50 %' },
  { value: '0.75', label: '75 %' },
  { value: '1', label: '100 %' },
] as const;
type Zoom = (typeof ZOOMS)[number]['value'];

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
 * The job's statechart exactly as the server draws it (`GET /jobs/:id/statechart`: Mermaid
 * text with the current state classed `current`, visited ones `visited`, taken transitions
 * marked) rendered by Mermaid. When drawn, the container carries `data-current-state` and the
 * current state's element `data-current="true"`.
 */
export function Statechart({ text }: { text: string | undefined }) {
  const box = useRef<HTMLDivElement>(null);
  const [error, setError] = useState<string | null>(null);
  const [current, setCurrent] = useState<string | null>(null);
  const [rendered, setRendered] = useState(0);
  const [zoom, setZoom] = useState<Zoom>('fit');

  useEffect(() => {
    if (text === undefined) return;
    let cancelled = false;
    renderMermaid(text)
      .then((svg) => {
        const el = box.current;
        if (cancelled || !el) return;
        el.innerHTML = svg;
        const svgEl = el.querySelector('svg');
        const key = currentStateOf(text);
        const node = svgEl && key ? findState(svgEl, key) : null;
        node?.setAttribute('data-current', 'true');
        node?.classList.add('is-current');
        setCurrent(key);
        setError(null);
        setRendered((n) => n + 1);
      })
      .catch((e: unknown) => !cancelled && setError(errorText(e)));
    return () => {
      cancelled = true;
    };
  }, [text]);

  useLayoutEffect(() => {
    if (box.current && rendered) applyZoom(box.current, zoom);
  }, [zoom, rendered]);

  return (
    <div className="statechart-wrap">
      <div className="statechart-tools">
        <span className="small muted">
          current <strong>{current ?? '…'}</strong> · <span className="legend legend-current">current</span>{' '}
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
        role="img"
        aria-label={current ? `Statechart of the job; current state ${current}` : 'Statechart of the job'}
      >
        {text === undefined ? <p className="muted small">Loading the statechart…</p> : null}
        {/* Mermaid's SVG goes here, outside React's reconciliation. */}
        <div ref={box} className="statechart-svg" />
      </div>
    </div>
  );
}
