/**
 * Reading the process table: which live processes belong to a process group, which carry a run's
 * marker. Linux only — it reads `/proc/<pid>/stat` (state, process group; proc(5)) and
 * `/proc/<pid>/environ` (the environment the process was started with). Elsewhere `/proc` is
 * absent: {@link procAvailable} is false, marker lookups find nothing, and only the process-group
 * signal (`kill(-pgid)`) is available.
 *
 * Zombies (state `Z`: exited, not yet reaped by their parent) count as gone: they run nothing and
 * cannot be killed, and orphaned ones are reaped by init whenever it gets to it.
 */
import { existsSync, readdirSync, readFileSync } from 'node:fs';
import { PROCESS_MARKER_VAR } from './child-env';

/** One live process as seen in /proc. */
export interface ProcessEntry {
  pid: number;
  /** Process group id. */
  pgid: number;
  /** One-letter state from /proc/<pid>/stat (`R`, `S`, `D`, `T`, …; never `Z` here). */
  state: string;
  /** True when its environment holds `AICD_PROCESS_MARKER=<marker>` for the marker asked about. */
  hasMarker: boolean;
}

/** True when this platform has a Linux-style /proc (marker search and zombie detection work). */
export function procAvailable(): boolean {
  return process.platform === 'linux' && existsSync('/proc/self/stat');
}

/** Parses /proc/<pid>/stat: the command name may hold spaces and parentheses, so fields start after the last `)`. */
function parseStat(text: string): { state: string; pgid: number; startTicks: number } | null {
  const close = text.lastIndexOf(')');
  if (close === -1) return null;
  const fields = text.slice(close + 2).split(' ');
  // fields[0] = state, fields[1] = ppid, fields[2] = pgrp, fields[19] = starttime in clock ticks
  // since boot (proc(5): fields 3, 4, 5 and 22).
  const pgid = Number(fields[2]);
  if (!fields[0] || !Number.isInteger(pgid)) return null;
  return { state: fields[0], pgid, startTicks: Number(fields[19]) };
}

/** When `pid` started, in clock ticks since boot (/proc/<pid>/stat field 22); null when unknown. */
export function processStartTicks(pid: number): number | null {
  if (!procAvailable()) return null;
  const t = readStat(pid)?.startTicks;
  return t !== undefined && Number.isFinite(t) ? t : null;
}

function readStat(pid: number): { state: string; pgid: number; startTicks: number } | null {
  try {
    return parseStat(readFileSync(`/proc/${pid}/stat`, 'utf8'));
  } catch {
    return null; // gone, or not ours to read
  }
}

function environHasMarker(pid: number, marker: string): boolean {
  try {
    return readFileSync(`/proc/${pid}/environ`).toString('utf8').split('\0').includes(`${PROCESS_MARKER_VAR}=${marker}`);
  } catch {
    return false;
  }
}

/**
 * Live (non-zombie) processes that are in process group `pgid` or carry `marker`, excluding this
 * process itself. With `startedFrom` (clock ticks, {@link processStartTicks} of the run's first
 * process) a process that started earlier cannot carry the run's marker, and its environment is
 * not read. Linux only; elsewhere returns `[]`.
 *
 * The /proc files are read synchronously: they are generated in memory by the kernel, and one
 * scan of ~100 processes takes ~5 ms that way against 20–40 ms through libuv's thread pool
 * (measured on this machine kind; see BENCHMARKS.md, "CLI overhead"), which the supervisor pays
 * after every run. Async in signature, so a later implementation may yield.
 */
export async function scanProcesses(filter: { marker?: string; pgid?: number; startedFrom?: number | null }): Promise<ProcessEntry[]> {
  if (!procAvailable()) return [];
  let names: string[];
  try {
    names = readdirSync('/proc');
  } catch {
    return [];
  }
  const out: ProcessEntry[] = [];
  for (const name of names) {
    if (!/^\d+$/.test(name)) continue;
    const pid = Number(name);
    if (pid === process.pid || pid <= 1) continue;
    const stat = readStat(pid);
    if (!stat || stat.state === 'Z' || stat.state === 'X') continue;
    const inGroup = filter.pgid !== undefined && stat.pgid === filter.pgid;
    const couldCarry = filter.startedFrom == null || !(stat.startTicks < filter.startedFrom);
    const hasMarker = filter.marker && couldCarry ? environHasMarker(pid, filter.marker) : false;
    if (hasMarker || inGroup) out.push({ pid, pgid: stat.pgid, state: stat.state, hasMarker });
  }
  return out;
}

/**
 * pids of the live processes whose environment carries `AICD_PROCESS_MARKER=<marker>` — the
 * processes of one run, including descendants that left its process group with `setsid`
 * (a process that replaced its own environment, e.g. via `env -i`, is not found). Linux only;
 * elsewhere `[]`.
 */
export async function findProcessesByMarker(marker: string): Promise<number[]> {
  return (await scanProcesses({ marker })).map((e) => e.pid);
}

/**
 * True when `pid` is a live process. On Linux a zombie counts as dead; elsewhere (or without
 * /proc) it falls back to `kill(pid, 0)`, where a zombie still counts as alive.
 */
export function isProcessAlive(pid: number): boolean {
  if (procAvailable()) {
    try {
      const stat = parseStat(readFileSync(`/proc/${pid}/stat`, 'utf8'));
      return stat !== null && stat.state !== 'Z' && stat.state !== 'X';
    } catch {
      return false;
    }
  }
  try {
    process.kill(pid, 0);
    return true;
  } catch (err) {
    return (err as NodeJS.ErrnoException).code === 'EPERM';
  }
}

/** True when process group `pgid` still has a member (via `kill(-pgid, 0)`; zombies count). */
export function groupExists(pgid: number): boolean {
  try {
    process.kill(-pgid, 0);
    return true;
  } catch (err) {
    return (err as NodeJS.ErrnoException).code === 'EPERM';
  }
}

/** Sends `signal` to process group `pgid`; false when the group is gone (ESRCH) or not ours (EPERM). */
export function signalGroup(pgid: number, signal: NodeJS.Signals): boolean {
  try {
    process.kill(-pgid, signal);
    return true;
  } catch {
    return false;
  }
}

/** Sends `signal` to `pid`; false when it is gone or not ours. */
export function signalProcess(pid: number, signal: NodeJS.Signals): boolean {
  try {
    process.kill(pid, signal);
    return true;
  } catch {
    return false;
  }
}
