/**
 * Gemini CLI (`gemini`) in headless mode with streaming JSON output.
 *
 * Invocation: `gemini --output-format stream-json --approval-mode <auto_edit|default> [--model M]
 * -p "<fixed instruction>"`, the prompt on stdin.
 * - `-p/--prompt`: "Run in non-interactive (headless) mode with the given prompt. Appended to
 *   input on stdin (if any)." (gemini --help; geminicli.com/docs/cli/headless). So the task goes
 *   on stdin and `-p` carries only a short fixed instruction; stdin is read up to 8 MB
 *   (packages/cli/src/utils/readStdin.ts).
 * - Approval modes: `default` (ask), `auto_edit` (file edits approved), `yolo`, `plan`. In
 *   headless mode tools that would need a confirmation are denied/excluded unless the mode approves
 *   them (google-gemini/gemini-cli#6991, #17737), so read-only = `default` (reads only) and
 *   edit = `auto_edit` (edits, no shell). `plan` is not used for read-only: in headless runs plan
 *   mode exits itself and goes on to implement (observed on v0.52–v0.64, qiita kai_kou 0a7639d1f95f5d9d56cf).
 *   In an untrusted folder (folder trust enabled) any mode is forced back to `default`.
 *
 * Events (packages/core/src/output/types.ts, JsonStreamEventType): `init {session_id, model}`,
 * `message {role, content, delta?}`, `tool_use`, `tool_result`, `error {severity, message}`
 * (non-fatal), `result {status:'success'|'error', error?:{type, message}, stats?:{input_tokens,
 * output_tokens, total_tokens, cached, input, duration_ms, tool_calls}}`. Tokens only, no USD.
 * Exit codes (packages/core/src/utils/errors.ts; headless docs): 0 ok, 1 general/API error,
 * 41 auth, 42 input, 44 sandbox, 52 config, 53 turn limit, 54 tool execution, 130 cancelled.
 */
import { OutcomeCode, truncate } from '../outcomes';
import type { ToolLine, ToolOutcome, Usage } from '../tool.port';
import {
  type CliCommand,
  type CliCommandContext,
  type CliExit,
  type CliOutputParser,
  type CliProfile,
  type CliVerdict,
  JsonLineReader,
  noResultOutcome,
  num,
  obj,
  str,
} from './cli-profile';
import { classifyErrorText, outcomeOf } from './error-classification';

/** Variables Gemini CLI reads for credentials (API key or Vertex AI / ADC) and the model. */
export const GEMINI_ENV: readonly string[] = [
  'GEMINI_API_KEY',
  'GOOGLE_API_KEY',
  'GOOGLE_CLOUD_PROJECT',
  'GOOGLE_CLOUD_LOCATION',
  'GOOGLE_GENAI_USE_VERTEXAI',
  'GOOGLE_APPLICATION_CREDENTIALS',
  'GEMINI_MODEL',
];

/** The `-p` text: the real task arrives on stdin, which Gemini CLI puts before it. */
export const GEMINI_PROMPT_ARG = 'Carry out the task given above.';

/** Gemini CLI's fatal exit codes, all permanent. */
const EXIT_CODES: Record<number, { code: string; what: string }> = {
  41: { code: OutcomeCode.AUTH_FAILED, what: 'authentication failed' },
  42: { code: OutcomeCode.INVALID_INPUT, what: 'invalid input' },
  44: { code: OutcomeCode.TOOL_ERROR, what: 'sandbox error' },
  52: { code: OutcomeCode.INVALID_INPUT, what: 'configuration error' },
  53: { code: OutcomeCode.TURN_LIMIT, what: 'turn limit exceeded' },
  54: { code: OutcomeCode.TOOL_ERROR, what: 'fatal tool execution error' },
};

class GeminiParser implements CliOutputParser {
  private readonly reader = new JsonLineReader();
  private result: Record<string, unknown> | null = null;
  private answer = '';
  private lastError: string | null = null;

  line(line: ToolLine): void {
    const event = this.reader.parse(line);
    if (!event) return;
    switch (event.type) {
      case 'message':
        if (event.role === 'assistant') this.answer = event.delta === true ? this.answer + (str(event.content) ?? '') : (str(event.content) ?? '');
        break;
      case 'tool_use':
        this.answer = ''; // the final answer is what the model says after its last tool call
        break;
      case 'error':
        this.lastError = str(event.message) ?? JSON.stringify(event);
        break;
      case 'result':
        this.result = event;
        break;
      default:
        break; // init, tool_result and future events
    }
  }

  finish(exit: CliExit): CliVerdict {
    const usage = this.usage();
    if (this.result?.status === 'success') return { outcome: { kind: 'success', message: this.answer }, usage };
    const fatal = exit.exitCode !== null ? EXIT_CODES[exit.exitCode] : undefined;
    const errorText = [str(obj(this.result?.error)?.type), str(obj(this.result?.error)?.message) ?? this.lastError].filter(Boolean).join(': ');
    if (fatal) {
      const detail = errorText || exit.stderrTail.trim().split('\n').slice(-5).join('\n');
      const outcome: ToolOutcome = {
        kind: 'permanent',
        code: fatal.code,
        message: truncate(`tool gemini exited with code ${exit.exitCode} (${fatal.what})${detail ? `: ${detail}` : ''}`),
      };
      return { outcome, usage };
    }
    if (this.result) {
      const cls = classifyErrorText(errorText) ?? { kind: 'permanent' as const, code: OutcomeCode.TOOL_ERROR };
      return { outcome: outcomeOf(cls, truncate(`tool gemini reported an error: ${errorText || 'result status error'}`)), usage };
    }
    return {
      outcome: noResultOutcome({
        tool: 'gemini',
        exit,
        expected: 'a stream-json `result` event (gemini --output-format stream-json)',
        unexpected: this.reader.firstUnexpected,
        ...(this.lastError ? { errorText: this.lastError } : {}),
      }),
      usage,
    };
  }

  private usage(): Usage | null {
    const stats = obj(this.result?.stats);
    if (!stats) return null;
    return { inputTokens: num(stats.input_tokens) ?? 0, outputTokens: num(stats.output_tokens) ?? 0 };
  }
}

/** The `gemini` profile. Read-only mode = `--approval-mode default`; edit = `auto_edit`. */
export const geminiProfile: CliProfile = {
  name: 'gemini',
  defaultBin: 'gemini',
  envNames: GEMINI_ENV,
  promptVia: 'stdin',
  command({ task, bin }: CliCommandContext): CliCommand {
    const argv = [bin, '--output-format', 'stream-json', '--approval-mode', task.mode === 'edit' ? 'auto_edit' : 'default'];
    if (task.model) argv.push('--model', task.model);
    argv.push('-p', GEMINI_PROMPT_ARG);
    return { argv, stdin: task.prompt };
  },
  createParser: () => new GeminiParser(),
};
