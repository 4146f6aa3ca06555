import type { Mermaid } from 'mermaid';

/**
 * Mermaid, loaded on first use (its own chunks: it is most of the bundle) and rendering one
 * diagram at a time (its render is not re-entrant).
 */
let loaded: Promise<Mermaid> | null = null;
let queue: Promise<unknown> = Promise.resolve();
let seq = 0;

function load(): Promise<Mermaid> {
  loaded ??= import('mermaid').then(({ default: mermaid }) => {
    mermaid.initialize({
      startOnLoad: false,
      securityLevel: 'strict',
      theme: 'neutral',
      suppressErrorRendering: true,
      fontFamily: 'system-ui, -apple-system, "Segoe UI", Roboto, "Helvetica Neue", Arial, sans-serif',
      state: { useMaxWidth: false },
    });
    return mermaid;
  });
  return loaded;
}

/** Renders Mermaid text to an SVG string. @throws on a syntax error */
export function renderMermaid(text: string): Promise<string> {
  const run = queue.then(async () => {
    const mermaid = await load();
    const { svg } = await mermaid.render(`statechart-svg-${++seq}`, text);
    return svg;
  });
  queue = run.catch(() => undefined);
  return run;
}

/** The state the diagram marks `current` (`class X current`). */
export function currentStateOf(text: string): string | null {
  const m = /^\s*class\s+([\w,]+)\s+current\s*$/m.exec(text);
  return m?.[1]?.split(',')[0] ?? null;
}
