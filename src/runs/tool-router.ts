/**
 * The task router (seed 002): a step names a capability (`tool: "@coder"`), and the router picks
 * the tool. Strategies:
 * - `fixed`: always the first tool of the list;
 * - `round_robin`: the next tool in turn, counted with Redis `INCR` so that the turn holds across
 *   workers and restarts;
 * - `auto`: among the tools whose circuit breaker is closed in this worker, the one with the
 *   lowest median duration over its recent successful step attempts (a tool with no history yet
 *   counts as 0 ms, so it gets tried); ties go to list order.
 * Config `PIPELINE_ROUTER` (JSON): `{ "coder": { "strategy": "auto", "tools": ["claude", "codex"] } }`.
 */
import { z } from 'zod';
import type { RouterChoice } from './step-attempts';

export const routerConfigSchema = z.record(
  z.string().regex(/^[a-z][a-z0-9_-]*$/),
  z.object({ strategy: z.enum(['fixed', 'round_robin', 'auto']), tools: z.array(z.string().min(1)).min(1) }).strict(),
);
export type RouterConfig = z.output<typeof routerConfigSchema>;

/**
 * Parses `PIPELINE_ROUTER`.
 * @throws Error naming the field when it is not valid.
 */
export function parseRouterConfig(text: string): RouterConfig {
  let raw: unknown;
  try {
    raw = JSON.parse(text || '{}');
  } catch (e) {
    throw new Error(`PIPELINE_ROUTER is not JSON: ${(e as Error).message}`);
  }
  const r = routerConfigSchema.safeParse(raw);
  if (!r.success) throw new Error(`PIPELINE_ROUTER: ${r.error.issues.map((i) => `${i.path.join('.')}: ${i.message}`).join('; ')}`);
  return r.data;
}

/** What `auto` reads: breaker states and recent medians. */
export interface RouterSignals {
  /** Next value of the capability's shared counter (Redis INCR), starting at 1. */
  nextTurn(capability: string): Promise<number>;
  /** Breaker state per tool in this worker (`closed` when unknown). */
  breakerStates(): Record<string, string>;
  /** Median duration (ms) of recent successful attempts per tool (absent: no history). */
  medianDurations(tools: string[]): Promise<Record<string, number>>;
}

export class ToolRouter {
  constructor(
    private readonly config: RouterConfig,
    private readonly signals: RouterSignals,
  ) {}

  capabilities(): string[] {
    return Object.keys(this.config);
  }

  /**
   * The tool for `capability`, with the strategy and the reason recorded on the step attempt.
   * @throws Error for an unknown capability.
   */
  async route(capability: string): Promise<RouterChoice> {
    const entry = this.config[capability];
    if (!entry) throw new Error(`unknown capability @${capability}`);
    const { strategy, tools } = entry;
    if (strategy === 'fixed') return { capability, strategy, tool: tools[0], reason: `fixed: ${tools[0]}` };
    if (strategy === 'round_robin') {
      const turn = await this.signals.nextTurn(capability);
      const tool = tools[(turn - 1) % tools.length];
      return { capability, strategy, tool, reason: `round_robin: turn ${turn} of [${tools.join(', ')}]` };
    }
    const states = this.signals.breakerStates();
    const closed = tools.filter((t) => (states[t] ?? 'closed') === 'closed' || states[t] === 'half-open');
    const candidates = closed.length ? closed : tools;
    const medians = await this.signals.medianDurations(candidates);
    let best = candidates[0];
    for (const t of candidates) if ((medians[t] ?? 0) < (medians[best] ?? 0)) best = t;
    const open = tools.filter((t) => !closed.includes(t));
    const shown = candidates.map((t) => `${t} ${medians[t] === undefined ? 'no history' : `p50 ${medians[t]} ms`}`).join(', ');
    return {
      capability,
      strategy,
      tool: best,
      reason: `auto: lowest p50 among closed circuits (${shown})${open.length ? `; circuit not closed: ${open.join(', ')}` : ''}${closed.length ? '' : '; every circuit is open, all considered'}`,
    };
  }
}
