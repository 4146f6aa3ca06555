/**
 * Process management for the services: detached spawning, readiness polling, guarded stopping,
 * and a registry of what this invocation started (so an interrupted startup can undo it).
 */
import { spawn, type ChildProcess } from 'node:child_process';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { log, ROOT, sleep, StartupError, tail } from './util';

const STOP_TIMEOUT_MS = 5_000;

/** True if `pid` is a running (non-zombie) process. */
export function isAlive(pid: number): boolean {
  try {
    process.kill(pid, 0);
  } catch (err) {
    return (err as NodeJS.ErrnoException).code === 'EPERM';
  }
  try {
    // A killed-but-unreaped child still "exists" for kill(0); treat zombies as dead.
    const stat = fs.readFileSync(`/proc/${pid}/stat`, 'utf8');
    const stateChar = stat.slice(stat.lastIndexOf(')') + 2, stat.lastIndexOf(')') + 3);
    return stateChar !== 'Z' && stateChar !== 'X';
  } catch {
    return true; // no /proc (non-Linux): trust kill(0)
  }
}

/**
 * Guards against pid reuse: on Linux, checks that the process command line mentions `needle`.
 * Elsewhere (no /proc) it trusts the pid.
 */
export function pidLooksLike(pid: number, needle: string): boolean {
  try {
    const cmdline = fs.readFileSync(`/proc/${pid}/cmdline`, 'utf8').replace(/\0/g, ' ');
    return cmdline.includes(needle);
  } catch {
    return !fs.existsSync('/proc/self');
  }
}

/** Sends `signal` to the process group led by `pid` (services are spawned detached), else to pid. */
function signalTree(pid: number, signal: NodeJS.Signals): void {
  try {
    process.kill(-pid, signal);
  } catch {
    try {
      process.kill(pid, signal);
    } catch {
      /* already gone */
    }
  }
}

/** Stops a process we started: SIGTERM, wait up to 5 s, then SIGKILL. */
export async function stopPid(pid: number, name: string, needle: string): Promise<void> {
  if (!isAlive(pid)) return;
  if (!pidLooksLike(pid, needle)) {
    log(`pid ${pid} no longer looks like ${name}; not killing it`);
    return;
  }
  log(`stopping ${name} (pid ${pid})`);
  signalTree(pid, 'SIGTERM');
  const deadline = Date.now() + STOP_TIMEOUT_MS;
  while (Date.now() < deadline) {
    if (!isAlive(pid)) return;
    await sleep(100);
  }
  log(`${name} (pid ${pid}) ignored SIGTERM; sending SIGKILL`);
  signalTree(pid, 'SIGKILL');
  await sleep(200);
}

/** Undo actions for what this invocation started and has not handed over yet. */
const startedHere = new Set<() => Promise<void>>();

/**
 * Records how to stop something this invocation started; returns a function that forgets it
 * (call it once the thing is recorded in the state file or stopped).
 */
export function onInterrupt(stop: () => Promise<void>): () => void {
  startedHere.add(stop);
  return () => startedHere.delete(stop);
}

/** Stops everything registered with {@link onInterrupt} (used when startup is interrupted). */
export async function stopStartedHere(): Promise<void> {
  const stops = [...startedHere];
  startedHere.clear();
  for (const stop of stops) await stop().catch((e: Error) => log(`cleanup failed: ${e.message}`));
}

/** Forgets what {@link onInterrupt} recorded: it now belongs to the state file or the caller. */
export function handOverStartedHere(): void {
  startedHere.clear();
}

/**
 * Spawns a long-running service detached (own process group, so a terminal Ctrl-C aimed at a
 * wrapped command does not hit it), with stdout/stderr appended to `logFile`. Registers it with
 * {@link onInterrupt}.
 */
export function spawnDetached(cmd: string, args: string[], logFile: string, needle: string): ChildProcess {
  fs.mkdirSync(path.dirname(logFile), { recursive: true });
  const fd = fs.openSync(logFile, 'a');
  try {
    fs.writeSync(fd, `\n--- ${new Date().toISOString()} ${cmd} ${args.join(' ')}\n`);
    const child = spawn(cmd, args, { cwd: ROOT, detached: true, stdio: ['ignore', fd, fd], env: process.env });
    child.on('error', () => {
      /* reported via waitReady's exit watcher */
    });
    child.unref();
    const pid = child.pid;
    if (pid !== undefined) onInterrupt(() => stopPid(pid, path.basename(cmd), needle));
    return child;
  } finally {
    fs.closeSync(fd);
  }
}

/**
 * Polls `probe` until it returns true, the child exits, or `timeoutMs` elapses.
 * Throws a StartupError with the log tail on failure (and kills the child on a timeout).
 */
export async function waitReady(
  name: string,
  child: ChildProcess,
  probe: () => Promise<boolean>,
  timeoutMs: number,
  logFile: string,
): Promise<void> {
  let exited: string | undefined;
  const onExit = (code: number | null, signal: NodeJS.Signals | null): void => {
    exited = signal ? `signal ${signal}` : `code ${code}`;
  };
  const onError = (err: Error): void => {
    exited = `spawn error: ${err.message}`;
  };
  child.once('exit', onExit);
  child.once('error', onError);
  const deadline = Date.now() + timeoutMs;
  try {
    while (Date.now() < deadline) {
      if (exited) break;
      if (await probe()) return;
      await sleep(150);
    }
  } finally {
    child.off('exit', onExit);
    child.off('error', onError);
  }
  if (!exited && child.pid !== undefined) signalTree(child.pid, 'SIGKILL');
  const why = exited ? `exited early (${exited})` : `did not become ready within ${timeoutMs / 1000}s`;
  throw new StartupError(`${name} ${why}. Log ${logFile}:\n${tail(logFile)}`, exited !== undefined);
}
