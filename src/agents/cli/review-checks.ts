import type { CheckResult, Stage } from '../../lifecycle/job.types';
import { shellCommand } from '../../tools/shell.adapter';
import type { ToolAdapter } from '../../tools/tool.port';
import type { AgentCallObserver } from '../agent.port';
import { runTool } from './tool-call';

/** Lines of the checks' output kept for the feedback and the job's review comments. */
export const CHECKS_TAIL_LINES = 60;
/** Output bytes kept for the checks' artifact. */
export const CHECKS_OUTPUT_MAX_BYTES = 1_000_000;

/** What running the checks gives: the result, and the whole (capped) output for the artifact. */
export interface ChecksRun {
  check: CheckResult;
  output: string;
}

/**
 * Runs the repository's checks (`sh -c <command>`) in the worktree: exit 0 passes; any other
 * exit, or being killed by the timeout, fails them. Not behind a circuit breaker: a failing or
 * slow check says something about the change, not about an unavailable tool. Output lines go to the attempt's log as they
 * come; the last {@link CHECKS_TAIL_LINES} lines become `outputTail` (the feedback of the next
 * coding round).
 */
export async function runChecks(
  shell: ToolAdapter,
  args: { command: string; cwd: string; env: Record<string, string>; timeoutMs: number; idleTimeoutMs: number; signal: AbortSignal; redact: readonly string[]; stage: Stage },
  observer: AgentCallObserver | undefined,
): Promise<ChecksRun> {
  const lines: string[] = [];
  let bytes = 0;
  let cut = 0;
  const result = await runTool(
    null,
    shell,
    {
      argv: shellCommand(args.command),
      cwd: args.cwd,
      env: args.env,
      timeoutMs: args.timeoutMs,
      idleTimeoutMs: args.idleTimeoutMs,
      signal: args.signal,
      redact: [...args.redact],
    },
    args.stage,
    {
      ...(observer ?? { usage: () => undefined, workspace: () => undefined, processStarted: () => undefined, processEnded: () => undefined }),
      line: (line) => {
        observer?.line(line);
        bytes += Buffer.byteLength(line.text) + 1;
        lines.push(line.text);
        while (bytes > CHECKS_OUTPUT_MAX_BYTES && lines.length > 1) {
          bytes -= Buffer.byteLength(lines.shift()!) + 1;
          cut++;
        }
      },
    },
  );
  const o = result.outcome;
  const killed = result.termination === 'timeout' || result.termination === 'idle-timeout';
  const why = killed
    ? `killed after ${result.durationMs} ms (${result.termination === 'timeout' ? `REVIEW_TIMEOUT_MS ${args.timeoutMs}` : `no output for TOOL_IDLE_TIMEOUT_MS ${args.idleTimeoutMs}`})`
    : o.kind === 'success'
      ? `exit 0 in ${result.durationMs} ms`
      : `exit ${result.exitCode ?? result.signal} in ${result.durationMs} ms`;
  const tail = lines.slice(-CHECKS_TAIL_LINES).join('\n');
  return {
    check: {
      command: args.command,
      exitCode: result.exitCode,
      passed: o.kind === 'success' && !killed,
      durationMs: result.durationMs,
      outputTail: `${why}\n${tail}`.trim(),
    },
    output: `${cut ? `[… ${cut} earlier line(s) dropped: over ${CHECKS_OUTPUT_MAX_BYTES} bytes …]\n` : ''}${lines.join('\n')}\n`,
  };
}
