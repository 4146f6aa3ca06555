/**
 * OpenAI Codex CLI (`codex exec`) with JSON-lines events.
 *
 * Invocation: `codex exec --json --sandbox <workspace-write|read-only> [--model M] -`, prompt on
 * stdin, stdin then closed.
 * - `codex exec --help`: "[PROMPT] Initial instructions for the agent. If not provided as an
 *   argument (or if `-` is used), instructions are read from stdin." (quoted in several wrappers;
 *   developers.openai.com/codex/noninteractive). `-s/--sandbox read-only|workspace-write|
 *   danger-full-access`; exec never asks for approvals; default sandbox is read-only.
 * - It reads stdin whenever stdin is not a TTY and waits for EOF ("Reading additional input from
 *   stdin...", openai/codex#20919, #27019): the supervisor always closes stdin.
 * - It refuses to run outside a git repository unless `--skip-git-repo-check` is given
 *   (openai/codex PR #4583 docs/exec.md): run it in a worktree.
 *
 * Events (codex-rs/exec/src/exec_events.rs, mirrored in openai/codex sdk/typescript/src/events.ts):
 * `thread.started`, `turn.started`, `item.started|updated|completed {item:{id, type, text, …}}`
 * (final answer: `item.type === 'agent_message'`; before Oct 2025 `item_type: 'assistant_message'`),
 * `turn.completed {usage:{input_tokens, cached_input_tokens, output_tokens}}`,
 * `turn.failed {error:{message}}`, `error {message}` (also non-fatal reconnect notices such as
 * "Reconnecting... 1/5" — so an `error` event alone does not fail a turn that completes).
 * Tokens only, no USD; `cached_input_tokens` is a part of `input_tokens`.
 */
import { OutcomeCode, truncate } from '../outcomes';
import type { ToolLine, Usage } from '../tool.port';
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

/** Variables the Codex CLI reads for credentials, endpoint and its home (config, auth.json). */
export const CODEX_ENV: readonly string[] = ['OPENAI_API_KEY', 'CODEX_API_KEY', 'OPENAI_BASE_URL', 'CODEX_HOME'];

class CodexParser implements CliOutputParser {
  private readonly reader = new JsonLineReader();
  private lastTurn: 'completed' | 'failed' | null = null;
  private failure = '';
  private lastError: string | null = null;
  private message = '';
  private usage: Usage | null = null;

  line(line: ToolLine): void {
    const event = this.reader.parse(line);
    if (!event) return;
    switch (event.type) {
      case 'item.completed': {
        const item = obj(event.item);
        const kind = str(item?.type) ?? str(item?.item_type);
        if (kind === 'agent_message' || kind === 'assistant_message') this.message = str(item?.text) ?? this.message;
        break;
      }
      case 'turn.completed': {
        this.lastTurn = 'completed';
        const usage = obj(event.usage);
        this.usage = {
          inputTokens: (this.usage?.inputTokens ?? 0) + (num(usage?.input_tokens) ?? 0),
          outputTokens: (this.usage?.outputTokens ?? 0) + (num(usage?.output_tokens) ?? 0),
        };
        break;
      }
      case 'turn.failed':
        this.lastTurn = 'failed';
        this.failure = str(obj(event.error)?.message) ?? JSON.stringify(event.error ?? null);
        break;
      case 'error':
        this.lastError = str(event.message) ?? JSON.stringify(event);
        break;
      default:
        break; // thread.started, turn.started, item.started/updated and future events
    }
  }

  finish(exit: CliExit): CliVerdict {
    if (this.lastTurn === 'completed') return { outcome: { kind: 'success', message: this.message }, usage: this.usage };
    if (this.lastTurn === 'failed') {
      const message = truncate(`tool codex: turn failed: ${this.failure}`);
      const cls = classifyErrorText(this.failure) ?? { kind: 'permanent' as const, code: OutcomeCode.TOOL_ERROR };
      return { outcome: outcomeOf(cls, message), usage: this.usage };
    }
    return {
      outcome: noResultOutcome({
        tool: 'codex',
        exit,
        expected: 'a `turn.completed` or `turn.failed` event (codex exec --json)',
        unexpected: this.reader.firstUnexpected,
        ...(this.lastError ? { errorText: this.lastError } : {}),
      }),
      usage: this.usage,
    };
  }
}

/** The `codex` profile. Read-only mode = `--sandbox read-only`; edit = `--sandbox workspace-write`. */
export const codexProfile: CliProfile = {
  name: 'codex',
  defaultBin: 'codex',
  envNames: CODEX_ENV,
  promptVia: 'stdin',
  command({ task, bin }: CliCommandContext): CliCommand {
    const argv = [bin, 'exec', '--json', '--sandbox', task.mode === 'edit' ? 'workspace-write' : 'read-only'];
    if (task.model) argv.push('--model', task.model);
    argv.push('-');
    return { argv, stdin: task.prompt };
  },
  createParser: () => new CodexParser(),
};
