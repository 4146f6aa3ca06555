/**
 * Aider (`aider`) in scripting mode. Plain text output, so the parser reads its report lines.
 *
 * Invocation: `aider --message-file <promptFile> --yes-always --no-auto-commits --no-stream
 * --no-pretty --analytics-disable --no-check-update --no-gitignore --no-show-model-warnings
 * --no-suggest-shell-commands --no-detect-urls --input-history-file <scratch> --chat-history-file
 * <scratch> [--chat-mode ask] [--model M] [-- FILES…]`, stdin closed.
 * (aider.chat/docs/scripting.html: `--message-file` "Specify a file containing the message to send
 * GPT, process reply, then exit"; aider.chat/docs/config/options.html for the other switches; chat
 * modes: aider.chat/docs/usage/modes.html — `ask` "will discuss your code and answer questions about
 * it, but never make changes".) `--no-detect-urls` matters: with `--yes-always` aider would
 * otherwise fetch every URL in the issue text into the chat. The history files go to the run's
 * scratch directory and `--no-gitignore` keeps aider from editing `.gitignore`, so the worktree
 * holds only the agent's edits (`--no-gitignore` exists since at least v0.80, Aider-AI/aider#3716).
 * With `TERM=dumb` and no TTY aider turns fancy input off itself. The model comes from `--model`
 * or `AIDER_MODEL`. Without a git repository aider would offer to create one (and `--yes-always`
 * accepts): run it in a worktree.
 *
 * Output read (aider/coders/base_coder.py): after every model reply
 * `Tokens: 2.1k sent[, 1.0k cache write][, 500 cache hit], 123 received.` and, when costs are
 * known, `Cost: $0.01 message, $0.03 session.` (same line or the next). Counts are rounded by
 * `format_tokens` (2.1k), so usage is approximate. Aider exits 0 even after a fatal API error
 * (Aider-AI/aider#5552, #3918): litellm errors are printed as `litellm.<Name>Error: …`, followed by
 * `Retrying in N seconds...` while it retries (aider/exceptions.py lists which names retry). An
 * error line not followed by a retry or a later `Tokens:` report is fatal.
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
  noResultOutcome,
} from './cli-profile';
import { classifyErrorText, type ErrorClass, outcomeOf } from './error-classification';

/** Variables aider reads: the model and the API keys of the providers it may use (litellm). */
export const AIDER_ENV: readonly string[] = [
  'AIDER_MODEL',
  'OPENAI_API_KEY',
  'OPENAI_API_BASE',
  'ANTHROPIC_API_KEY',
  'GEMINI_API_KEY',
  'DEEPSEEK_API_KEY',
  'OPENROUTER_API_KEY',
  'GROQ_API_KEY',
  'MISTRAL_API_KEY',
];

const TOKENS = /^Tokens: ([\d.]+[kKmM]?) sent(?:, ([\d.]+[kKmM]?) cache write)?(?:, ([\d.]+[kKmM]?) cache hit)?, ([\d.]+[kKmM]?) received\./;
const COST = /Cost: \$([\d.]+) message, \$([\d.]+) session\./;
const LITELLM_ERROR = /\blitellm\.([A-Za-z]+(?:Error|Timeout))\b/;
const RETRYING = /^Retrying in [\d.]+ seconds/;
/** Aider's own status lines, not part of the model's reply. */
const STATUS_LINE =
  /^(Aider v|Main model:|Weak model:|Editor model:|Git repo:|Repo-map:|Added .* to the chat|Model:|Warning|Use \/help|https:\/\/aider\.chat|Applied edit to|Commit [0-9a-f]{7}|Cost estimates|Can't initialize prompt toolkit|Detected dumb terminal)/;

/** litellm exception names with a fixed meaning (aider/exceptions.py). */
const BY_NAME: Record<string, ErrorClass> = {
  RateLimitError: { kind: 'transient', code: OutcomeCode.RATE_LIMITED },
  RouterRateLimitError: { kind: 'transient', code: OutcomeCode.RATE_LIMITED },
  ServiceUnavailableError: { kind: 'transient', code: OutcomeCode.OVERLOADED },
  APIConnectionError: { kind: 'transient', code: OutcomeCode.NETWORK },
  Timeout: { kind: 'transient', code: OutcomeCode.NETWORK },
  AuthenticationError: { kind: 'permanent', code: OutcomeCode.AUTH_FAILED },
  ContextWindowExceededError: { kind: 'permanent', code: OutcomeCode.CONTEXT_WINDOW_EXCEEDED },
  BudgetExceededError: { kind: 'permanent', code: OutcomeCode.TOOL_BUDGET_EXCEEDED },
  NotFoundError: { kind: 'permanent', code: OutcomeCode.TOOL_ERROR },
  BadRequestError: { kind: 'permanent', code: OutcomeCode.TOOL_ERROR },
};

/** "2.1k" → 2100, "12k" → 12000, "1.2M" → 1200000, "123" → 123. */
export function parseAiderCount(text: string): number {
  const m = /^([\d.]+)([kKmM]?)$/.exec(text.trim());
  if (!m) return 0;
  const factor = m[2].toLowerCase() === 'k' ? 1000 : m[2].toLowerCase() === 'm' ? 1_000_000 : 1;
  return Math.round(Number(m[1]) * factor);
}

class AiderParser implements CliOutputParser {
  private firstStdout: string | null = null;
  private reports = 0;
  private inputTokens = 0;
  private outputTokens = 0;
  private sessionCost: number | undefined;
  private fatal: { name: string; text: string } | null = null;
  private replyLines: string[] = [];
  private reply = '';

  line(line: ToolLine): void {
    const text = line.text;
    if (line.stream === 'stdout' && this.firstStdout === null && text.trim()) this.firstStdout = text;
    const tokens = TOKENS.exec(text);
    if (tokens) {
      this.reports += 1;
      this.inputTokens += parseAiderCount(tokens[1]) + parseAiderCount(tokens[2] ?? '0');
      this.outputTokens += parseAiderCount(tokens[4]);
      this.fatal = null; // a reply came after any earlier error
      this.reply = this.replyLines.join('\n').trim();
      this.replyLines = [];
    }
    const cost = COST.exec(text);
    if (cost) this.sessionCost = Number(cost[2]);
    if (tokens || cost) return;
    const error = LITELLM_ERROR.exec(text);
    if (error) {
      this.fatal = { name: error[1], text };
      return;
    }
    if (RETRYING.test(text)) {
      this.fatal = null;
      return;
    }
    if (line.stream === 'stdout' && !STATUS_LINE.test(text)) this.replyLines.push(text);
  }

  finish(exit: CliExit): CliVerdict {
    const usage: Usage | null =
      this.reports > 0
        ? { inputTokens: this.inputTokens, outputTokens: this.outputTokens, ...(this.sessionCost !== undefined ? { costUsd: this.sessionCost } : {}) }
        : null;
    if (this.fatal) {
      const cls = BY_NAME[this.fatal.name] ?? classifyErrorText(this.fatal.text) ?? { kind: 'transient' as const, code: OutcomeCode.SERVER_ERROR };
      return { outcome: outcomeOf(cls, truncate(`tool aider failed: ${this.fatal.text}`)), usage };
    }
    if (exit.exitCode === 0 && !exit.signal && this.reports > 0) {
      const outcome: ToolOutcome = { kind: 'success', message: this.reply };
      return { outcome, usage };
    }
    return {
      outcome: noResultOutcome({
        tool: 'aider',
        exit,
        expected: 'a "Tokens: … sent, … received." report after the model reply (aider --message-file)',
        unexpected: this.reports === 0 ? this.firstStdout : null,
      }),
      usage,
    };
  }
}

/** The `aider` profile. Read-only mode adds `--chat-mode ask`; `task.files` become aider's FILE arguments. */
export const aiderProfile: CliProfile = {
  name: 'aider',
  defaultBin: 'aider',
  envNames: AIDER_ENV,
  promptVia: 'file',
  command({ task, bin, promptFile, scratchDir }: CliCommandContext): CliCommand {
    const argv = [
      bin,
      '--message-file',
      promptFile,
      '--yes-always',
      '--no-auto-commits',
      '--no-stream',
      '--no-pretty',
      '--analytics-disable',
      '--no-check-update',
      '--no-gitignore',
      '--no-show-model-warnings',
      '--no-suggest-shell-commands',
      '--no-detect-urls',
      '--input-history-file',
      `${scratchDir}/aider.input.history`,
      '--chat-history-file',
      `${scratchDir}/aider.chat.history.md`,
    ];
    if (task.mode === 'read-only') argv.push('--chat-mode', 'ask');
    if (task.model) argv.push('--model', task.model);
    if (task.files?.length) argv.push('--', ...task.files);
    return { argv };
  },
  createParser: () => new AiderParser(),
};
