/**
 * A `custom` coding-agent CLI: any program that follows this contract.
 *
 * Invocation: an argv template (array of strings; element 0 is the program) whose elements may
 * contain the placeholders `{promptFile}` (a private file holding the prompt), `{workspace}`,
 * `{stage}` and `{mode}` (`read-only` | `edit`), substituted anywhere in an element
 * (`--prompt={promptFile}` works). The prompt goes only through `{promptFile}`; stdin is closed.
 *
 * Output contract: the LAST line on stdout that parses as a JSON object with `type: "result"`,
 * shaped like Claude Code's result event — `is_error` (boolean), `result` (final message / error
 * text), optional `usage: {input_tokens, output_tokens, cache_*}`, `total_cost_usd`, `subtype`
 * (`error_max_turns`, `error_max_budget_usd`), and `retryable` (boolean: decides transient vs
 * permanent for an error; `code` may name it). Any other line is free-form log output. No such
 * line → `UNKNOWN_OUTPUT_FORMAT` (exit 0) or `TOOL_CRASHED` (non-zero exit).
 */
import type { ToolLine } from '../tool.port';
import {
  type CliCommand,
  type CliCommandContext,
  type CliExit,
  type CliOutputParser,
  type CliProfile,
  type CliVerdict,
  noResultOutcome,
} from './cli-profile';
import { outcomeOfResultEvent, usageOfResultEvent } from './claude.profile';

/** Placeholders a custom argv template may use. */
export const CUSTOM_PLACEHOLDERS = ['promptFile', 'workspace', 'stage', 'mode'] as const;

export interface CustomCliOptions {
  /** Tool name; default `custom`. */
  name?: string;
  /** The argv template; element 0 is the program (the adapter's `bin`, when given, replaces it). */
  argv: string[];
  /** Environment variables the program needs (names; values come from the worker's env). */
  envNames?: string[];
}

class CustomParser implements CliOutputParser {
  private result: Record<string, unknown> | null = null;

  constructor(private readonly tool: string) {}

  line(line: ToolLine): void {
    if (line.stream !== 'stdout' || line.truncated) return;
    const text = line.text.trim();
    if (!text.startsWith('{')) return;
    try {
      const value: unknown = JSON.parse(text);
      if (value && typeof value === 'object' && (value as { type?: unknown }).type === 'result') this.result = value as Record<string, unknown>;
    } catch {
      // a log line that happens to start with "{"
    }
  }

  finish(exit: CliExit): CliVerdict {
    if (this.result) return { outcome: outcomeOfResultEvent(this.tool, this.result), usage: usageOfResultEvent(this.result) };
    return {
      outcome: noResultOutcome({
        tool: this.tool,
        exit,
        expected: 'a JSON line with "type":"result" on stdout (custom tool contract)',
        unexpected: null,
      }),
      usage: null,
    };
  }
}

/**
 * Builds a custom profile.
 *
 * @throws Error when the template is empty or uses an unknown `{placeholder}`.
 */
export function createCustomProfile(options: CustomCliOptions): CliProfile {
  const name = options.name ?? 'custom';
  if (options.argv.length === 0 || !options.argv[0]) throw new Error(`custom tool ${name}: the argv template is empty`);
  for (const element of options.argv) {
    for (const m of element.matchAll(/\{(\w+)\}/g)) {
      if (!(CUSTOM_PLACEHOLDERS as readonly string[]).includes(m[1])) {
        throw new Error(`custom tool ${name}: unknown placeholder {${m[1]}} in argv template (known: ${CUSTOM_PLACEHOLDERS.map((p) => `{${p}}`).join(', ')})`);
      }
    }
  }
  return {
    name,
    defaultBin: options.argv[0],
    envNames: options.envNames ?? [],
    promptVia: 'file',
    command({ task, bin, promptFile, workspace }: CliCommandContext): CliCommand {
      const values: Record<(typeof CUSTOM_PLACEHOLDERS)[number], string> = { promptFile, workspace, stage: task.stage, mode: task.mode };
      const fill = (s: string) => s.replace(/\{(\w+)\}/g, (_, key: keyof typeof values) => values[key]);
      return { argv: [bin, ...options.argv.slice(1).map(fill)] };
    },
    createParser: () => new CustomParser(name),
  };
}
