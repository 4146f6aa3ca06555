/**
 * What a coding-agent CLI is to the adapter: how to invoke it for a task (argv, stdin, env) and how
 * to read its output (a streaming parser). One profile per CLI; pure apart from the parser's state.
 */
import { crashOutcome, lastLines, OutcomeCode, truncate } from '../outcomes';
import type { CliTask, ToolLine, ToolOutcome, Usage } from '../tool.port';
import { classifyErrorText, outcomeOf } from './error-classification';

/** Everything a profile needs to build a command. */
export interface CliCommandContext {
  task: CliTask;
  /** The working directory (`ToolRequest.cwd`, the job's worktree). */
  workspace: string;
  /** A private file (mode 0600, outside the workspace) holding `task.prompt`; removed after the run. */
  promptFile: string;
  /** A private directory of this run (holds `promptFile`; removed after the run) for files a CLI would otherwise write into the workspace. */
  scratchDir: string;
  /** The binary to run (the adapter's configured path, default the profile's `defaultBin`). */
  bin: string;
}

/** The process to start: `argv[0]` is the binary. `stdin` is written and closed; absent = stdin closed at once. */
export interface CliCommand {
  argv: string[];
  stdin?: string;
  /** Extra environment variables (not secrets; those come from `ToolRequest.env`). */
  env?: Record<string, string>;
}

/** How the process ended, for the parser's verdict. */
export interface CliExit {
  exitCode: number | null;
  signal: string | null;
  stdoutTail: string;
  stderrTail: string;
}

/** A parser's verdict. */
export interface CliVerdict {
  outcome: ToolOutcome;
  usage: Usage | null;
}

/** Reads one run's output line by line (redacted lines, stdout and stderr interleaved as they came). */
export interface CliOutputParser {
  line(line: ToolLine): void;
  /** Called once, after the process tree is gone. */
  finish(exit: CliExit): CliVerdict;
}

/** One coding-agent CLI. */
export interface CliProfile {
  /** Tool name (`claude`, `codex`, …): the adapter's name and the breaker's key. */
  readonly name: string;
  /** Binary used when the adapter is given none. */
  readonly defaultBin: string;
  /** Environment variables the CLI needs (credentials, endpoints, config dirs): pass exactly these, e.g. with `pickEnv`. */
  readonly envNames: readonly string[];
  /** How the prompt reaches the CLI. */
  readonly promptVia: 'stdin' | 'file';
  command(ctx: CliCommandContext): CliCommand;
  createParser(): CliOutputParser;
}

/** First characters of an unexpected line quoted in error messages. */
const QUOTE_CAP = 200;

/** A line quoted for a message: JSON-escaped, cut at 200 characters. */
export function quoteLine(text: string): string {
  return JSON.stringify(text.length > QUOTE_CAP ? `${text.slice(0, QUOTE_CAP)}…` : text);
}

/**
 * Reads JSON-lines output: every non-blank stdout line must be a JSON object with a string `type`.
 * The first line that is not is remembered (for UNKNOWN_OUTPUT_FORMAT); stderr is not parsed.
 */
export class JsonLineReader {
  firstUnexpected: string | null = null;

  parse(line: ToolLine): Record<string, unknown> | null {
    if (line.stream !== 'stdout' || line.text.trim() === '') return null;
    if (!line.truncated) {
      try {
        const value: unknown = JSON.parse(line.text);
        if (value && typeof value === 'object' && !Array.isArray(value) && typeof (value as { type?: unknown }).type === 'string') {
          return value as Record<string, unknown>;
        }
      } catch {
        // not JSON: falls through
      }
    }
    this.firstUnexpected ??= line.truncated ? `${line.text.slice(0, QUOTE_CAP)} (line cut at its length cap)` : line.text;
    return null;
  }
}

/** The outcome when no result was recognised (see {@link noResultOutcome}). */
export interface NoResultContext {
  tool: string;
  exit: CliExit;
  /** What the parser looked for, e.g. "a stream-json `result` event". */
  expected: string;
  /** First unexpected stdout line, if any. */
  unexpected: string | null;
  /** Error text the CLI reported on the way (an error event, an API error message), if any. */
  errorText?: string;
}

/**
 * Without a recognisable result: an error the CLI reported (or stderr) that classifies as auth,
 * rate limit, overload, network… wins; otherwise a non-zero exit or a signal is a transient
 * `TOOL_CRASHED`, and an exit 0 is a permanent `UNKNOWN_OUTPUT_FORMAT` naming the tool and quoting
 * the first unexpected line — the parser does not guess.
 */
export function noResultOutcome(ctx: NoResultContext): ToolOutcome {
  const { tool, exit, expected, unexpected } = ctx;
  const errorText = ctx.errorText?.trim() || lastLines(exit.stderrTail);
  const cls = classifyErrorText(errorText);
  if (cls) return outcomeOf(cls, truncate(`tool ${tool} failed: ${errorText}`));
  if (exit.exitCode !== 0 || exit.signal) {
    const seen = unexpected !== null ? ` (first unexpected output line: ${quoteLine(unexpected)})` : '';
    return crashOutcome(tool, exit, `${errorText}${seen}`);
  }
  const detail =
    unexpected !== null
      ? `first unexpected line: ${quoteLine(unexpected)}`
      : `it printed ${exit.stdoutTail.trim() ? `no such line (last stdout line: ${quoteLine(lastLines(exit.stdoutTail, 1))})` : 'nothing on stdout'}`;
  return {
    kind: 'permanent',
    code: OutcomeCode.UNKNOWN_OUTPUT_FORMAT,
    message: `tool ${tool}: output not recognised — expected ${expected}; ${detail}`,
  };
}

/** A number field, or undefined. */
export function num(value: unknown): number | undefined {
  return typeof value === 'number' && Number.isFinite(value) ? value : undefined;
}

/** A string field, or undefined. */
export function str(value: unknown): string | undefined {
  return typeof value === 'string' ? value : undefined;
}

/** An object field, or undefined. */
export function obj(value: unknown): Record<string, unknown> | undefined {
  return value && typeof value === 'object' && !Array.isArray(value) ? (value as Record<string, unknown>) : undefined;
}
