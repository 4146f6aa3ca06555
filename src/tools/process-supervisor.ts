/**
 * Runs one subprocess under supervision (execa 10): its own process group, a minimal environment,
 * redacted line streaming, wall-clock / idle / abort termination of the whole tree (SIGTERM, then
 * SIGKILL after a grace period), and no process of the run left alive when it returns.
 */
import { existsSync } from 'node:fs';
import { hostname } from 'node:os';
import { execa } from 'execa';
import { buildChildEnv, newProcessMarker, secretValues } from './child-env';
import { createRedactor, DISPLAY_LINE_CAP, LineSplitter, PARSE_LINE_CAP, TailBuffer } from './output-lines';
import { ProcessTreeKiller, type ReapReport } from './process-reaper';
import { RunLimits } from './run-limits';
import { processStartTicks } from './process-table';
import {
  type ProcessInfo,
  type Termination,
  type ToolLine,
  type ToolOutcome,
  type ToolRequest,
  type ToolResult,
  ToolStartError,
  type Usage,
} from './tool.port';

/** Default time between SIGTERM and SIGKILL, ms (the app's KILL_GRACE_MS). */
export const DEFAULT_KILL_GRACE_MS = 5000;
/** How long to wait for the output pipes to close once the tree is gone, ms (a marker-less escapee may hold them). */
const PIPE_CLOSE_WAIT_MS = 2000;

export interface ProcessSupervisorOptions {
  /** ms between SIGTERM and SIGKILL to the process tree; default {@link DEFAULT_KILL_GRACE_MS}. */
  killGraceMs?: number;
  /** The worker's environment the allowlist is taken from; default `process.env`. */
  workerEnv?: NodeJS.ProcessEnv;
}

/** Hooks for adapters that parse output. */
export interface SupervisorHooks {
  /**
   * Called for every line (redacted) before `onLine`, with lines up to 8 Mi characters
   * ({@link PARSE_LINE_CAP}) instead of 16 KiB, so a parser sees a CLI's large result event whole.
   */
  onParseLine?(line: ToolLine): void;
}

/** How a supervised run ended. */
export interface SupervisedRun {
  /** Exit code of the direct child, null when a signal ended it (or it never started). */
  exitCode: number | null;
  /** Signal that ended the direct child, or null. */
  signal: string | null;
  /** The spawned process, null when the run was aborted before it started. */
  process: ProcessInfo | null;
  durationMs: number;
  /** Last 8 KiB of stdout / stderr, redacted. */
  stdoutTail: string;
  stderrTail: string;
  /** Set when the supervisor ended the run. */
  termination?: Termination;
  /** Processes of the run still alive after the direct child exited, and what became of them. */
  leftovers: ReapReport;
}

/**
 * Spawns and supervises tool processes. One instance serves any number of concurrent runs.
 *
 * Every run: the child leads its own process group (execa `detached: true`, i.e. `setsid`), gets
 * only {@link buildChildEnv}'s environment plus `AICD_PROCESS_MARKER=<random>`, has stdin closed
 * (or fed `request.stdin` and then closed), and its stdout/stderr are split into lines, redacted,
 * handed to the hooks and kept in 8 KiB tails. On `timeoutMs`, `idleTimeoutMs` or `signal` the whole
 * tree gets SIGTERM and, `killGraceMs` later, SIGKILL. When the direct child has exited — for any
 * reason, success included — whatever is left of the tree (its group, and on Linux every process
 * carrying the marker) is terminated the same way, and `run` resolves only once it is gone.
 */
export class ProcessSupervisor {
  readonly killGraceMs: number;
  private readonly workerEnv: NodeJS.ProcessEnv;

  constructor(options: ProcessSupervisorOptions = {}) {
    this.killGraceMs = options.killGraceMs ?? DEFAULT_KILL_GRACE_MS;
    this.workerEnv = options.workerEnv ?? process.env;
  }

  /**
   * Runs `request.argv` (no shell: pass `['sh', '-c', cmd]` for a shell string) in `request.cwd`.
   * Resolves when the direct child has exited and the rest of its tree is gone.
   *
   * @throws ToolStartError `TOOL_NOT_FOUND` (ENOENT), `TOOL_NOT_EXECUTABLE` (EACCES),
   *   `TOOL_START_FAILED` (other spawn errors), `TOOL_BAD_REQUEST` (no argv), `TOOL_CWD_NOT_FOUND`.
   * @throws the first error thrown by `onSpawn`, `onLine` or `onParseLine` — the run is then ended
   *   like an abort and the error rethrown once the tree is gone.
   */
  async run(tool: string, request: ToolRequest, hooks: SupervisorHooks = {}): Promise<SupervisedRun> {
    const argv = request.argv;
    if (!argv || argv.length === 0 || !argv[0]) {
      throw new ToolStartError(tool, 'TOOL_BAD_REQUEST', `tool ${tool}: request.argv is empty`);
    }
    if (!existsSync(request.cwd)) {
      throw new ToolStartError(tool, 'TOOL_CWD_NOT_FOUND', `tool ${tool}: working directory ${request.cwd} does not exist`);
    }
    const started = Date.now();
    const stdoutTail = new TailBuffer();
    const stderrTail = new TailBuffer();
    const none: ReapReport = { found: 0, killed: 0, remaining: 0 };
    if (request.signal?.aborted) {
      return { exitCode: null, signal: null, process: null, durationMs: 0, stdoutTail: '', stderrTail: '', termination: 'aborted', leftovers: none };
    }

    const marker = newProcessMarker();
    const redact = createRedactor([...(request.redact ?? []), ...secretValues(request.env)]);
    const child = execa(argv[0], argv.slice(1), {
      cwd: request.cwd,
      env: buildChildEnv(this.workerEnv, request.env, marker),
      extendEnv: false,
      detached: true,
      cleanup: false,
      buffer: false,
      reject: false,
      stripFinalNewline: false,
      ...(request.stdin === undefined ? { stdin: 'ignore' as const } : { input: request.stdin }),
      stdout: 'pipe',
      stderr: 'pipe',
    });
    if (child.pid === undefined) {
      const failed = await child;
      throw startError(tool, argv[0], failed.code, failed.shortMessage ?? failed.message ?? 'spawn failed');
    }

    const pid = child.pid;
    const info: ProcessInfo = { tool, pid, pgid: pid, marker, host: hostname(), startedAt: new Date(started) };
    // Descendants start after the child: older processes need not be searched for the marker.
    const killer = new ProcessTreeKiller({ marker, pgid: pid, startedFrom: processStartTicks(pid) }, this.killGraceMs, true);
    const limits = new RunLimits(request, () => void killer.terminate());
    const terminate = (why: Termination) => limits.end(why);
    const touch = () => limits.touch();

    // A throwing hook must not become an uncaught exception in a stream handler: the first error is
    // kept, the run is ended, and the error is rethrown once the tree is gone.
    let hookError: unknown = null;
    const callHook = (hook: () => void) => {
      if (hookError !== null) return;
      try {
        hook();
      } catch (err) {
        hookError = err;
        terminate('aborted');
      }
    };
    const lineCap = hooks.onParseLine ? PARSE_LINE_CAP : DISPLAY_LINE_CAP;
    const wire = (stream: 'stdout' | 'stderr', tail: TailBuffer) => {
      const splitter = new LineSplitter(lineCap, (raw, cutAtParseCap) => {
        const text = redact(raw);
        const at = Date.now();
        if (hooks.onParseLine) callHook(() => hooks.onParseLine?.({ stream, text, at, ...(cutAtParseCap ? { truncated: true } : {}) }));
        const cut = cutAtParseCap || text.length > DISPLAY_LINE_CAP;
        const shown = text.length > DISPLAY_LINE_CAP ? text.slice(0, DISPLAY_LINE_CAP) : text;
        tail.append(shown);
        if (request.onLine) callHook(() => request.onLine?.({ stream, text: shown, at, ...(cut ? { truncated: true } : {}) }));
      });
      const source = child[stream];
      source?.on('data', (chunk: Buffer) => {
        touch();
        splitter.push(chunk);
      });
      return splitter;
    };
    const splitters = [wire('stdout', stdoutTail), wire('stderr', stderrTail)];

    const exited = new Promise<{ code: number | null; signal: string | null }>((resolve) => {
      // execa 10's subprocess is a promise with the child's streams, not the ChildProcess itself.
      child.nodeChildProcess.once('exit', (code, signal) => resolve({ code, signal }));
    });
    if (request.onSpawn) callHook(() => request.onSpawn?.(info));

    const exit = await exited;
    limits.dispose();
    const termination = limits.termination;

    // The direct child is gone; its tree may not be.
    const leftoverPids = await killer.members();
    if (leftoverPids.length > 0 && !killer.terminating) await killer.terminate();
    const stillAlive = killer.terminating ? await killer.waitGone() : [];
    killer.dispose();
    const leftovers: ReapReport = {
      found: leftoverPids.length,
      killed: leftoverPids.length - leftoverPids.filter((p) => stillAlive.includes(p)).length,
      remaining: stillAlive.length,
    };

    // Everything that held the pipes is dead: drain them (bounded, in case a marker-less escapee holds one).
    let pipeTimer: NodeJS.Timeout | undefined;
    await Promise.race([child, new Promise((resolve) => (pipeTimer = setTimeout(resolve, PIPE_CLOSE_WAIT_MS)))]);
    clearTimeout(pipeTimer);
    child.stdout?.destroy();
    child.stderr?.destroy();
    for (const splitter of splitters) splitter.end();
    if (hookError !== null) throw hookError;

    return {
      exitCode: exit.code,
      signal: exit.signal,
      process: info,
      durationMs: Date.now() - started,
      stdoutTail: stdoutTail.value(),
      stderrTail: stderrTail.value(),
      ...(termination ? { termination } : {}),
      leftovers,
    };
  }
}

/** The {@link ToolResult} of a supervised run, with the adapter's outcome and usage. */
export function resultOfRun(tool: string, run: SupervisedRun, outcome: ToolOutcome, usage: Usage | null): ToolResult {
  return {
    tool,
    exitCode: run.exitCode,
    signal: run.signal,
    pid: run.process?.pid ?? null,
    durationMs: run.durationMs,
    stdoutTail: run.stdoutTail,
    stderrTail: run.stderrTail,
    outcome,
    usage,
    ...(run.termination ? { termination: run.termination } : {}),
  };
}

function startError(tool: string, bin: string, code: string | undefined, detail: string): ToolStartError {
  if (code === 'ENOENT') {
    return new ToolStartError(tool, 'TOOL_NOT_FOUND', `tool ${tool}: binary ${bin} not found (ENOENT): ${detail}`);
  }
  if (code === 'EACCES') {
    return new ToolStartError(tool, 'TOOL_NOT_EXECUTABLE', `tool ${tool}: binary ${bin} is not executable (EACCES): ${detail}`);
  }
  return new ToolStartError(tool, 'TOOL_START_FAILED', `tool ${tool}: could not start ${bin} (${code ?? 'unknown error'}): ${detail}`);
}
