import { useEffect, useRef, useState } from 'react';
import { errorText } from '../common/errorText';
import { RenderSuperseded, renderMermaid } from './mermaid';

/**
 * Renders `text` with Mermaid whenever it changes and hands the SVG to `draw` (which puts it in
 * the page, outside React). Renders are numbered: one still waiting when a newer text comes is
 * skipped, one that finishes is drawn unless a newer one was drawn already, so live updates
 * neither pile up nor go back in time. `priority` orders waiting renders (higher first).
 * A render holds the main thread (a run's large statechart for a second or more): after one, the
 * next waits as long as it took, so a busy run's updates leave the page at least half its time.
 * @returns why the last text could not be drawn, or null
 */
export function useMermaid(text: string | undefined, draw: (svg: string, text: string) => void, priority = 0): string | null {
  const [error, setError] = useState<string | null>(null);
  const drawRef = useRef(draw);
  drawRef.current = draw;
  const requested = useRef(0);
  const drawn = useRef(0);
  /** When the last render ended and how long it took (ms). */
  const last = useRef({ endedAt: 0, tookMs: 0 });
  const mounted = useRef(true);
  useEffect(() => {
    mounted.current = true;
    return () => {
      mounted.current = false;
    };
  }, []);

  useEffect(() => {
    if (text === undefined) return;
    const n = ++requested.current;
    const render = () => {
      let started = 0;
      const wanted = () => {
        started = performance.now();
        return mounted.current && n === requested.current;
      };
      renderMermaid(text, { priority, wanted })
        .then((svg) => {
          last.current = { endedAt: performance.now(), tookMs: performance.now() - started };
          if (!mounted.current || n < drawn.current) return;
          drawn.current = n;
          drawRef.current(svg, text);
          setError(null);
        })
        .catch((e: unknown) => {
          if (!(e instanceof RenderSuperseded) && mounted.current && n === requested.current) setError(errorText(e));
        });
    };
    const wait = last.current.endedAt + last.current.tookMs - performance.now();
    if (wait <= 0) return void render();
    const timer = setTimeout(render, wait);
    return () => clearTimeout(timer);
  }, [text, priority]);

  return error;
}
