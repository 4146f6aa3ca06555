/** The `shell` and `function` adapters: outcome rules, limits, redaction. */
import { FunctionToolAdapter } from '../../src/tools/function.adapter';
import { ProcessSupervisor } from '../../src/tools/process-supervisor';
import { ShellToolAdapter, shellCommand } from '../../src/tools/shell.adapter';
import type { ToolLine } from '../../src/tools/tool.port';
import { TestGuard } from './support/tool-test-kit';

const guard = new TestGuard();
afterEach(() => guard.cleanup());

describe('shell adapter', () => {
  const shell = new ShellToolAdapter(new ProcessSupervisor({ killGraceMs: 300 }));
  const run = (command: string, extra: Partial<Parameters<ShellToolAdapter['run']>[0]> = {}) =>
    shell.run({ argv: shellCommand(command), cwd: guard.tempDir(), onSpawn: guard.track, ...extra });

  it('exit 0 is success with the stdout tail as message', async () => {
    const result = await run('echo hello; echo world');
    expect(result).toMatchObject({ tool: 'shell', exitCode: 0, signal: null, usage: null, outcome: { kind: 'success', message: 'hello\nworld\n' } });
    expect(result.pid).toEqual(expect.any(Number));
  });

  it('a non-zero exit is a permanent EXIT_<code> (a failing check) quoting stderr', async () => {
    const result = await run('echo "3 tests failed" >&2; exit 3');
    expect(result.outcome).toEqual({ kind: 'permanent', code: 'EXIT_3', message: 'tool shell exited with code 3: 3 tests failed' });
  });

  it('our wall timeout is a transient TOOL_TIMEOUT, our idle timeout a transient TOOL_IDLE_TIMEOUT', async () => {
    const timedOut = await run('while true; do echo tick; sleep 0.05; done', { timeoutMs: 300 });
    expect(timedOut.outcome).toMatchObject({ kind: 'transient', code: 'TOOL_TIMEOUT' });
    expect(timedOut.termination).toBe('timeout');
    const idle = await run('echo start; sleep 30', { idleTimeoutMs: 300 });
    expect(idle.outcome).toMatchObject({ kind: 'transient', code: 'TOOL_IDLE_TIMEOUT' });
    expect(idle.signal).toBe('SIGTERM');
  });

  it('a cancelled run is a permanent ABORTED', async () => {
    const controller = new AbortController();
    const lines: ToolLine[] = [];
    const pending = run('echo started; sleep 30', { signal: controller.signal, onLine: (l) => (lines.push(l), controller.abort()) });
    const result = await pending;
    expect(lines[0].text).toBe('started');
    expect(result.outcome).toMatchObject({ kind: 'permanent', code: 'ABORTED' });
    expect(result.termination).toBe('aborted');
  });

  it('death by a signal we did not send is a transient TOOL_CRASHED', async () => {
    const result = await run('kill -KILL $$');
    expect(result.signal).toBe('SIGKILL');
    expect(result.termination).toBeUndefined();
    expect(result.outcome).toMatchObject({ kind: 'transient', code: 'TOOL_CRASHED' });
  });
});

describe('function adapter', () => {
  const fnTool = new FunctionToolAdapter();
  const cwd = '/';

  it('a resolved value is success with `value`; log lines are redacted and streamed', async () => {
    const lines: ToolLine[] = [];
    const result = await fnTool.run({
      cwd,
      env: { SERVICE_TOKEN: 'tok-zyx987' },
      onLine: (l) => lines.push(l),
      fn: async (ctx) => {
        ctx.log(`using ${ctx.env.SERVICE_TOKEN} in ${ctx.cwd}`);
        return { answer: 42 };
      },
    });
    expect(result).toMatchObject({ tool: 'function', pid: null, exitCode: null, value: { answer: 42 }, outcome: { kind: 'success' } });
    expect(lines.map((l) => l.text)).toEqual(['using [redacted] in /']);
    expect(result.stdoutTail).toBe('using [redacted] in /\n');
  });

  it('a throw is a permanent FUNCTION_FAILED, or transient when the error says retryable', async () => {
    const failed = await fnTool.run({ cwd, fn: async () => Promise.reject(new Error('bad input')) });
    expect(failed.outcome).toEqual({ kind: 'permanent', code: 'FUNCTION_FAILED', message: 'tool function failed: bad input' });
    const flaky = await fnTool.run({ cwd, fn: async () => Promise.reject(Object.assign(new Error('503 upstream'), { retryable: true })) });
    expect(flaky.outcome).toMatchObject({ kind: 'transient', code: 'FUNCTION_FAILED' });
  });

  it('the wall timeout aborts ctx.signal and ends the run even if the function ignores it', async () => {
    let sawAbort: unknown;
    const result = await fnTool.run({
      cwd,
      timeoutMs: 150,
      fn: (ctx) =>
        new Promise(() => {
          ctx.signal.addEventListener('abort', () => (sawAbort = ctx.signal.reason));
        }),
    });
    expect(result.outcome).toMatchObject({ kind: 'transient', code: 'TOOL_TIMEOUT' });
    expect(sawAbort).toBe('timeout');
  });

  it('idle = no log() for idleTimeoutMs; logging keeps it alive past the idle limit', async () => {
    const quiet = await fnTool.run({ cwd, idleTimeoutMs: 150, fn: (ctx) => new Promise((resolve) => ctx.signal.addEventListener('abort', resolve)) });
    expect(quiet.outcome).toMatchObject({ kind: 'transient', code: 'TOOL_IDLE_TIMEOUT' });
    const chatty = await fnTool.run({
      cwd,
      idleTimeoutMs: 1000,
      fn: async (ctx) => {
        for (let i = 0; i < 12; i++) {
          ctx.log(`step ${i}`);
          await new Promise((resolve) => setTimeout(resolve, 150));
        }
        return 'done';
      },
    });
    expect(chatty.outcome.kind).toBe('success');
    expect(chatty.value).toBe('done');
  });

  it('abort is a permanent ABORTED; a missing fn is a ToolStartError', async () => {
    const controller = new AbortController();
    const pending = fnTool.run({ cwd, signal: controller.signal, fn: () => new Promise(() => undefined) });
    controller.abort();
    expect((await pending).outcome).toMatchObject({ kind: 'permanent', code: 'ABORTED' });
    await expect(fnTool.run({ cwd })).rejects.toMatchObject({ code: 'TOOL_BAD_REQUEST' });
  });
});
