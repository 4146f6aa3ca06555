/**
 * Helpers for the tool tests: the fake CLI, throw-away workspaces, polling with a hard timeout,
 * and a guard that kills every process tree a test started, on every exit path.
 */
import { existsSync, mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { reapProcesses, type ReapTarget } from '../../../src/tools/process-reaper';
import type { ProcessInfo } from '../../../src/tools/tool.port';

/** The fake coding-agent CLI (test/fixtures/fake-cli/fake-agent.js). */
export const FAKE_AGENT = join(__dirname, '..', '..', 'fixtures', 'fake-cli', 'fake-agent.js');

/** A prompt carrying a fake-agent script in a fenced block. */
export function scriptedPrompt(script: Record<string, unknown>, text = 'Fix the failing test.'): string {
  return `${text}\n\n\`\`\`fake-agent\n${JSON.stringify(script)}\n\`\`\`\n`;
}

/** Polls `predicate` every 20 ms until it is truthy; rejects after `timeoutMs`. */
export async function waitFor<T>(predicate: () => T | Promise<T>, timeoutMs = 5000, what = 'condition'): Promise<NonNullable<T>> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const value = await predicate();
    if (value) return value as NonNullable<T>;
    if (Date.now() > deadline) throw new Error(`timed out after ${timeoutMs} ms waiting for ${what}`);
    await new Promise((resolve) => setTimeout(resolve, 20));
  }
}

/** pids the fake agent wrote to its pidFile. */
export interface FakePids {
  pid: number;
  grandchild: number | null;
  escapee: number | null;
}

/** Waits for the fake agent's pidFile and reads it. */
export async function readPids(pidFile: string, timeoutMs = 5000): Promise<FakePids> {
  await waitFor(() => existsSync(pidFile), timeoutMs, `pid file ${pidFile}`);
  return waitFor(() => {
    try {
      return JSON.parse(readFileSync(pidFile, 'utf8')) as FakePids;
    } catch {
      return null; // being written
    }
  }, timeoutMs, `a complete pid file ${pidFile}`);
}

/**
 * Tracks what tests spawn (process trees by marker/pgid, temp dirs) and kills/removes all of it.
 * Call `cleanup()` in afterEach; `track` is an `onSpawn` hook.
 */
export class TestGuard {
  private readonly trees: ReapTarget[] = [];
  private readonly pids = new Set<number>();
  private readonly dirs: string[] = [];

  readonly track = (info: ProcessInfo): void => {
    this.trees.push({ marker: info.marker, pgid: info.pgid });
  };

  trackTree(target: ReapTarget): void {
    this.trees.push(target);
  }

  /** A pid to SIGKILL at cleanup (only for processes without a marker, e.g. a stand-in for a reused pid). */
  trackPid(pid: number | undefined): void {
    if (pid) this.pids.add(pid);
  }

  /** A fresh temp directory, removed at cleanup. */
  tempDir(prefix = 'aicd-tools-test-'): string {
    const dir = mkdtempSync(join(tmpdir(), prefix));
    this.dirs.push(dir);
    return dir;
  }

  /** A temp workspace with the given files. */
  workspace(files: Record<string, string> = {}): string {
    const dir = this.tempDir('aicd-ws-');
    for (const [name, content] of Object.entries(files)) writeFileSync(join(dir, name), content);
    return dir;
  }

  async cleanup(): Promise<void> {
    const trees = this.trees.splice(0);
    await Promise.all(trees.map((t) => reapProcesses(t, 0).catch(() => undefined)));
    // Belt and braces, independent of the code under test: SIGKILL whatever still carries a marker.
    for (const pid of processesCarrying(trees.map((t) => t.marker))) this.pids.add(pid);
    for (const pid of this.pids) {
      try {
        process.kill(pid, 'SIGKILL');
      } catch {
        // already gone
      }
    }
    this.pids.clear();
    for (const dir of this.dirs.splice(0)) rmSync(dir, { recursive: true, force: true });
  }
}

/** pids whose /proc/<pid>/environ holds one of the markers (Linux; a plain scan, not the code under test). */
function processesCarrying(markers: string[]): number[] {
  if (markers.length === 0 || !existsSync('/proc/self/environ')) return [];
  const wanted = new Set(markers.map((m) => `AICD_PROCESS_MARKER=${m}`));
  const found: number[] = [];
  for (const name of readdirSync('/proc')) {
    if (!/^\d+$/.test(name) || Number(name) === process.pid) continue;
    try {
      if (readFileSync(`/proc/${name}/environ`, 'utf8').split('\0').some((v) => wanted.has(v))) found.push(Number(name));
    } catch {
      // gone or unreadable
    }
  }
  return found;
}
