/**
 * Claude Code (`claude`) in print mode with streaming JSON output.
 *
 * Invocation: `claude -p --output-format stream-json --verbose --permission-mode <acceptEdits|plan>
 * [--max-turns N] [--max-budget-usd X] [--model M]`, prompt on stdin.
 * - `-p`/`--print` runs non-interactively; with no prompt argument it reads the prompt from stdin
 *   (its own error when neither is given: "Input must be provided either through stdin or as a
 *   prompt argument when using --print" — quoted in wendylabsinc/WendyOS#804,
 *   gptme/gptme-contrib#201). So the prompt never touches argv.
 * - `--output-format stream-json` needs `--verbose`, else it exits 1 with "Error: When using
 *   --print, --output-format=stream-json requires --verbose" (fullsend-ai/fullsend#306,
 *   RightNow-AI/openfang#305).
 * - Permission modes `acceptEdits` / `plan` and `--max-turns`: Claude Code headless docs
 *   (docs.claude.com/en/docs/claude-code/headless). `--max-budget-usd` works only with `--print`
 *   (docs.rs claude_runner_core docs/claude_params/print.md). In print mode nothing can answer a
 *   permission prompt, so `acceptEdits` allows file edits but denies shell commands that need one.
 *
 * Output (one JSON object per line): `system` (init), `assistant`, `user`, … and finally
 * `{type:'result', subtype, is_error, result, total_cost_usd, usage:{input_tokens, output_tokens,
 * cache_creation_input_tokens, cache_read_input_tokens}, api_error_status?, errors?}`. Subtypes:
 * `success`, `error_max_turns`, `error_max_budget_usd`, `error_during_execution` (Agent SDK result
 * message; docs.rs claude-code-agent `TurnErrorKind`). An API failure arrives as
 * `subtype:'success'` with `is_error:true`, exit code 0, the text in `result` and the HTTP status
 * in `api_error_status` (anthropics/claude-code#79500) — hence never trust the exit code.
 */
import { OutcomeCode, truncate } from '../outcomes';
import type { ToolOutcome, Usage } from '../tool.port';
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
import { classifyErrorText, classifyHttpStatus, type ErrorClass, outcomeOf } from './error-classification';

/**
 * Variables Claude Code reads for credentials, endpoint and config (code.claude.com/docs/en/env-vars:
 * `ANTHROPIC_API_KEY` — always used in `-p` mode when set —, `ANTHROPIC_AUTH_TOKEN` (Bearer),
 * `ANTHROPIC_BASE_URL`, `ANTHROPIC_MODEL`; `CLAUDE_CONFIG_DIR` moves ~/.claude;
 * `CLAUDE_CODE_OAUTH_TOKEN` is the subscription token of `claude setup-token`).
 */
export const CLAUDE_ENV: readonly string[] = [
  'ANTHROPIC_API_KEY',
  'ANTHROPIC_AUTH_TOKEN',
  'ANTHROPIC_BASE_URL',
  'ANTHROPIC_MODEL',
  'CLAUDE_CODE_OAUTH_TOKEN',
  'CLAUDE_CONFIG_DIR',
];

/** Usage of a Claude-shaped result event: input = input + cache creation + cache read tokens. */
export function usageOfResultEvent(event: Record<string, unknown>): Usage | null {
  const usage = obj(event.usage);
  const costUsd = num(event.total_cost_usd);
  if (!usage && costUsd === undefined) return null;
  const inputTokens =
    (num(usage?.input_tokens) ?? 0) + (num(usage?.cache_creation_input_tokens) ?? 0) + (num(usage?.cache_read_input_tokens) ?? 0);
  return { inputTokens, outputTokens: num(usage?.output_tokens) ?? 0, ...(costUsd !== undefined ? { costUsd } : {}) };
}

/**
 * The outcome of a Claude-shaped `result` event (also the `custom` tool's contract):
 * not `is_error` and subtype `success` (or none) → success with `result`; `error_max_turns` →
 * permanent `TURN_LIMIT`; `error_max_budget_usd` → permanent `TOOL_BUDGET_EXCEEDED`; otherwise an
 * error classified by `retryable` (custom tools), `api_error_status`, then the error text, else
 * permanent `TOOL_ERROR`.
 */
export function outcomeOfResultEvent(tool: string, event: Record<string, unknown>): ToolOutcome {
  const subtype = str(event.subtype);
  const text = str(event.result) ?? '';
  if (event.is_error !== true && (subtype === undefined || subtype === 'success')) return { kind: 'success', message: text };
  if (subtype === 'error_max_turns') {
    return { kind: 'permanent', code: OutcomeCode.TURN_LIMIT, message: `tool ${tool} reached its turn limit${text ? `: ${truncate(text)}` : ''}` };
  }
  if (subtype === 'error_max_budget_usd') {
    return { kind: 'permanent', code: OutcomeCode.TOOL_BUDGET_EXCEEDED, message: `tool ${tool} reached its budget${text ? `: ${truncate(text)}` : ''}` };
  }
  const errors = Array.isArray(event.errors) ? event.errors.map((e) => (typeof e === 'string' ? e : JSON.stringify(e))) : [];
  const detail = [text, ...errors].filter(Boolean).join('; ') || `result subtype ${subtype ?? 'unknown'}`;
  const status = num(event.api_error_status);
  const message = truncate(`tool ${tool} reported an error${status ? ` (HTTP ${status})` : ''}: ${detail}`);
  const classified: ErrorClass | null = classifyHttpStatus(status) ?? classifyErrorText(detail);
  if (typeof event.retryable === 'boolean') {
    const code = str(event.code) ?? classified?.code ?? OutcomeCode.TOOL_ERROR;
    return outcomeOf({ kind: event.retryable ? 'transient' : 'permanent', code }, message);
  }
  return outcomeOf(classified ?? { kind: 'permanent', code: OutcomeCode.TOOL_ERROR }, message);
}

class ClaudeParser implements CliOutputParser {
  private readonly reader = new JsonLineReader();
  private result: Record<string, unknown> | null = null;
  private apiError: string | null = null;

  line(line: Parameters<CliOutputParser['line']>[0]): void {
    const event = this.reader.parse(line);
    if (!event) return;
    if (event.type === 'result') this.result = event;
    // A failed API call also shows as a synthetic assistant message flagged as an error (claude-code#79500).
    if (event.type === 'assistant' && (event.is_api_error_message === true || typeof event.error === 'string')) {
      const content = obj(event.message)?.content;
      const text = Array.isArray(content) ? content.map((c) => str(obj(c)?.text) ?? '').join('') : '';
      this.apiError = [str(event.error), text].filter(Boolean).join(': ');
    }
  }

  finish(exit: CliExit): CliVerdict {
    if (this.result) return { outcome: outcomeOfResultEvent('claude', this.result), usage: usageOfResultEvent(this.result) };
    return {
      outcome: noResultOutcome({
        tool: 'claude',
        exit,
        expected: 'a stream-json `result` event (claude -p --output-format stream-json --verbose)',
        unexpected: this.reader.firstUnexpected,
        ...(this.apiError ? { errorText: this.apiError } : {}),
      }),
      usage: null,
    };
  }
}

/** The `claude` profile. Read-only mode = `--permission-mode plan`; edit = `acceptEdits` (file edits allowed, no prompts). */
export const claudeProfile: CliProfile = {
  name: 'claude',
  defaultBin: 'claude',
  envNames: CLAUDE_ENV,
  promptVia: 'stdin',
  command({ task, bin }: CliCommandContext): CliCommand {
    const argv = [bin, '-p', '--output-format', 'stream-json', '--verbose', '--permission-mode', task.mode === 'edit' ? 'acceptEdits' : 'plan'];
    if (task.maxTurns !== undefined) argv.push('--max-turns', String(task.maxTurns));
    if (task.maxBudgetUsd !== undefined) argv.push('--max-budget-usd', String(task.maxBudgetUsd));
    if (task.model) argv.push('--model', task.model);
    return { argv, stdin: task.prompt };
  },
  createParser: () => new ClaudeParser(),
};
