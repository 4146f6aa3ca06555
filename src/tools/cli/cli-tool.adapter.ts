/**
 * Runs a coding-agent CLI task through the process supervisor: a profile builds the command, the
 * supervisor runs it, the profile's parser decides the outcome.
 */
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { terminationOutcome } from '../outcomes';
import { resultOfRun, type ProcessSupervisor } from '../process-supervisor';
import { type ToolAdapter, type ToolRequest, type ToolResult, ToolStartError } from '../tool.port';
import type { CliProfile } from './cli-profile';

export interface CliToolAdapterOptions {
  /** Path or name of the binary; default the profile's `defaultBin` (the tool's name). */
  bin?: string;
  /** Where the private per-run scratch directory (prompt file, history files) is created; default `os.tmpdir()`. */
  tmpDir?: string;
}

/**
 * A {@link ToolAdapter} for one CLI profile. `run(request)` needs `request.task` (the prompt,
 * stage, mode, limits) and runs in `request.cwd` (the workspace); `request.env` should hold exactly
 * the profile's `envNames` taken from the worker's env (`pickEnv(profile.envNames)`), and their
 * secret-looking values are redacted from all output.
 *
 * Per run: a private scratch directory (mode 0700) with the prompt file (0600) is created outside
 * the workspace and removed afterwards, whether or not the profile uses it.
 *
 * Outcome: the parser's verdict (an exit code of 0 alone never means success), except that a run
 * the supervisor ended is `TOOL_TIMEOUT` / `TOOL_IDLE_TIMEOUT` (transient) or `ABORTED`
 * (permanent) whatever the output said. `usage` is what the CLI reported (even for a failed run).
 *
 * @throws ToolStartError `TOOL_BAD_REQUEST` without `request.task`; `TOOL_NOT_FOUND` /
 *   `TOOL_NOT_EXECUTABLE` when the binary is missing or not executable (see ProcessSupervisor.run).
 */
export class CliToolAdapter implements ToolAdapter {
  readonly name: string;

  constructor(
    readonly profile: CliProfile,
    private readonly supervisor: ProcessSupervisor,
    private readonly options: CliToolAdapterOptions = {},
  ) {
    this.name = profile.name;
  }

  async run(request: ToolRequest): Promise<ToolResult> {
    const task = request.task;
    if (!task) throw new ToolStartError(this.name, 'TOOL_BAD_REQUEST', `tool ${this.name}: request.task is missing`);
    const scratchDir = await mkdtemp(join(this.options.tmpDir ?? tmpdir(), `aicd-${this.name}-`));
    try {
      const promptFile = join(scratchDir, 'prompt.md');
      await writeFile(promptFile, task.prompt, { mode: 0o600 });
      const command = this.profile.command({
        task,
        workspace: request.cwd,
        promptFile,
        scratchDir,
        bin: this.options.bin ?? this.profile.defaultBin,
      });
      const parser = this.profile.createParser();
      const run = await this.supervisor.run(
        this.name,
        {
          ...request,
          argv: command.argv,
          stdin: command.stdin,
          env: { ...(command.env ?? {}), ...(request.env ?? {}) },
        },
        { onParseLine: (line) => parser.line(line) },
      );
      const verdict = parser.finish({ exitCode: run.exitCode, signal: run.signal, stdoutTail: run.stdoutTail, stderrTail: run.stderrTail });
      return resultOfRun(this.name, run, run.termination ? terminationOutcome(this.name, run.termination, request) : verdict.outcome, verdict.usage);
    } finally {
      await rm(scratchDir, { recursive: true, force: true });
    }
  }
}
