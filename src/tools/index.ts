/** The tool adapter framework (seed 002): public API. Pure Node + execa + cockatiel; nothing from Nest, BullMQ or MongoDB. */
export * from './tool.port';
export { ENV_ALLOWLIST, NOT_SECRET_NAMES, PROCESS_MARKER_VAR, SECRET_NAME_PATTERN, buildChildEnv, isSecretName, newProcessMarker, pickEnv, secretValues } from './child-env';
export { DISPLAY_LINE_CAP, PARSE_LINE_CAP, REDACTED, TAIL_BYTES, createRedactor } from './output-lines';
export { findProcessesByMarker, isProcessAlive, procAvailable } from './process-table';
export { type ReapReport, type ReapTarget, reapProcesses } from './process-reaper';
export {
  DEFAULT_KILL_GRACE_MS,
  ProcessSupervisor,
  type ProcessSupervisorOptions,
  type SupervisedRun,
  type SupervisorHooks,
} from './process-supervisor';
export { OutcomeCode } from './outcomes';
export { ShellToolAdapter, shellCommand } from './shell.adapter';
export { FunctionToolAdapter } from './function.adapter';
export type { CliCommand, CliCommandContext, CliExit, CliOutputParser, CliProfile, CliVerdict } from './cli/cli-profile';
export { CliToolAdapter, type CliToolAdapterOptions } from './cli/cli-tool.adapter';
export { CLAUDE_ENV, claudeProfile } from './cli/claude.profile';
export { CODEX_ENV, codexProfile } from './cli/codex.profile';
export { GEMINI_ENV, geminiProfile } from './cli/gemini.profile';
export { AIDER_ENV, aiderProfile } from './cli/aider.profile';
export { CUSTOM_PLACEHOLDERS, type CustomCliOptions, createCustomProfile } from './cli/custom.profile';
export { type BuiltInCliName, CLI_PROFILES } from './cli/profiles';
export { createToolAdapters, type ToolAdaptersOptions } from './tool-adapters';
export { type BreakerState, ToolBreakers, type ToolBreakersOptions, isInfrastructureError, isInfrastructureResult } from './tool-breakers';
