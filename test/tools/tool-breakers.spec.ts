/**
 * Per-tool circuit breakers over real adapter runs: missing binaries and crashes open a tool's
 * breaker, an open breaker fails fast without spawning, it half-opens after the delay, and
 * permanent outcomes (a failing check) never open it.
 */
import { CliToolAdapter } from '../../src/tools/cli/cli-tool.adapter';
import { createCustomProfile } from '../../src/tools/cli/custom.profile';
import { CLI_PROFILES } from '../../src/tools/cli/profiles';
import { ProcessSupervisor } from '../../src/tools/process-supervisor';
import { ShellToolAdapter, shellCommand } from '../../src/tools/shell.adapter';
import { type BreakerState, ToolBreakers } from '../../src/tools/tool-breakers';
import { ToolCircuitOpenError, type ToolResult, ToolStartError } from '../../src/tools/tool.port';
import { FAKE_AGENT, scriptedPrompt, TestGuard, waitFor } from './support/tool-test-kit';

const guard = new TestGuard();
afterEach(() => guard.cleanup());

const THRESHOLD = 3;
const HALF_OPEN_MS = 400;
const supervisor = new ProcessSupervisor({ killGraceMs: 300 });

/** Counts how often the breaker actually let a run through. */
function counted(run: () => Promise<ToolResult>) {
  const calls = { n: 0 };
  return { calls, fn: () => (calls.n++, run()) };
}

describe('ToolBreakers', () => {
  it('N consecutive missing-binary starts open the breaker; then TOOL_CIRCUIT_OPEN without spawning; half-open after the delay', async () => {
    const changes: [string, BreakerState][] = [];
    const breakers = new ToolBreakers({ threshold: THRESHOLD, halfOpenAfterMs: HALF_OPEN_MS, onStateChange: (t, s) => changes.push([t, s]) });
    const task = { prompt: scriptedPrompt({ message: 'back' }), stage: 'coding', mode: 'edit' as const };
    const missing = new CliToolAdapter(CLI_PROFILES.claude, supervisor, { bin: '/nonexistent/claude' });
    const spawned: unknown[] = [];
    const broken = counted(() => missing.run({ cwd: guard.workspace(), task, onSpawn: (i) => spawned.push(i) }));

    for (let i = 0; i < THRESHOLD; i++) {
      await expect(breakers.execute('claude', broken.fn)).rejects.toBeInstanceOf(ToolStartError);
    }
    expect(breakers.states()).toEqual({ claude: 'open' });

    const openError = await breakers.execute('claude', broken.fn).catch((e: unknown) => e);
    expect(openError).toBeInstanceOf(ToolCircuitOpenError);
    expect(openError).toMatchObject({ code: 'TOOL_CIRCUIT_OPEN', tool: 'claude' });
    expect((openError as ToolCircuitOpenError).retryAfterMs).toBeGreaterThan(0);
    expect((openError as ToolCircuitOpenError).retryAfterMs).toBeLessThanOrEqual(HALF_OPEN_MS);
    expect(broken.calls.n).toBe(THRESHOLD);
    expect(spawned).toEqual([]);

    // The binary is back: once the delay has passed, one test call goes through and closes the breaker.
    const fixed = new CliToolAdapter(CLI_PROFILES.claude, supervisor, { bin: FAKE_AGENT });
    const healthy = counted(() => fixed.run({ cwd: guard.workspace(), task, onSpawn: guard.track }));
    const result = await waitFor(
      () =>
        breakers.execute('claude', healthy.fn).catch((e: unknown) => {
          if (e instanceof ToolCircuitOpenError) return null;
          throw e;
        }),
      HALF_OPEN_MS + 3000,
      'the breaker to half-open',
    );
    expect(result.outcome).toEqual({ kind: 'success', message: 'back' });
    expect(healthy.calls.n).toBe(1);
    expect(breakers.states()).toEqual({ claude: 'closed' });
    expect(changes.map(([, s]) => s)).toEqual(['open', 'half-open', 'closed']);
  });

  it('N consecutive crashes (transient results) open it, the results still reach the caller; a failed test call reopens it', async () => {
    const breakers = new ToolBreakers({ threshold: THRESHOLD, halfOpenAfterMs: HALF_OPEN_MS });
    const crashing = new CliToolAdapter(createCustomProfile({ name: 'my-agent', argv: [FAKE_AGENT, '--custom', '--prompt-file', '{promptFile}'] }), supervisor);
    const task = { prompt: scriptedPrompt({ outcome: 'crash' }), stage: 'coding', mode: 'edit' as const };
    const runs = counted(() => crashing.run({ cwd: guard.workspace(), task, onSpawn: guard.track }));

    for (let i = 0; i < THRESHOLD; i++) {
      const result = await breakers.execute('my-agent', runs.fn);
      expect(result.outcome).toMatchObject({ kind: 'transient', code: 'TOOL_CRASHED' });
    }
    expect(breakers.states()['my-agent']).toBe('open');
    await expect(breakers.execute('my-agent', runs.fn)).rejects.toMatchObject({ code: 'TOOL_CIRCUIT_OPEN' });
    expect(runs.calls.n).toBe(THRESHOLD);

    const probe = await waitFor(
      () => breakers.execute('my-agent', runs.fn).catch((e: unknown) => (e instanceof ToolCircuitOpenError ? null : Promise.reject(e))),
      HALF_OPEN_MS + 3000,
      'the half-open test call',
    );
    expect(probe.outcome.kind).toBe('transient');
    expect(runs.calls.n).toBe(THRESHOLD + 1);
    expect(breakers.states()['my-agent']).toBe('open');
  });

  it('permanent outcomes (a failing check) never open it, and each tool has its own breaker', async () => {
    const breakers = new ToolBreakers({ threshold: THRESHOLD, halfOpenAfterMs: HALF_OPEN_MS });
    const shell = new ShellToolAdapter(supervisor);
    for (let i = 0; i < THRESHOLD * 2; i++) {
      const result = await breakers.execute('shell', () => shell.run({ argv: shellCommand('exit 3'), cwd: guard.workspace(), onSpawn: guard.track }));
      expect(result.outcome).toMatchObject({ kind: 'permanent', code: 'EXIT_3' });
    }
    const missing = new CliToolAdapter(CLI_PROFILES.gemini, supervisor, { bin: '/nonexistent/gemini' });
    for (let i = 0; i < THRESHOLD; i++) {
      await expect(
        breakers.execute('gemini', () => missing.run({ cwd: guard.workspace(), task: { prompt: 'x', stage: 's', mode: 'edit' } })),
      ).rejects.toBeInstanceOf(ToolStartError);
    }
    expect(breakers.states()).toEqual({ shell: 'closed', gemini: 'open' });
  });

  it('a caller error (bad request) is rethrown and not counted', async () => {
    const breakers = new ToolBreakers({ threshold: 1, halfOpenAfterMs: HALF_OPEN_MS });
    const codex = new CliToolAdapter(CLI_PROFILES.codex, supervisor);
    await expect(breakers.execute('codex', () => codex.run({ cwd: '/' }))).rejects.toMatchObject({ code: 'TOOL_BAD_REQUEST' });
    expect(breakers.states()).toEqual({ codex: 'closed' });
  });
});
