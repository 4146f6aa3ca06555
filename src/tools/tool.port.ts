/**
 * The tool adapter port (seed 002, "Tool Adapter Framework"): one interface through which the
 * orchestrator runs anything that does work — a subprocess (`shell`), an in-process TypeScript
 * function (`function`), or a coding-agent CLI (`claude`, `codex`, `gemini`, `aider`, `custom`).
 * Pure types: no Nest, no I/O.
 */

/** Token and cost usage reported by a tool. Tokens are counts; `costUsd` is US dollars when the tool reports it. */
export interface Usage {
  inputTokens: number;
  outputTokens: number;
  /** USD; absent when the tool reports tokens only (Codex, Gemini). */
  costUsd?: number;
}

/**
 * What a run came to, decided by the adapter's parser — never by the exit code alone.
 * - `success`: the tool did its job; `message` is its final message (a CLI's result text, the
 *   tail of a shell command's output).
 * - `permanent`: retrying cannot help (bad input, auth, turn or budget limit, a failing check, an
 *   output format the parser does not know).
 * - `transient`: may work later (rate limit, network, overloaded, crash, timeout). `retryAfterMs`
 *   when the tool says how long to wait.
 */
export type ToolOutcome =
  | { kind: 'success'; message: string }
  | { kind: 'permanent'; code: string; message: string }
  | { kind: 'transient'; code: string; message: string; retryAfterMs?: number };

/**
 * One line a subprocess wrote (without its line break), secrets already redacted. `at` is ms since
 * the epoch. A line longer than the cap (16 KiB for `onLine`) is cut there and has `truncated: true`.
 */
export interface ToolLine {
  stream: 'stdout' | 'stderr';
  text: string;
  at: number;
  truncated?: boolean;
}

/** The process a run started: recorded on the stage attempt so it can be found after a crash. */
export interface ProcessInfo {
  tool: string;
  /** pid of the direct child; also its process group id (it leads its own group). */
  pid: number;
  pgid: number;
  /**
   * Value of the `AICD_PROCESS_MARKER` environment variable given to the child and inherited by
   * its descendants: finds them in /proc even after one left the group with `setsid`.
   */
  marker: string;
  /** `os.hostname()` of the worker that spawned it. */
  host: string;
  startedAt: Date;
}

/** Why the supervisor ended a run itself. */
export type Termination = 'timeout' | 'idle-timeout' | 'aborted';

/** Context handed to a `function` tool. */
export interface FunctionToolContext {
  cwd: string;
  env: Record<string, string>;
  signal: AbortSignal;
  /** Writes a log line (as if on stdout). */
  log(text: string): void;
}

/** How much a coding-agent CLI may do in the workspace. */
export type CliMode = 'read-only' | 'edit';

/**
 * The task of a coding-agent CLI run (`claude`, `codex`, `gemini`, `aider`, `custom`); the
 * workspace is `ToolRequest.cwd`. The prompt never goes into argv: each CLI gets it on stdin or in
 * a private prompt file (see the profiles in src/tools/cli/).
 */
export interface CliTask {
  /** The full prompt (issue text, plan, review feedback, …). Any size. */
  prompt: string;
  /** Pipeline stage the run serves (`planning`, `coding`, `reviewing`, …); the `custom` template's `{stage}`. */
  stage: string;
  mode: CliMode;
  /** Upper bound on agentic turns, where the CLI supports it (claude). */
  maxTurns?: number;
  /** Upper bound on spend in USD, where the CLI supports it (claude). */
  maxBudgetUsd?: number;
  /** Model name passed to the CLI's `--model`, when set. */
  model?: string;
  /** Files to put in the chat (aider's positional FILE arguments), relative to the workspace. */
  files?: string[];
}

/** One run of a tool. */
export interface ToolRequest {
  /** Subprocess tools: the program and its arguments. No secret may appear here. */
  argv?: string[];
  /** Coding-agent CLI tools: what to do (the adapter builds argv, stdin and the prompt file from it). */
  task?: CliTask;
  /** The `function` tool: the function to call; its resolved value becomes `ToolResult.value`. */
  fn?: (ctx: FunctionToolContext) => Promise<unknown>;
  /** Working directory (the job's worktree). */
  cwd: string;
  /**
   * Variables the tool needs, added to the minimal allowlist (PATH, HOME, LANG, …). Nothing else
   * of the worker's environment reaches the child.
   */
  env?: Record<string, string>;
  /** Written to stdin, which is then closed. Without it stdin is closed at once (`ignore`). */
  stdin?: string;
  /** Wall-clock limit, ms (0/absent = none). */
  timeoutMs?: number;
  /** Limit on silence: no stdout/stderr output for this many ms ends the run (0/absent = none). */
  idleTimeoutMs?: number;
  /** Aborts the run (cancel, shutdown): the process group gets SIGTERM, then SIGKILL. */
  signal?: AbortSignal;
  /** Called for every output line (redacted), in order. */
  onLine?(line: ToolLine): void;
  /** Called once the child is spawned. */
  onSpawn?(info: ProcessInfo): void;
  /** Secret values to replace by `[redacted]` in lines and tails (in addition to the env's secrets). */
  redact?: string[];
}

/** What a run returns. A tool that could not be started at all throws {@link ToolStartError}. */
export interface ToolResult {
  tool: string;
  /** Exit code, or null when the process ended by a signal (or for a function tool). */
  exitCode: number | null;
  /** Signal that ended the process (`SIGTERM`, `SIGKILL`), or null. */
  signal: string | null;
  /** pid of the direct child, null for a function tool. */
  pid: number | null;
  durationMs: number;
  /** Last bytes of stdout / stderr (at most 8 KiB each), redacted. */
  stdoutTail: string;
  stderrTail: string;
  outcome: ToolOutcome;
  usage: Usage | null;
  /** Set when the supervisor ended the run (timeout, idle timeout, abort). */
  termination?: Termination;
  /** A function tool's resolved value. */
  value?: unknown;
}

/** Runs one kind of tool. */
export interface ToolAdapter {
  readonly name: string;
  run(request: ToolRequest): Promise<ToolResult>;
}

/**
 * The tool could not be started. `code`: `TOOL_NOT_FOUND` (ENOENT: no such binary on PATH),
 * `TOOL_NOT_EXECUTABLE` (EACCES), `TOOL_START_FAILED` (any other spawn error) — infrastructure
 * failures that count for the tool's circuit breaker — or `TOOL_BAD_REQUEST` (the request lacks
 * what the adapter needs), `TOOL_CWD_NOT_FOUND` (the working directory does not exist), which are
 * the caller's problem and do not count.
 */
export class ToolStartError extends Error {
  constructor(
    readonly tool: string,
    readonly code: string,
    message: string,
  ) {
    super(message);
    this.name = 'ToolStartError';
  }
}

/** A tool's circuit breaker is open: the call was not made. Retry after `retryAfterMs`. `code` = TOOL_CIRCUIT_OPEN. */
export class ToolCircuitOpenError extends Error {
  readonly code = 'TOOL_CIRCUIT_OPEN';
  constructor(
    readonly tool: string,
    readonly retryAfterMs: number,
  ) {
    super(`circuit breaker of tool ${tool} is open after repeated infrastructure failures; retry in ${retryAfterMs} ms`);
    this.name = 'ToolCircuitOpenError';
  }
}
