/**
 * Outcomes every adapter shares: what a supervisor-ended run means, what a crash means, and the
 * error codes. Pure.
 */
import type { Termination, ToolOutcome } from './tool.port';

/** Stable outcome codes (besides a shell command's `EXIT_<code>`). */
export const OutcomeCode = {
  /** Killed by our wall-clock timeout. Transient. */
  TOOL_TIMEOUT: 'TOOL_TIMEOUT',
  /** Killed because it printed nothing for `idleTimeoutMs`. Transient. */
  TOOL_IDLE_TIMEOUT: 'TOOL_IDLE_TIMEOUT',
  /** Cancelled through `request.signal`. Permanent (the caller asked for it). */
  ABORTED: 'ABORTED',
  /** Died on a signal we did not send, or exited non-zero without a result the parser knows. Transient. */
  TOOL_CRASHED: 'TOOL_CRASHED',
  /** A `function` tool threw. Permanent unless the error says `retryable: true`. */
  FUNCTION_FAILED: 'FUNCTION_FAILED',
  /** The output is not in the format the parser knows (no result event, non-JSON where JSON is due). Permanent. */
  UNKNOWN_OUTPUT_FORMAT: 'UNKNOWN_OUTPUT_FORMAT',
  /** Provider rate limit / quota (HTTP 429). Transient. */
  RATE_LIMITED: 'RATE_LIMITED',
  /** Provider overloaded / unavailable (HTTP 529, 503). Transient. */
  OVERLOADED: 'OVERLOADED',
  /** Provider server error (other HTTP 5xx). Transient. */
  SERVER_ERROR: 'SERVER_ERROR',
  /** Network failure (ECONNRESET, ETIMEDOUT, fetch failed, stream disconnected). Transient. */
  NETWORK: 'NETWORK',
  /** Credentials missing or refused (HTTP 401/403). Permanent. */
  AUTH_FAILED: 'AUTH_FAILED',
  /** The CLI's turn limit was reached. Permanent. */
  TURN_LIMIT: 'TURN_LIMIT',
  /** The CLI's spend limit was reached. Permanent. */
  TOOL_BUDGET_EXCEEDED: 'TOOL_BUDGET_EXCEEDED',
  /** The prompt does not fit the model's context window. Permanent. */
  CONTEXT_WINDOW_EXCEEDED: 'CONTEXT_WINDOW_EXCEEDED',
  /** The CLI rejected its input or configuration (bad flag, bad prompt, bad settings). Permanent. */
  INVALID_INPUT: 'INVALID_INPUT',
  /** The CLI reported an error of no known kind. Permanent. */
  TOOL_ERROR: 'TOOL_ERROR',
} as const;

/** Cap on the text of an outcome message, characters. */
export const MESSAGE_CAP = 4000;

/** The text, cut to `max` characters with an ellipsis. */
export function truncate(text: string, max: number = MESSAGE_CAP): string {
  return text.length > max ? `${text.slice(0, max)}…` : text;
}

/** The last `lines` non-empty lines of a tail, for error messages. */
export function lastLines(tail: string, lines = 10): string {
  return tail
    .split('\n')
    .filter((l) => l.trim().length > 0)
    .slice(-lines)
    .join('\n');
}

/** The outcome of a run the supervisor ended itself. */
export function terminationOutcome(tool: string, termination: Termination, limits: { timeoutMs?: number; idleTimeoutMs?: number }): ToolOutcome {
  switch (termination) {
    case 'timeout':
      return { kind: 'transient', code: OutcomeCode.TOOL_TIMEOUT, message: `tool ${tool} exceeded its time limit of ${limits.timeoutMs} ms and was killed` };
    case 'idle-timeout':
      return {
        kind: 'transient',
        code: OutcomeCode.TOOL_IDLE_TIMEOUT,
        message: `tool ${tool} printed nothing for ${limits.idleTimeoutMs} ms and was killed`,
      };
    case 'aborted':
      return { kind: 'permanent', code: OutcomeCode.ABORTED, message: `tool ${tool} was cancelled` };
  }
}

/** The outcome of a process that died without a result we can read: transient `TOOL_CRASHED`. */
export function crashOutcome(tool: string, exit: { exitCode: number | null; signal: string | null }, detail: string): ToolOutcome {
  const how = exit.signal ? `was killed by ${exit.signal}` : `exited with code ${exit.exitCode}`;
  const tail = detail.trim() ? `: ${truncate(detail.trim(), 2000)}` : '';
  return { kind: 'transient', code: OutcomeCode.TOOL_CRASHED, message: `tool ${tool} ${how} without a result${tail}` };
}
