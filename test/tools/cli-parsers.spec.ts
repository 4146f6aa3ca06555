/**
 * The CLI output parsers, fed recorded-shape lines: success with usage, exit 0 with an error,
 * rate limit, crash, unknown format — per CLI — plus argv building and error classification.
 */
import { aiderProfile, parseAiderCount } from '../../src/tools/cli/aider.profile';
import type { CliExit, CliProfile, CliVerdict } from '../../src/tools/cli/cli-profile';
import { claudeProfile } from '../../src/tools/cli/claude.profile';
import { codexProfile } from '../../src/tools/cli/codex.profile';
import { createCustomProfile } from '../../src/tools/cli/custom.profile';
import { classifyErrorText, classifyHttpStatus, retryAfterFromText } from '../../src/tools/cli/error-classification';
import { GEMINI_PROMPT_ARG, geminiProfile } from '../../src/tools/cli/gemini.profile';
import type { CliTask } from '../../src/tools/tool.port';

type Line = string | Record<string, unknown> | { stderr: string };

/** Runs a parser over stdout lines (objects are JSON-encoded; `{stderr}` goes to stderr). */
function parse(profile: CliProfile, lines: Line[], exit: Partial<CliExit> = {}): CliVerdict {
  const parser = profile.createParser();
  let stdout = '';
  let stderr = '';
  for (const line of lines) {
    if (typeof line === 'object' && 'stderr' in line && typeof line.stderr === 'string' && Object.keys(line).length === 1) {
      parser.line({ stream: 'stderr', text: line.stderr, at: 0 });
      stderr += `${line.stderr}\n`;
    } else {
      const text = typeof line === 'string' ? line : JSON.stringify(line);
      parser.line({ stream: 'stdout', text, at: 0 });
      stdout += `${text}\n`;
    }
  }
  return parser.finish({ exitCode: 0, signal: null, stdoutTail: stdout, stderrTail: stderr, ...exit });
}

const custom = createCustomProfile({ argv: ['my-agent', '--prompt={promptFile}', '--cwd', '{workspace}', '{stage}/{mode}'] });

describe('claude parser (stream-json)', () => {
  const init = { type: 'system', subtype: 'init', session_id: 's', model: 'm' };
  const result = (fields: Record<string, unknown>) => ({ type: 'result', subtype: 'success', is_error: false, session_id: 's', ...fields });

  it('success: the result text, tokens (cache included) and USD', () => {
    const verdict = parse(claudeProfile, [
      init,
      { type: 'assistant', message: { content: [{ type: 'text', text: 'Fixed it.' }] } },
      result({ result: 'Fixed it.', total_cost_usd: 0.0421, usage: { input_tokens: 12, cache_creation_input_tokens: 1000, cache_read_input_tokens: 500, output_tokens: 90 } }),
    ]);
    expect(verdict).toEqual({ outcome: { kind: 'success', message: 'Fixed it.' }, usage: { inputTokens: 1512, outputTokens: 90, costUsd: 0.0421 } });
  });

  it('exit 0 with is_error is not a success', () => {
    const verdict = parse(claudeProfile, [init, result({ is_error: true, result: 'Credit balance is too low', total_cost_usd: 0 })]);
    expect(verdict.outcome).toMatchObject({ kind: 'permanent', code: 'TOOL_ERROR' });
    expect(verdict.outcome).toHaveProperty('message', expect.stringContaining('Credit balance is too low'));
  });

  it('rate limit (api_error_status 429) and overload (529) are transient', () => {
    const limited = parse(claudeProfile, [init, result({ is_error: true, api_error_status: 429, result: 'API Error: 429 rate_limit_error · retry in 30 seconds' })]);
    expect(limited.outcome).toMatchObject({ kind: 'transient', code: 'RATE_LIMITED', retryAfterMs: 30_000 });
    const overloaded = parse(claudeProfile, [init, result({ is_error: true, result: 'API Error: 529 {"type":"overloaded_error"}' })]);
    expect(overloaded.outcome).toMatchObject({ kind: 'transient', code: 'OVERLOADED' });
  });

  it('turn limit, budget and auth are permanent', () => {
    expect(parse(claudeProfile, [result({ subtype: 'error_max_turns', is_error: true })]).outcome).toMatchObject({ kind: 'permanent', code: 'TURN_LIMIT' });
    expect(parse(claudeProfile, [result({ subtype: 'error_max_budget_usd', is_error: true })]).outcome).toMatchObject({ kind: 'permanent', code: 'TOOL_BUDGET_EXCEEDED' });
    expect(parse(claudeProfile, [result({ is_error: true, api_error_status: 401, result: 'Invalid API key' })]).outcome).toMatchObject({ kind: 'permanent', code: 'AUTH_FAILED' });
  });

  it('a crash (non-zero exit, no result) is a transient TOOL_CRASHED', () => {
    const verdict = parse(claudeProfile, [init, { stderr: 'Error: When using --print, --output-format=stream-json requires --verbose' }], { exitCode: 1 });
    expect(verdict.outcome).toMatchObject({ kind: 'transient', code: 'TOOL_CRASHED' });
    expect(verdict.outcome).toHaveProperty('message', expect.stringContaining('requires --verbose'));
  });

  it('an unknown format (exit 0, no result event) is UNKNOWN_OUTPUT_FORMAT naming claude and quoting the first odd line', () => {
    const verdict = parse(claudeProfile, [init, 'Welcome to Claude Code!', 'more text']);
    expect(verdict.outcome).toMatchObject({ kind: 'permanent', code: 'UNKNOWN_OUTPUT_FORMAT' });
    expect(verdict.outcome).toHaveProperty('message', expect.stringMatching(/^tool claude: .*"Welcome to Claude Code!"/));
    const long = parse(claudeProfile, ['y'.repeat(5000)]);
    expect((long.outcome as { message: string }).message.length).toBeLessThan(600);
  });

  it('builds argv with the prompt on stdin only', () => {
    const task: CliTask = { prompt: 'a long prompt', stage: 'coding', mode: 'edit', maxTurns: 12, maxBudgetUsd: 1.5, model: 'sonnet' };
    const command = claudeProfile.command({ task, bin: '/opt/claude', workspace: '/w', promptFile: '/t/p', scratchDir: '/t' });
    expect(command).toEqual({
      argv: ['/opt/claude', '-p', '--output-format', 'stream-json', '--verbose', '--permission-mode', 'acceptEdits', '--max-turns', '12', '--max-budget-usd', '1.5', '--model', 'sonnet'],
      stdin: 'a long prompt',
    });
    expect(claudeProfile.command({ task: { ...task, mode: 'read-only' }, bin: 'claude', workspace: '/w', promptFile: '/t/p', scratchDir: '/t' }).argv).toContain('plan');
  });
});

describe('codex parser (exec --json)', () => {
  const start = [{ type: 'thread.started', thread_id: 't' }, { type: 'turn.started' }];

  it('success: the last agent message and summed tokens, no USD; reconnect notices are not fatal', () => {
    const verdict = parse(codexProfile, [
      ...start,
      { type: 'error', message: 'Reconnecting... 1/5' },
      { type: 'item.completed', item: { id: 'i0', type: 'reasoning', text: 'thinking' } },
      { type: 'item.completed', item: { id: 'i1', type: 'agent_message', text: 'Done.' } },
      { type: 'turn.completed', usage: { input_tokens: 24763, cached_input_tokens: 24448, output_tokens: 122 } },
    ]);
    expect(verdict).toEqual({ outcome: { kind: 'success', message: 'Done.' }, usage: { inputTokens: 24763, outputTokens: 122 } });
    const legacy = parse(codexProfile, [...start, { type: 'item.completed', item: { id: 'i', item_type: 'assistant_message', text: 'old shape' } }, { type: 'turn.completed', usage: {} }]);
    expect(legacy.outcome).toEqual({ kind: 'success', message: 'old shape' });
  });

  it('exit 0 with turn.failed is not a success; a 429 failure is transient RATE_LIMITED', () => {
    expect(parse(codexProfile, [...start, { type: 'turn.failed', error: { message: 'model refused' } }]).outcome).toMatchObject({ kind: 'permanent', code: 'TOOL_ERROR' });
    const limited = parse(codexProfile, [...start, { type: 'turn.failed', error: { message: 'exceeded retry limit, last status: 429 Too Many Requests' } }], { exitCode: 1 });
    expect(limited.outcome).toMatchObject({ kind: 'transient', code: 'RATE_LIMITED' });
  });

  it('a crash is TOOL_CRASHED; an error event alone is classified (network)', () => {
    expect(parse(codexProfile, [...start, { stderr: "thread 'main' panicked" }], { exitCode: 101 }).outcome).toMatchObject({ kind: 'transient', code: 'TOOL_CRASHED' });
    expect(parse(codexProfile, [...start, { type: 'error', message: 'stream disconnected before completion' }], { exitCode: 1 }).outcome).toMatchObject({ kind: 'transient', code: 'NETWORK' });
  });

  it('an unknown format is UNKNOWN_OUTPUT_FORMAT naming codex', () => {
    const verdict = parse(codexProfile, ['OpenAI Codex v0.1']);
    expect(verdict.outcome).toMatchObject({ kind: 'permanent', code: 'UNKNOWN_OUTPUT_FORMAT', message: expect.stringContaining('tool codex') });
    expect(verdict.outcome).toHaveProperty('message', expect.stringContaining('"OpenAI Codex v0.1"'));
  });

  it('builds `exec --json --sandbox … -` with the prompt on stdin', () => {
    const ctx = { bin: 'codex', workspace: '/w', promptFile: '/t/p', scratchDir: '/t' };
    expect(codexProfile.command({ ...ctx, task: { prompt: 'P', stage: 'coding', mode: 'edit' } })).toEqual({ argv: ['codex', 'exec', '--json', '--sandbox', 'workspace-write', '-'], stdin: 'P' });
    expect(codexProfile.command({ ...ctx, task: { prompt: 'P', stage: 'review', mode: 'read-only' } }).argv).toContain('read-only');
  });
});

describe('gemini parser (stream-json)', () => {
  const init = { type: 'init', session_id: 's', model: 'g' };
  const stats = { input_tokens: 300, output_tokens: 40, total_tokens: 340, cached: 0, input: 300, duration_ms: 1, tool_calls: 1 };

  it('success: the assistant text after the last tool call (deltas joined) and tokens', () => {
    const verdict = parse(geminiProfile, [
      init,
      { type: 'message', role: 'user', content: 'task' },
      { type: 'message', role: 'assistant', content: 'Let me look', delta: true },
      { type: 'tool_use', tool_name: 'read_file', tool_id: '1', parameters: {} },
      { type: 'tool_result', tool_id: '1', status: 'success' },
      { type: 'message', role: 'assistant', content: 'All ', delta: true },
      { type: 'message', role: 'assistant', content: 'fixed.', delta: true },
      { type: 'result', status: 'success', stats },
    ]);
    expect(verdict).toEqual({ outcome: { kind: 'success', message: 'All fixed.' }, usage: { inputTokens: 300, outputTokens: 40 } });
  });

  it('exit 0 with result status error is not a success; 429 is transient', () => {
    expect(parse(geminiProfile, [init, { type: 'result', status: 'error', error: { type: 'Error', message: 'invalid response' } }]).outcome).toMatchObject({ kind: 'permanent', code: 'TOOL_ERROR' });
    const limited = parse(geminiProfile, [init, { type: 'result', status: 'error', error: { type: 'ApiError', message: '[429 Too Many Requests] Quota exceeded' } }], { exitCode: 1 });
    expect(limited.outcome).toMatchObject({ kind: 'transient', code: 'RATE_LIMITED' });
  });

  it('exit codes 41 (auth) and 53 (turn limit) are permanent; a crash is transient; unknown format named', () => {
    expect(parse(geminiProfile, [{ stderr: 'Please set an Auth method' }], { exitCode: 41 }).outcome).toMatchObject({ kind: 'permanent', code: 'AUTH_FAILED' });
    expect(parse(geminiProfile, [init], { exitCode: 53 }).outcome).toMatchObject({ kind: 'permanent', code: 'TURN_LIMIT' });
    expect(parse(geminiProfile, [init, { stderr: 'TypeError: x is undefined' }], { exitCode: 1 }).outcome).toMatchObject({ kind: 'transient', code: 'TOOL_CRASHED' });
    expect(parse(geminiProfile, ['Loaded cached credentials.']).outcome).toMatchObject({
      code: 'UNKNOWN_OUTPUT_FORMAT',
      message: expect.stringContaining('tool gemini: output not recognised'),
    });
  });

  it('builds argv with a fixed -p and the prompt on stdin', () => {
    const command = geminiProfile.command({ task: { prompt: 'P', stage: 's', mode: 'edit' }, bin: 'gemini', workspace: '/w', promptFile: '/t/p', scratchDir: '/t' });
    expect(command).toEqual({ argv: ['gemini', '--output-format', 'stream-json', '--approval-mode', 'auto_edit', '-p', GEMINI_PROMPT_ARG], stdin: 'P' });
  });
});

describe('aider parser (text)', () => {
  it('success: reply text, rounded tokens, session cost', () => {
    const verdict = parse(aiderProfile, [
      'Aider v0.86.1',
      'Main model: anthropic/claude with diff edit format',
      'I changed the return value.',
      'Tokens: 2.1k sent, 1.0k cache write, 500 cache hit, 123 received.',
      'Cost: $0.01 message, $0.03 session.',
      'Applied edit to x.go',
    ]);
    expect(verdict).toEqual({ outcome: { kind: 'success', message: 'I changed the return value.' }, usage: { inputTokens: 3100, outputTokens: 123, costUsd: 0.03 } });
    expect(parseAiderCount('12k')).toBe(12_000);
    expect(parseAiderCount('1.2M')).toBe(1_200_000);
  });

  it('exit 0 after a fatal litellm error is not a success: rate limit transient, auth permanent', () => {
    const limited = parse(aiderProfile, [
      'litellm.RateLimitError: litellm.RateLimitError: VertexAIException - 429',
      'Retrying in 0.2 seconds...',
      'litellm.RateLimitError: litellm.RateLimitError: VertexAIException - 429',
      'The API provider has rate limited you. Try again later or check your quotas.',
    ]);
    expect(limited.outcome).toMatchObject({ kind: 'transient', code: 'RATE_LIMITED' });
    const auth = parse(aiderProfile, ['litellm.AuthenticationError: AnthropicException - invalid x-api-key']);
    expect(auth.outcome).toMatchObject({ kind: 'permanent', code: 'AUTH_FAILED' });
  });

  it('an error that was retried and then answered is a success', () => {
    const verdict = parse(aiderProfile, ['litellm.APIConnectionError: Connection error.', 'Retrying in 0.5 seconds...', 'Answer.', 'Tokens: 900 sent, 12 received.']);
    expect(verdict.outcome).toEqual({ kind: 'success', message: 'Answer.' });
    expect(verdict.usage).toEqual({ inputTokens: 900, outputTokens: 12 });
  });

  it('a crash is TOOL_CRASHED; output without a Tokens report is UNKNOWN_OUTPUT_FORMAT', () => {
    expect(parse(aiderProfile, [{ stderr: 'Traceback (most recent call last):' }], { exitCode: 1 }).outcome).toMatchObject({ kind: 'transient', code: 'TOOL_CRASHED' });
    expect(parse(aiderProfile, ['Hello from something else']).outcome).toMatchObject({
      code: 'UNKNOWN_OUTPUT_FORMAT',
      message: expect.stringContaining('"Hello from something else"'),
    });
  });

  it('builds argv with --message-file, no auto commits, and ask mode for read-only', () => {
    const ctx = { bin: 'aider', workspace: '/w', promptFile: '/t/prompt.md', scratchDir: '/t' };
    const edit = aiderProfile.command({ ...ctx, task: { prompt: 'P', stage: 's', mode: 'edit', files: ['a.go'] } });
    expect(edit.stdin).toBeUndefined();
    expect(edit.argv.slice(0, 5)).toEqual(['aider', '--message-file', '/t/prompt.md', '--yes-always', '--no-auto-commits']);
    expect(edit.argv.slice(-2)).toEqual(['--', 'a.go']);
    expect(edit.argv).not.toContain('P');
    expect(aiderProfile.command({ ...ctx, task: { prompt: 'P', stage: 's', mode: 'read-only' } }).argv).toEqual(expect.arrayContaining(['--chat-mode', 'ask']));
  });
});

describe('custom parser (Claude-shaped result line)', () => {
  it('the last result line wins; other lines are free-form logs', () => {
    const verdict = parse(custom, [
      'starting',
      { type: 'result', is_error: true, result: 'first attempt' },
      '{not json',
      { type: 'result', is_error: false, result: 'ok', usage: { input_tokens: 5, output_tokens: 6 }, total_cost_usd: 0.5 },
    ]);
    expect(verdict).toEqual({ outcome: { kind: 'success', message: 'ok' }, usage: { inputTokens: 5, outputTokens: 6, costUsd: 0.5 } });
  });

  it('retryable decides transient vs permanent', () => {
    expect(parse(custom, [{ type: 'result', is_error: true, result: 'lint failed', retryable: false }]).outcome).toMatchObject({ kind: 'permanent', code: 'TOOL_ERROR' });
    expect(parse(custom, [{ type: 'result', is_error: true, result: 'busy', retryable: true, code: 'BUSY' }]).outcome).toMatchObject({ kind: 'transient', code: 'BUSY' });
    expect(parse(custom, [{ type: 'result', is_error: true, result: '429 from provider' }]).outcome).toMatchObject({ kind: 'transient', code: 'RATE_LIMITED' });
  });

  it('no result line: UNKNOWN_OUTPUT_FORMAT on exit 0, TOOL_CRASHED otherwise', () => {
    expect(parse(custom, ['all good']).outcome).toMatchObject({ code: 'UNKNOWN_OUTPUT_FORMAT', message: expect.stringContaining('tool custom') });
    expect(parse(custom, ['all good'], { exitCode: 2 }).outcome).toMatchObject({ kind: 'transient', code: 'TOOL_CRASHED' });
  });

  it('fills placeholders anywhere in an element and refuses unknown ones', () => {
    const command = custom.command({ task: { prompt: 'P', stage: 'coding', mode: 'edit' }, bin: '/bin/my-agent', workspace: '/w', promptFile: '/t/p.md', scratchDir: '/t' });
    expect(command).toEqual({ argv: ['/bin/my-agent', '--prompt=/t/p.md', '--cwd', '/w', 'coding/edit'] });
    expect(() => createCustomProfile({ argv: ['x', '{prompt}'] })).toThrow('unknown placeholder {prompt}');
  });
});

describe('error classification', () => {
  it.each([
    ['ECONNRESET while reading', 'NETWORK'],
    ['TypeError: fetch failed', 'NETWORK'],
    ['connect ETIMEDOUT 1.2.3.4:443', 'NETWORK'],
    ['Overloaded', 'OVERLOADED'],
    ['HTTP 503 Service Unavailable', 'OVERLOADED'],
    ['API Error: 500 Internal server error', 'SERVER_ERROR'],
    ["You've hit your usage limit. Try again in 4 minutes", 'RATE_LIMITED'],
    ['Invalid API key', 'AUTH_FAILED'],
    ['prompt is too long: 210000 tokens > 200000 maximum', 'CONTEXT_WINDOW_EXCEEDED'],
  ])('%s → %s', (text, code) => {
    expect(classifyErrorText(text)?.code).toBe(code);
  });

  it('statuses and retry delays', () => {
    expect(classifyHttpStatus(529)).toEqual({ kind: 'transient', code: 'OVERLOADED' });
    expect(classifyHttpStatus(502)).toEqual({ kind: 'transient', code: 'SERVER_ERROR' });
    expect(classifyHttpStatus(403)).toEqual({ kind: 'permanent', code: 'AUTH_FAILED' });
    expect(classifyHttpStatus(400)).toBeNull();
    expect(classifyErrorText('the tests pass')).toBeNull();
    expect(retryAfterFromText('Try again in 4 minutes')).toBe(240_000);
    expect(retryAfterFromText('retry after 1.5s')).toBe(1500);
    expect(retryAfterFromText('no delay named')).toBeNull();
  });
});
