/**
 * One circuit breaker per tool (cockatiel 4): after `threshold` consecutive infrastructure
 * failures of a tool its calls fail fast until `halfOpenAfterMs` has passed; then one call is let
 * through as a test (half-open), which closes the breaker on success or opens it again.
 *
 * Infrastructure failure = the tool could not be started (`ToolStartError` `TOOL_NOT_FOUND`,
 * `TOOL_NOT_EXECUTABLE`, `TOOL_START_FAILED`) or a run ended `transient` (crash, rate limit,
 * overload, network, tool timeout). A `permanent` outcome (a failing check, bad input, an abort) and
 * a success are not: they reset the consecutive count like any call that reached a working tool.
 *
 * cockatiel's breaker counts what its policy "handles": thrown errors that pass `handleWhen` and
 * returned values that pass `orWhenResult` (connor4312/cockatiel src/Policy.ts `orWhenResult`;
 * src/common/Executor.ts: `invoke` reports a handled value as a failure and `returnOrThrow` still
 * hands it back; src/CircuitBreakerPolicy.ts: `execute` throws `BrokenCircuitError` while open,
 * `IsolatedCircuitError` while isolated; checked against the installed 4.0.0, whose half-open state
 * admits one test call by default like 3.x did), so a transient
 * ToolResult is counted without being turned into an exception.
 */
import {
  BrokenCircuitError,
  CircuitBreakerPolicy,
  circuitBreaker,
  CircuitState,
  ConsecutiveBreaker,
  handleWhen,
  IsolatedCircuitError,
} from 'cockatiel';
import { ToolCircuitOpenError, type ToolResult, ToolStartError } from './tool.port';

/** A breaker's state, as reported by {@link ToolBreakers.states}. */
export type BreakerState = 'closed' | 'open' | 'half-open' | 'isolated';

export interface ToolBreakersOptions {
  /** Consecutive infrastructure failures that open a tool's breaker; default 5. */
  threshold?: number;
  /** ms an open breaker waits before letting one test call through; default 30000. */
  halfOpenAfterMs?: number;
  /** Called on every state change of any tool's breaker. */
  onStateChange?(tool: string, state: BreakerState): void;
}

/** ToolStartError codes that mean the tool itself is unavailable (a bad request or cwd is the caller's problem). */
const INFRA_START_CODES = new Set(['TOOL_NOT_FOUND', 'TOOL_NOT_EXECUTABLE', 'TOOL_START_FAILED']);

/** True for a thrown error that counts as an infrastructure failure. */
export function isInfrastructureError(error: unknown): boolean {
  return error instanceof ToolStartError && INFRA_START_CODES.has(error.code);
}

/** True for a result that counts as an infrastructure failure (a transient outcome). */
export function isInfrastructureResult(result: unknown): boolean {
  return (result as ToolResult | undefined)?.outcome?.kind === 'transient';
}

const STATE_NAMES: Record<CircuitState, BreakerState> = {
  [CircuitState.Closed]: 'closed',
  [CircuitState.Open]: 'open',
  [CircuitState.HalfOpen]: 'half-open',
  [CircuitState.Isolated]: 'isolated',
};

interface Entry {
  policy: CircuitBreakerPolicy;
  /** When the breaker last opened (ms since the epoch). */
  openedAt: number;
}

/** The per-tool circuit breakers of one worker process. */
export class ToolBreakers {
  private readonly threshold: number;
  private readonly halfOpenAfterMs: number;
  private readonly entries = new Map<string, Entry>();
  private readonly listeners = new Set<(tool: string, state: BreakerState) => void>();

  constructor(options: ToolBreakersOptions = {}) {
    this.threshold = options.threshold ?? 5;
    this.halfOpenAfterMs = options.halfOpenAfterMs ?? 30_000;
    if (options.onStateChange) this.listeners.add(options.onStateChange);
  }

  /**
   * Runs `fn` (one tool run) through `tool`'s breaker and returns its result unchanged.
   *
   * @throws ToolCircuitOpenError (`code` TOOL_CIRCUIT_OPEN, `retryAfterMs` = time until the breaker
   *   lets a test call through) without calling `fn` while the breaker is open or isolated.
   * @throws whatever `fn` throws (a ToolStartError is counted before it is rethrown).
   */
  async execute(tool: string, fn: () => Promise<ToolResult>): Promise<ToolResult> {
    const entry = this.entry(tool);
    try {
      return await entry.policy.execute(() => fn());
    } catch (err) {
      if (err instanceof IsolatedCircuitError) throw new ToolCircuitOpenError(tool, this.halfOpenAfterMs);
      if (err instanceof BrokenCircuitError) {
        throw new ToolCircuitOpenError(tool, Math.max(0, entry.openedAt + this.halfOpenAfterMs - Date.now()));
      }
      throw err;
    }
  }

  /**
   * State of every tool's breaker used so far. An open breaker reads `open` until the first call
   * after `halfOpenAfterMs`, which runs as the half-open test.
   */
  states(): Record<string, BreakerState> {
    const out: Record<string, BreakerState> = {};
    for (const [tool, entry] of this.entries) out[tool] = STATE_NAMES[entry.policy.state];
    return out;
  }

  /** Subscribes to state changes of every tool's breaker; returns a handle to unsubscribe. */
  onStateChange(listener: (tool: string, state: BreakerState) => void): { dispose(): void } {
    this.listeners.add(listener);
    return { dispose: () => this.listeners.delete(listener) };
  }

  /** Holds `tool`'s breaker open (e.g. an operator disabled it) until the handle is disposed. */
  isolate(tool: string): { dispose(): void } {
    return this.entry(tool).policy.isolate();
  }

  private entry(tool: string): Entry {
    let entry = this.entries.get(tool);
    if (entry) return entry;
    const policy = circuitBreaker(handleWhen(isInfrastructureError).orWhenResult(isInfrastructureResult), {
      halfOpenAfter: this.halfOpenAfterMs,
      breaker: new ConsecutiveBreaker(this.threshold),
    });
    const created: Entry = { policy, openedAt: 0 };
    policy.onStateChange((state) => {
      if (state === CircuitState.Open) created.openedAt = Date.now();
      for (const listener of this.listeners) listener(tool, STATE_NAMES[state]);
    });
    this.entries.set(tool, created);
    entry = created;
    return entry;
  }
}
