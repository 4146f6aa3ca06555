import type { Mermaid } from 'mermaid';

/**
 * Mermaid, loaded on first use (its own chunks: it is most of the bundle) and rendering one
 * diagram at a time (its render is not re-entrant). Waiting renders go by priority (a run's
 * small DAG before its large statechart), and one whose caller no longer wants it (a newer
 * text came meanwhile) is skipped.
 */
let loaded: Promise<Mermaid> | null = null;
let seq = 0;
let order = 0;
let busy = false;

interface Task {
  text: string;
  priority: number;
  order: number;
  wanted: () => boolean;
  resolve: (svg: string) => void;
  reject: (e: unknown) => void;
}
const waiting: Task[] = [];

/** Thrown to a caller whose render was skipped because it no longer wanted it. */
export class RenderSuperseded extends Error {
  constructor() {
    super('superseded by a newer diagram');
    this.name = 'RenderSuperseded';
  }
}

function load(): Promise<Mermaid> {
  loaded ??= import('mermaid').then(({ default: mermaid }) => {
    mermaid.initialize({
      startOnLoad: false,
      securityLevel: 'strict',
      theme: 'neutral',
      suppressErrorRendering: true,
      fontFamily: 'system-ui, -apple-system, "Segoe UI", Roboto, "Helvetica Neue", Arial, sans-serif',
      state: { useMaxWidth: false },
      flowchart: { useMaxWidth: false },
    });
    return mermaid;
  });
  return loaded;
}

async function drain(): Promise<void> {
  if (busy) return;
  busy = true;
  try {
    for (;;) {
      waiting.sort((a, b) => b.priority - a.priority || a.order - b.order);
      const task = waiting.shift();
      if (!task) return;
      if (!task.wanted()) {
        task.reject(new RenderSuperseded());
        continue;
      }
      try {
        const mermaid = await load();
        const { svg } = await mermaid.render(`statechart-svg-${++seq}`, task.text);
        task.resolve(svg);
      } catch (e) {
        task.reject(e);
      }
    }
  } finally {
    busy = false;
  }
}

/**
 * Renders Mermaid text to an SVG string. `priority`: higher renders first among those waiting;
 * `wanted`: asked just before rendering, false skips it (rejects with {@link RenderSuperseded}).
 * @throws on a syntax error
 */
export function renderMermaid(text: string, options: { priority?: number; wanted?: () => boolean } = {}): Promise<string> {
  return new Promise<string>((resolve, reject) => {
    waiting.push({ text, priority: options.priority ?? 0, order: ++order, wanted: options.wanted ?? (() => true), resolve, reject });
    void drain();
  });
}

/** The state the diagram marks `current` (`class X current`); the first one of several. */
export function currentStateOf(text: string): string | null {
  return currentStatesOf(text)[0] ?? null;
}

/** Every state the diagram marks `current` (a run's chart marks one per parallel region). */
export function currentStatesOf(text: string): string[] {
  const out: string[] = [];
  for (const m of text.matchAll(/^\s*class\s+([\w,]+)\s+current\s*$/gm)) out.push(...(m[1] ?? '').split(',').filter(Boolean));
  return out;
}
