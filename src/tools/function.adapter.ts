/**
 * The `function` tool: calls an in-process TypeScript function with the same limits a subprocess
 * gets (wall clock, idle, abort), expressed through an AbortSignal.
 */
import { secretValues } from './child-env';
import { OutcomeCode, terminationOutcome, truncate } from './outcomes';
import { RunLimits } from './run-limits';
import { createRedactor, DISPLAY_LINE_CAP, TailBuffer } from './output-lines';
import type { FunctionToolContext, ToolAdapter, ToolRequest, ToolResult } from './tool.port';
import { ToolStartError } from './tool.port';

/**
 * Calls `request.fn(ctx)`. `ctx.signal` aborts (reason: the termination) on `request.signal`, after
 * `timeoutMs`, or when `ctx.log()` was not called for `idleTimeoutMs`; the run then ends at once
 * with that outcome even if the function ignores the signal (it cannot be killed in process and
 * may go on in the background — honour `ctx.signal`).
 *
 * Outcome: resolves → `success` (`value` = the resolved value, message = the logged tail);
 * throws → `permanent` `FUNCTION_FAILED`, or `transient` `FUNCTION_FAILED` when the error has
 * `retryable: true`; timeout → `transient` `TOOL_TIMEOUT` / `TOOL_IDLE_TIMEOUT`; cancelled →
 * `permanent` `ABORTED`. `ctx.log` lines are redacted like a subprocess's and go to `onLine`
 * (stream `stdout`) and `stdoutTail`.
 *
 * @throws ToolStartError `TOOL_BAD_REQUEST` when `request.fn` is missing.
 */
export class FunctionToolAdapter implements ToolAdapter {
  readonly name = 'function';

  async run(request: ToolRequest): Promise<ToolResult> {
    const fn = request.fn;
    if (!fn) throw new ToolStartError(this.name, 'TOOL_BAD_REQUEST', 'tool function: request.fn is missing');
    const started = Date.now();
    const tail = new TailBuffer();
    const redact = createRedactor([...(request.redact ?? []), ...secretValues(request.env)]);
    const controller = new AbortController();
    let stop!: () => void;
    const stopped = new Promise<void>((resolve) => (stop = resolve));
    const limits = new RunLimits(request, (why) => {
      controller.abort(why);
      stop();
    });
    const touch = () => limits.touch();

    const ctx: FunctionToolContext = {
      cwd: request.cwd,
      env: { ...(request.env ?? {}) },
      signal: controller.signal,
      log: (text: string) => {
        touch();
        for (const raw of String(text).split('\n')) {
          const line = redact(raw);
          const shown = line.length > DISPLAY_LINE_CAP ? line.slice(0, DISPLAY_LINE_CAP) : line;
          tail.append(shown);
          request.onLine?.({ stream: 'stdout', text: shown, at: Date.now(), ...(shown !== line ? { truncated: true } : {}) });
        }
      },
    };

    type Settled = { ok: true; value: unknown } | { ok: false; error: unknown };
    let settled: Settled | undefined;
    if (!limits.termination) {
      const call = Promise.resolve()
        .then(() => fn(ctx))
        .then(
          (value): Settled => ({ ok: true, value }),
          (error: unknown): Settled => ({ ok: false, error }),
        );
      settled = await Promise.race([call, stopped.then(() => undefined)]);
    }
    limits.dispose();
    const termination = limits.termination;

    const base = { tool: this.name, exitCode: null, signal: null, pid: null, durationMs: Date.now() - started, stdoutTail: tail.value(), stderrTail: '', usage: null };
    if (termination || !settled) {
      const why = termination ?? 'aborted';
      return { ...base, outcome: terminationOutcome(this.name, why, request), termination: why };
    }
    if (settled.ok) return { ...base, outcome: { kind: 'success', message: base.stdoutTail }, value: settled.value };
    const error = settled.error;
    const message = truncate(redact(`tool function failed: ${error instanceof Error ? error.message : String(error)}`));
    const retryable = typeof error === 'object' && error !== null && (error as { retryable?: unknown }).retryable === true;
    return {
      ...base,
      outcome: retryable
        ? { kind: 'transient', code: OutcomeCode.FUNCTION_FAILED, message }
        : { kind: 'permanent', code: OutcomeCode.FUNCTION_FAILED, message },
    };
  }
}
