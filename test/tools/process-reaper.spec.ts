/**
 * reapProcesses: killing the orphaned tree of a worker that died (kill -9) from its recorded
 * marker and pgid, without ever killing a stranger that got a recorded pid.
 */
import { spawn } from 'node:child_process';
import { existsSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { newProcessMarker, PROCESS_MARKER_VAR } from '../../src/tools/child-env';
import { reapProcesses } from '../../src/tools/process-reaper';
import { findProcessesByMarker, isProcessAlive } from '../../src/tools/process-table';
import { FAKE_AGENT, readPids, scriptedPrompt, TestGuard, waitFor } from './support/tool-test-kit';

const guard = new TestGuard();
afterEach(() => guard.cleanup());

/** Starts a detached process tree carrying `marker`, as a supervisor would, and forgets it (like a worker killed with -9). */
function leaveTreeBehind(argv: string[], marker: string, cwd: string): number {
  const child = spawn(argv[0], argv.slice(1), {
    cwd,
    detached: true,
    stdio: 'ignore',
    env: { PATH: process.env.PATH ?? '', [PROCESS_MARKER_VAR]: marker },
  });
  child.unref();
  guard.trackTree({ marker, pgid: child.pid! });
  return child.pid!;
}

describe('reapProcesses', () => {
  it('kills a forgotten tree — leader, grandchild, setsid escapee, all ignoring SIGTERM — by marker and pgid', async () => {
    const dir = guard.tempDir();
    const pidFile = join(dir, 'pids.json');
    const promptFile = join(dir, 'prompt.md');
    writeFileSync(
      promptFile,
      scriptedPrompt({ ignoreSigterm: true, grandchild: { ignoreSigterm: true }, escapee: { ignoreSigterm: true }, pidFile, heartbeat: { everyMs: 200, forMs: 60_000 } }),
    );
    const marker = newProcessMarker();
    const pgid = leaveTreeBehind([process.execPath, FAKE_AGENT, '--custom', '--prompt-file', promptFile], marker, dir);
    const pids = await readPids(pidFile);
    const tree = [pids.pid, pids.grandchild!, pids.escapee!];
    expect((await findProcessesByMarker(marker)).sort()).toEqual([...tree].sort());

    const started = Date.now();
    const report = await reapProcesses({ marker, pgid }, 300);
    expect(report).toEqual({ found: 3, killed: 3, remaining: 0 });
    expect(Date.now() - started).toBeGreaterThanOrEqual(250); // they ignored SIGTERM: SIGKILL after the grace
    expect(tree.filter(isProcessAlive)).toEqual([]);
    expect(await findProcessesByMarker(marker)).toEqual([]);
  });

  it('kills group members that dropped the marker (env -i) when the group is the run’s', async () => {
    const dir = guard.tempDir();
    const marker = newProcessMarker();
    const pidFile = join(dir, 'inner.pid');
    const pgid = leaveTreeBehind(['sh', '-c', `env -i sh -c 'echo $$ > ${pidFile}; exec sleep 60' & wait`], marker, dir);
    const inner = Number(await waitFor(() => existsSync(pidFile) && readFileSync(pidFile, 'utf8').trim(), 5000, 'inner pid'));
    expect(await findProcessesByMarker(marker)).not.toContain(inner);
    expect(isProcessAlive(inner)).toBe(true);

    const report = await reapProcesses({ marker, pgid }, 300);
    expect(report.found).toBe(2);
    expect(report.remaining).toBe(0);
    expect(isProcessAlive(inner)).toBe(false);
    expect(isProcessAlive(pgid)).toBe(false);
  });

  it('never kills a process that got a recorded pid/pgid but does not carry the marker', async () => {
    const stranger = spawn('sleep', ['60'], { detached: true, stdio: 'ignore' });
    stranger.unref();
    guard.trackPid(stranger.pid);
    await waitFor(() => isProcessAlive(stranger.pid!), 2000, 'the stranger to run');

    const report = await reapProcesses({ marker: newProcessMarker(), pgid: stranger.pid }, 100);
    expect(report).toEqual({ found: 0, killed: 0, remaining: 0 });
    expect(isProcessAlive(stranger.pid!)).toBe(true);
  });

  it('reports nothing for a tree that is already gone', async () => {
    expect(await reapProcesses({ marker: newProcessMarker(), pgid: 999_999 }, 100)).toEqual({ found: 0, killed: 0, remaining: 0 });
  });
});
