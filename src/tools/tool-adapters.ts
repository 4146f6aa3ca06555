/**
 * Builds the set of tool adapters a worker uses: `shell`, `function`, the four built-in CLIs and,
 * when configured, a `custom` CLI — all sharing one process supervisor.
 */
import { CliToolAdapter } from './cli/cli-tool.adapter';
import { createCustomProfile, type CustomCliOptions } from './cli/custom.profile';
import { type BuiltInCliName, CLI_PROFILES } from './cli/profiles';
import { FunctionToolAdapter } from './function.adapter';
import type { ProcessSupervisor } from './process-supervisor';
import { ShellToolAdapter } from './shell.adapter';
import type { ToolAdapter } from './tool.port';

export interface ToolAdaptersOptions {
  supervisor: ProcessSupervisor;
  /** Binary path per built-in CLI (default: the tool's name, looked up on PATH). */
  bins?: Partial<Record<BuiltInCliName, string>>;
  /** The custom CLI, when one is configured. */
  custom?: CustomCliOptions;
  /** Where per-run scratch directories go; default `os.tmpdir()`. */
  tmpDir?: string;
}

/**
 * All adapters by tool name: `shell`, `function`, `claude`, `codex`, `gemini`, `aider`, plus the
 * custom one under its name when `custom` is given.
 *
 * @throws Error when the custom argv template is invalid (see createCustomProfile).
 */
export function createToolAdapters(options: ToolAdaptersOptions): Map<string, ToolAdapter> {
  const adapters = new Map<string, ToolAdapter>();
  const add = (adapter: ToolAdapter) => adapters.set(adapter.name, adapter);
  add(new ShellToolAdapter(options.supervisor));
  add(new FunctionToolAdapter());
  for (const name of Object.keys(CLI_PROFILES) as BuiltInCliName[]) {
    add(new CliToolAdapter(CLI_PROFILES[name], options.supervisor, { bin: options.bins?.[name], tmpDir: options.tmpDir }));
  }
  if (options.custom) add(new CliToolAdapter(createCustomProfile(options.custom), options.supervisor, { tmpDir: options.tmpDir }));
  return adapters;
}
