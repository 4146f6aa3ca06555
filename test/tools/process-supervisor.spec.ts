/**
 * ProcessSupervisor with real subprocesses (the fake CLI): termination of the whole tree on abort,
 * wall timeout and idle timeout, leftovers after a normal exit, start errors, environment and
 * redaction, line caps, stdin.
 */
import { chmodSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { ENV_ALLOWLIST, PROCESS_MARKER_VAR } from '../../src/tools/child-env';
import { DISPLAY_LINE_CAP } from '../../src/tools/output-lines';
import { findProcessesByMarker, isProcessAlive } from '../../src/tools/process-table';
import { ProcessSupervisor } from '../../src/tools/process-supervisor';
import { type Termination, type ToolLine, ToolStartError } from '../../src/tools/tool.port';
import { FAKE_AGENT, readPids, scriptedPrompt, TestGuard, waitFor } from './support/tool-test-kit';

const GRACE_MS = 600;
/** Grace for the tree-kill tests: long enough to observe the tree still alive halfway through it on a loaded box. */
const TREE_GRACE_MS = 1000;
const guard = new TestGuard();
afterEach(() => guard.cleanup());

/** argv running the fake agent as a `custom` CLI with the script in a prompt file. */
function fakeArgv(dir: string, script: Record<string, unknown>): string[] {
  const promptFile = join(dir, 'prompt.md');
  writeFileSync(promptFile, scriptedPrompt(script));
  return [FAKE_AGENT, '--custom', '--prompt-file', promptFile];
}

describe('ProcessSupervisor: no process survives a run', () => {
  const supervisor = new ProcessSupervisor({ killGraceMs: TREE_GRACE_MS });

  it.each<Termination>(['aborted', 'timeout', 'idle-timeout'])(
    '%s: SIGTERM to the whole tree, SIGKILL after the grace; grandchild and setsid escapee gone',
    async (why) => {
      const dir = guard.tempDir();
      const pidFile = join(dir, 'pids.json');
      const script = {
        ignoreSigterm: true,
        grandchild: { ignoreSigterm: true },
        escapee: { ignoreSigterm: true },
        pidFile,
        ...(why === 'idle-timeout' ? { silentMs: 60_000 } : { heartbeat: { everyMs: 100, forMs: 60_000 } }),
      };
      const controller = new AbortController();
      const lines: ToolLine[] = [];
      const running = supervisor.run('fake', {
        argv: fakeArgv(dir, script),
        cwd: dir,
        signal: controller.signal,
        timeoutMs: why === 'timeout' ? 800 : undefined,
        idleTimeoutMs: why === 'idle-timeout' ? 500 : undefined,
        onLine: (l) => lines.push(l),
        onSpawn: guard.track,
      });
      const pids = await readPids(pidFile);
      const all = [pids.pid, pids.grandchild!, pids.escapee!];
      expect(all.every(isProcessAlive)).toBe(true);
      if (why === 'aborted') {
        await waitFor(() => lines.some((l) => l.text.includes('working')), 5000, 'a heartbeat');
        controller.abort();
      }

      const sigterm = await waitFor(() => lines.find((l) => l.text.includes('SIGTERM ignored')), 5000, 'SIGTERM to reach the agent');
      // Halfway through the grace everything still runs: SIGTERM alone did not kill it.
      await waitFor(() => Date.now() >= sigterm.at + TREE_GRACE_MS / 2, TREE_GRACE_MS, 'half the grace');
      expect(all.every(isProcessAlive)).toBe(true);

      const run = await running;
      expect(run.termination).toBe(why);
      expect(run.signal).toBe('SIGKILL');
      // SIGKILL went out killGraceMs after SIGTERM (the agent logs SIGTERM a little after it was sent).
      const endedAt = run.process!.startedAt.getTime() + run.durationMs;
      expect(endedAt - sigterm.at).toBeGreaterThanOrEqual(TREE_GRACE_MS - 250);
      expect(endedAt - sigterm.at).toBeLessThan(TREE_GRACE_MS + 3000);

      expect(await findProcessesByMarker(run.process!.marker)).toEqual([]);
      expect(all.filter(isProcessAlive)).toEqual([]);
    },
  );

  it('after a normal exit, reaps the grandchild holding stdout and the setsid escapee', async () => {
    const dir = guard.tempDir();
    const pidFile = join(dir, 'pids.json');
    const run = await supervisor.run('fake', {
      argv: fakeArgv(dir, { grandchild: true, escapee: true, pidFile, message: 'ok' }),
      cwd: dir,
      onSpawn: guard.track,
    });
    const pids = await readPids(pidFile);
    expect(run.exitCode).toBe(0);
    expect(run.termination).toBeUndefined();
    expect(run.leftovers).toEqual({ found: 2, killed: 2, remaining: 0 });
    expect(run.durationMs).toBeLessThan(TREE_GRACE_MS + 4000);
    expect(run.stdoutTail).toContain('"type":"result"');
    expect(await findProcessesByMarker(run.process!.marker)).toEqual([]);
    expect([pids.pid, pids.grandchild!, pids.escapee!].filter(isProcessAlive)).toEqual([]);
  });

  it('hands onSpawn the pid, its process group, the marker and the host', async () => {
    const dir = guard.tempDir();
    const infos: Parameters<NonNullable<Parameters<ProcessSupervisor['run']>[1]['onSpawn']>>[0][] = [];
    const run = await supervisor.run('fake', {
      argv: ['sh', '-c', `echo "$${PROCESS_MARKER_VAR}"; cut -d' ' -f5 /proc/$$/stat`],
      cwd: dir,
      onSpawn: (i) => {
        guard.track(i);
        infos.push(i);
      },
    });
    expect(infos).toHaveLength(1);
    const [info] = infos;
    expect(info.pid).toBe(run.process!.pid);
    expect(info.pgid).toBe(info.pid);
    expect(info.marker).toMatch(/^aicd-[0-9a-f-]{36}$/);
    expect(info.host).toBe(require('node:os').hostname());
    const [markerLine, pgidLine] = run.stdoutTail.trim().split('\n');
    expect(markerLine).toBe(info.marker);
    expect(Number(pgidLine.trim())).toBe(info.pid);
  });
});

describe('ProcessSupervisor: start errors', () => {
  const supervisor = new ProcessSupervisor({ killGraceMs: GRACE_MS });

  it('a missing binary throws ToolStartError TOOL_NOT_FOUND naming it', async () => {
    const dir = guard.tempDir();
    const error = await supervisor.run('claude', { argv: ['/nonexistent/bin/claude', '-p'], cwd: dir }).catch((e: unknown) => e);
    expect(error).toBeInstanceOf(ToolStartError);
    expect(error).toMatchObject({ tool: 'claude', code: 'TOOL_NOT_FOUND' });
    expect((error as Error).message).toContain('/nonexistent/bin/claude');
  });

  it('a binary without the execute bit throws ToolStartError TOOL_NOT_EXECUTABLE', async () => {
    const dir = guard.tempDir();
    const bin = join(dir, 'not-executable');
    writeFileSync(bin, '#!/bin/sh\necho hi\n');
    chmodSync(bin, 0o644);
    await expect(supervisor.run('aider', { argv: [bin], cwd: dir })).rejects.toMatchObject({ code: 'TOOL_NOT_EXECUTABLE', tool: 'aider' });
  });

  it('a missing working directory throws TOOL_CWD_NOT_FOUND; an aborted signal starts nothing', async () => {
    await expect(supervisor.run('shell', { argv: ['true'], cwd: '/nonexistent/workspace' })).rejects.toMatchObject({ code: 'TOOL_CWD_NOT_FOUND' });
    const spawned: unknown[] = [];
    const run = await supervisor.run('shell', { argv: ['true'], cwd: guard.tempDir(), signal: AbortSignal.abort(), onSpawn: (i) => spawned.push(i) });
    expect(run).toMatchObject({ termination: 'aborted', process: null, exitCode: null });
    expect(spawned).toEqual([]);
  });
});

describe('ProcessSupervisor: environment, redaction, lines, stdin', () => {
  it('the child gets the allowlist, TERM=dumb, request.env and the marker — no other worker secret', async () => {
    const dir = guard.tempDir();
    const envFile = join(dir, 'env.json');
    const workerEnv: NodeJS.ProcessEnv = { ...process.env, DATABASE_PASSWORD: 'db-pass-9f8e7d', OPENAI_API_KEY: 'sk-not-for-this-tool', TERM: 'xterm-256color' };
    const supervisor = new ProcessSupervisor({ killGraceMs: GRACE_MS, workerEnv });
    const run = await supervisor.run('fake', {
      argv: fakeArgv(dir, { dumpEnv: envFile }),
      cwd: dir,
      env: { ANTHROPIC_API_KEY: 'sk-ant-needed-123' },
      onSpawn: guard.track,
    });
    expect(run.exitCode).toBe(0);
    const env = JSON.parse(readFileSync(envFile, 'utf8')) as Record<string, string>;
    const expected = [...ENV_ALLOWLIST.filter((n) => workerEnv[n] !== undefined), 'TERM', 'ANTHROPIC_API_KEY', PROCESS_MARKER_VAR];
    expect(Object.keys(env).sort()).toEqual(expected.sort());
    expect(env.TERM).toBe('dumb');
    expect(env.ANTHROPIC_API_KEY).toBe('sk-ant-needed-123');
    expect(env[PROCESS_MARKER_VAR]).toBe(run.process!.marker);
    expect(JSON.stringify(env)).not.toContain('db-pass-9f8e7d');
    expect(JSON.stringify(env)).not.toContain('sk-not-for-this-tool');
  });

  it('redacts request.redact values and secret-named env values from lines and tails, nothing else', async () => {
    const dir = guard.tempDir();
    const supervisor = new ProcessSupervisor({ killGraceMs: GRACE_MS });
    const lines: ToolLine[] = [];
    const printed = 'token=tok-abcdef123 pass=p4ssw0rd-xyz plain=visible-value';
    const run = await supervisor.run('shell', {
      argv: ['sh', '-c', `echo "${printed}"; echo "${printed}" >&2`],
      cwd: dir,
      env: { API_TOKEN: 'tok-abcdef123', PLAIN_SETTING: 'visible-value' },
      redact: ['p4ssw0rd-xyz'],
      onLine: (l) => lines.push(l),
      onSpawn: guard.track,
    });
    const expected = 'token=[redacted] pass=[redacted] plain=visible-value';
    expect(lines.map((l) => [l.stream, l.text])).toEqual(
      expect.arrayContaining([
        ['stdout', expected],
        ['stderr', expected],
      ]),
    );
    expect(run.stdoutTail).toBe(`${expected}\n`);
    expect(run.stderrTail).toBe(`${expected}\n`);
  });

  it('cuts a very long line at 16 KiB (truncated: true) and keeps tails at 8 KiB', async () => {
    const dir = guard.tempDir();
    const supervisor = new ProcessSupervisor({ killGraceMs: GRACE_MS });
    const lines: ToolLine[] = [];
    const run = await supervisor.run('fake', { argv: fakeArgv(dir, { longLine: 100_000 }), cwd: dir, onLine: (l) => lines.push(l), onSpawn: guard.track });
    const long = lines.find((l) => l.stream === 'stderr' && l.text.startsWith('xxx'));
    expect(long).toMatchObject({ truncated: true });
    expect(long!.text).toHaveLength(DISPLAY_LINE_CAP);
    expect(Buffer.byteLength(run.stderrTail)).toBeLessThanOrEqual(8 * 1024);
    expect(lines.filter((l) => l.stream === 'stderr' && l.text.startsWith('x'))).toHaveLength(1);
  });

  it('writes request.stdin and closes it; without it stdin is closed at once', async () => {
    const dir = guard.tempDir();
    const supervisor = new ProcessSupervisor({ killGraceMs: GRACE_MS });
    const fed = await supervisor.run('shell', { argv: ['sh', '-c', 'cat; echo "<eof>"'], cwd: dir, stdin: 'hello\nworld\n', timeoutMs: 5000, onSpawn: guard.track });
    expect(fed.stdoutTail).toBe('hello\nworld\n<eof>\n');
    const closed = await supervisor.run('shell', { argv: ['sh', '-c', 'cat; echo "<eof>"'], cwd: dir, timeoutMs: 5000, onSpawn: guard.track });
    expect(closed.termination).toBeUndefined();
    expect(closed.stdoutTail).toBe('<eof>\n');
  });

  it('a throwing onLine hook ends the run, the tree is killed, and the error is rethrown', async () => {
    const dir = guard.tempDir();
    const pidFile = join(dir, 'pids.json');
    const supervisor = new ProcessSupervisor({ killGraceMs: GRACE_MS });
    let marker = '';
    const failure = await supervisor
      .run('fake', {
        argv: fakeArgv(dir, { grandchild: true, pidFile, heartbeat: { everyMs: 50, forMs: 30_000 } }),
        cwd: dir,
        onSpawn: (i) => {
          guard.track(i);
          marker = i.marker;
        },
        onLine: (l) => {
          if (l.text.includes('working')) throw new Error('log sink is down');
        },
      })
      .catch((e: unknown) => e);
    expect(failure).toEqual(new Error('log sink is down'));
    const pids = await readPids(pidFile);
    expect([pids.pid, pids.grandchild!].filter(isProcessAlive)).toEqual([]);
    expect(await findProcessesByMarker(marker)).toEqual([]);
  });
});
