import type { Stage } from '../../lifecycle/job.types';
import type { ToolBreakers } from '../../tools/tool-breakers';
import { ToolCircuitOpenError, ToolStartError, type ProcessInfo, type ToolAdapter, type ToolRequest, type ToolResult } from '../../tools/tool.port';
import { AgentError, type AgentCallObserver } from '../agent.port';

/**
 * Runs one tool for a stage through its circuit breaker (none for `breakers: null`) and reports what it did to the attempt's
 * observer: the process (pid, host; and its end), every output line, the usage. Returns the
 * result whatever its outcome (the caller decides what a failed check or a failed CLI means).
 * @throws ToolCircuitOpenError (the breaker is open: nothing ran); AgentError `TOOL_NOT_FOUND` /
 *   `TOOL_NOT_EXECUTABLE` (transient: the binary may be installed later; counted by the breaker).
 */
export async function runTool(
  breakers: ToolBreakers | null,
  adapter: ToolAdapter,
  request: ToolRequest,
  stage: Stage,
  observer: AgentCallObserver | undefined,
): Promise<ToolResult> {
  let spawned: ProcessInfo | null = null;
  try {
    const run = () =>
      adapter.run({
        ...request,
        onSpawn: (info) => {
          spawned = info;
          observer?.processStarted(info);
        },
        onLine: (line) => observer?.line(line),
      });
    const result = breakers ? await breakers.execute(adapter.name, run) : await run();
    if (result.usage) observer?.usage(result.usage);
    if (spawned) observer?.processEnded(spawned, { exitCode: result.exitCode, signal: result.signal, durationMs: result.durationMs });
    return result;
  } catch (e) {
    if (e instanceof ToolCircuitOpenError) throw e;
    if (e instanceof ToolStartError) throw new AgentError(e.code, e.message, e.code !== 'TOOL_BAD_REQUEST' && e.code !== 'TOOL_CWD_NOT_FOUND', stage);
    throw e;
  }
}

/**
 * The result's outcome as the stage's answer: the final message on success, else an AgentError
 * with the outcome's code (transient ones are retried; `retryAfterMs` when the tool said).
 */
export function messageOrThrow(result: ToolResult, stage: Stage): string {
  const o = result.outcome;
  if (o.kind === 'success') return o.message;
  throw new AgentError(o.code, o.message, o.kind === 'transient', stage, o.kind === 'transient' ? o.retryAfterMs : undefined);
}
