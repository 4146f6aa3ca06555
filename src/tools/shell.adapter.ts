/**
 * The `shell` tool: runs a program (a check, a build, a test command) under the process
 * supervisor. Its outcome comes from the exit status alone, because that is a shell command's
 * contract.
 */
import { crashOutcome, lastLines, terminationOutcome, truncate } from './outcomes';
import { resultOfRun, type ProcessSupervisor, type SupervisedRun } from './process-supervisor';
import type { ToolAdapter, ToolOutcome, ToolRequest, ToolResult } from './tool.port';

/** argv that runs a shell string with POSIX `sh` (`['sh', '-c', command]`). */
export function shellCommand(command: string): string[] {
  return ['sh', '-c', command];
}

/**
 * Runs `request.argv` as is — no shell unless the argv asks for one (see {@link shellCommand}).
 *
 * Outcome: exit 0 → `success` (message: the stdout tail); exit N ≠ 0 → `permanent` `EXIT_<N>` (a
 * check that failed; message: the last lines of stderr, else stdout); killed by our timeout →
 * `transient` `TOOL_TIMEOUT` / `TOOL_IDLE_TIMEOUT`; cancelled → `permanent` `ABORTED`; killed by a
 * signal we did not send → `transient` `TOOL_CRASHED`. `usage` is null.
 *
 * @throws ToolStartError when the program cannot be started (see ProcessSupervisor.run).
 */
export class ShellToolAdapter implements ToolAdapter {
  readonly name = 'shell';

  constructor(private readonly supervisor: ProcessSupervisor) {}

  async run(request: ToolRequest): Promise<ToolResult> {
    const run = await this.supervisor.run(this.name, request);
    return resultOfRun(this.name, run, shellOutcome(this.name, run, request), null);
  }
}

/** The outcome of a shell run (see {@link ShellToolAdapter}). */
export function shellOutcome(tool: string, run: SupervisedRun, limits: Pick<ToolRequest, 'timeoutMs' | 'idleTimeoutMs'>): ToolOutcome {
  if (run.termination) return terminationOutcome(tool, run.termination, limits);
  if (run.exitCode === 0) return { kind: 'success', message: run.stdoutTail };
  if (run.exitCode !== null) {
    const detail = lastLines(run.stderrTail) || lastLines(run.stdoutTail);
    return {
      kind: 'permanent',
      code: `EXIT_${run.exitCode}`,
      message: truncate(`tool ${tool} exited with code ${run.exitCode}${detail ? `: ${detail}` : ''}`),
    };
  }
  return crashOutcome(tool, run, lastLines(run.stderrTail));
}
