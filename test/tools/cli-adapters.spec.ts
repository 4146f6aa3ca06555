/**
 * Every CLI adapter end to end against the fake CLI (a real subprocess impersonating claude,
 * codex, gemini, aider and a custom tool): prompt transport, edits in the workspace, outcomes,
 * usage, environment, start errors, cancellation.
 */
import { existsSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { pickEnv } from '../../src/tools/child-env';
import { CLAUDE_ENV } from '../../src/tools/cli/claude.profile';
import { CliToolAdapter } from '../../src/tools/cli/cli-tool.adapter';
import { createCustomProfile } from '../../src/tools/cli/custom.profile';
import { CLI_PROFILES } from '../../src/tools/cli/profiles';
import { ProcessSupervisor } from '../../src/tools/process-supervisor';
import type { CliTask, ToolRequest, ToolResult } from '../../src/tools/tool.port';
import { FAKE_AGENT, scriptedPrompt, TestGuard } from './support/tool-test-kit';

const guard = new TestGuard();
afterEach(() => guard.cleanup());

const supervisor = new ProcessSupervisor({ killGraceMs: 500 });
const adapters: Record<string, CliToolAdapter> = {
  claude: new CliToolAdapter(CLI_PROFILES.claude, supervisor, { bin: FAKE_AGENT }),
  codex: new CliToolAdapter(CLI_PROFILES.codex, supervisor, { bin: FAKE_AGENT }),
  gemini: new CliToolAdapter(CLI_PROFILES.gemini, supervisor, { bin: FAKE_AGENT }),
  aider: new CliToolAdapter(CLI_PROFILES.aider, supervisor, { bin: FAKE_AGENT }),
  custom: new CliToolAdapter(
    createCustomProfile({ argv: [FAKE_AGENT, '--custom', '--prompt-file', '{promptFile}', '--stage', '{stage}', '--mode', '{mode}'] }),
    supervisor,
  ),
};
const TOOLS = Object.keys(adapters);
/** Which tools report USD (the others report tokens only). */
const REPORTS_COST: Record<string, boolean> = { claude: true, codex: false, gemini: false, aider: true, custom: true };

function run(tool: string, task: Partial<CliTask> & { prompt: string }, extra: Partial<ToolRequest> = {}): Promise<ToolResult> {
  const cwd = extra.cwd ?? guard.workspace();
  return adapters[tool].run({ cwd, task: { stage: 'coding', mode: 'edit', ...task }, timeoutMs: 20_000, onSpawn: guard.track, ...extra });
}

describe.each(TOOLS)('%s adapter with the fake CLI', (tool) => {
  it('success: edits the workspace, returns the final message and usage; the prompt never rides in argv', async () => {
    const cwd = guard.workspace({ 'calc.go': 'package calc\n\nfunc Answer() int { return 41 }\n' });
    const record = join(guard.tempDir(), 'record.json');
    const prompt = scriptedPrompt(
      { edits: [{ path: 'calc.go', replace: 'return 41', with: 'return 42' }], message: 'Answer fixed', usage: { input: 2100, output: 123, costUsd: 0.03 }, recordTo: record },
      `Issue #7: Answer() is off by one. ${'Context. '.repeat(2000)}`,
    );
    const result = await run(tool, { prompt }, { cwd });

    expect(result.outcome).toEqual({ kind: 'success', message: 'Answer fixed' });
    expect(readFileSync(join(cwd, 'calc.go'), 'utf8')).toContain('return 42');
    expect(result.usage).toEqual({ inputTokens: 2100, outputTokens: 123, ...(REPORTS_COST[tool] ? { costUsd: 0.03 } : {}) });
    expect(result.exitCode).toBe(0);
    const seen = JSON.parse(readFileSync(record, 'utf8')) as { as: string; argv: string[]; prompt: string; cwd: string };
    expect(seen.as).toBe(tool);
    expect(seen.prompt).toContain(prompt);
    expect(seen.argv.join(' ')).not.toContain('off by one');
    expect(seen.cwd).toBe(cwd);
  });

  it('the script follows the review round: a variant chosen by a substring of the prompt', async () => {
    const cwd = guard.workspace({ 'calc.go': 'return 41' });
    const script = { edits: [{ path: 'calc.go', replace: '41', with: '42' }], variants: [{ when: 'FAIL:', edits: [{ path: 'calc.go', replace: '41', with: '43' }], message: 'second round' }] };
    const result = await run(tool, { prompt: scriptedPrompt(script, 'Review feedback:\nFAIL: wrong constant') }, { cwd });
    expect(result.outcome).toEqual({ kind: 'success', message: 'second round' });
    expect(readFileSync(join(cwd, 'calc.go'), 'utf8')).toBe('return 43');
  });

  it('exit 0 with an error result is not a success', async () => {
    const result = await run(tool, { prompt: scriptedPrompt({ outcome: 'is_error' }) });
    expect(result.exitCode).toBe(0);
    expect(result.outcome.kind).toBe('permanent');
    expect(result.outcome).toHaveProperty('code', 'TOOL_ERROR');
  });

  it('a rate limit is transient RATE_LIMITED', async () => {
    const result = await run(tool, { prompt: scriptedPrompt({ outcome: 'rate_limit' }) });
    expect(result.outcome).toMatchObject({ kind: 'transient', code: 'RATE_LIMITED' });
  });

  it('a crash (exit 1, no result) is transient TOOL_CRASHED', async () => {
    const result = await run(tool, { prompt: scriptedPrompt({ outcome: 'crash' }) });
    expect(result.exitCode).toBe(1);
    expect(result.outcome).toMatchObject({ kind: 'transient', code: 'TOOL_CRASHED' });
    expect(result.outcome).toHaveProperty('message', expect.stringContaining('something broke'));
  });

  it('an unknown output format is UNKNOWN_OUTPUT_FORMAT naming the tool', async () => {
    const result = await run(tool, { prompt: scriptedPrompt({ outcome: 'unknown_format' }) });
    expect(result.outcome).toMatchObject({ kind: 'permanent', code: 'UNKNOWN_OUTPUT_FORMAT' });
    expect(result.outcome).toHaveProperty('message', expect.stringContaining(`tool ${tool}`));
  });
});

describe('CLI adapter plumbing', () => {
  it('passes exactly the profile’s variables: the needed key arrives (redacted in output), other secrets do not', async () => {
    const envFile = join(guard.tempDir(), 'env.json');
    const workerEnv = { ANTHROPIC_API_KEY: 'sk-ant-fake-777', OPENAI_API_KEY: 'sk-openai-not-for-claude', MONGODB_URI: 'mongodb://user:pw@db' };
    const result = await run('claude', { prompt: scriptedPrompt({ dumpEnv: envFile, message: 'key is sk-ant-fake-777' }) }, { env: pickEnv(CLAUDE_ENV, workerEnv) });
    const env = JSON.parse(readFileSync(envFile, 'utf8')) as Record<string, string>;
    expect(env.ANTHROPIC_API_KEY).toBe('sk-ant-fake-777');
    expect(env.OPENAI_API_KEY).toBeUndefined();
    expect(env.MONGODB_URI).toBeUndefined();
    expect(result.outcome).toEqual({ kind: 'success', message: 'key is [redacted]' });
    expect(result.stdoutTail).not.toContain('sk-ant-fake-777');
  });

  it('the aider prompt file lives outside the workspace and is removed after the run', async () => {
    const record = join(guard.tempDir(), 'record.json');
    const cwd = guard.workspace();
    await run('aider', { prompt: scriptedPrompt({ recordTo: record }) }, { cwd });
    const { argv } = JSON.parse(readFileSync(record, 'utf8')) as { argv: string[] };
    const promptFile = argv[argv.indexOf('--message-file') + 1];
    expect(promptFile.startsWith(cwd)).toBe(false);
    expect(existsSync(promptFile)).toBe(false);
  });

  it('a missing binary is a ToolStartError TOOL_NOT_FOUND; a request without task is TOOL_BAD_REQUEST', async () => {
    const missing = new CliToolAdapter(CLI_PROFILES.codex, supervisor, { bin: '/nonexistent/codex' });
    await expect(missing.run({ cwd: guard.workspace(), task: { prompt: 'x', stage: 's', mode: 'edit' } })).rejects.toMatchObject({
      code: 'TOOL_NOT_FOUND',
      tool: 'codex',
      message: expect.stringContaining('/nonexistent/codex'),
    });
    await expect(adapters.claude.run({ cwd: guard.workspace() })).rejects.toMatchObject({ code: 'TOOL_BAD_REQUEST' });
  });

  it('idle and cancel end a CLI run as TOOL_IDLE_TIMEOUT / ABORTED whatever it printed', async () => {
    const idle = await run('gemini', { prompt: scriptedPrompt({ silentMs: 30_000 }) }, { idleTimeoutMs: 400 });
    expect(idle.outcome).toMatchObject({ kind: 'transient', code: 'TOOL_IDLE_TIMEOUT' });
    const controller = new AbortController();
    const cancelled = await run(
      'codex',
      { prompt: scriptedPrompt({ heartbeat: { everyMs: 50, forMs: 30_000 } }) },
      { signal: controller.signal, onLine: () => controller.abort() },
    );
    expect(cancelled.outcome).toMatchObject({ kind: 'permanent', code: 'ABORTED' });
  });
});
