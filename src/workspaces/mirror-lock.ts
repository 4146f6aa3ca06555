/**
 * The cross-process lock that serialises operations mutating a mirror (fetch, worktree
 * add/remove/prune, branch delete): several jobs of one repository, in several worker processes
 * on one host, share a mirror, and git's own ref and index locks make a concurrent second writer
 * fail ("cannot lock ref …", "… .lock': File exists") rather than wait.
 *
 * Two layers:
 * 1. an in-process FIFO per lock path, so callers in one process queue instead of polling;
 * 2. proper-lockfile (https://github.com/moxystudio/node-proper-lockfile): an atomic `mkdir` of a
 *    lock directory beside the mirror, whose mtime the holder refreshes every `staleMs / 2`; a
 *    lock not refreshed for `staleMs` (its holder died) is stale and taken over. Waiting polls
 *    with a capped backoff until `timeoutMs`, honouring the AbortSignal.
 */
import * as lockfile from 'proper-lockfile';
import { WorkspaceError } from './workspace.errors';
import type { WorkspaceLogger } from './workspace.types';

export interface FileLockOptions {
  /** The lock directory created by proper-lockfile (e.g. `<root>/mirrors/<hash>.lock`). */
  lockPath: string;
  /** Longest wait, ms. */
  timeoutMs: number;
  /** Stale threshold, ms (≥ 2000, proper-lockfile's minimum). */
  staleMs: number;
  signal?: AbortSignal;
  logger: WorkspaceLogger;
}

/** Tail of each in-process queue, per lock path. */
const queues = new Map<string, Promise<void>>();

function sleep(ms: number, signal?: AbortSignal): Promise<void> {
  return new Promise((resolve) => {
    const done = () => {
      clearTimeout(timer);
      signal?.removeEventListener('abort', done);
      resolve();
    };
    const timer = setTimeout(done, ms);
    signal?.addEventListener('abort', done, { once: true });
  });
}

/** Resolves when `p` settles or the signal fires / the deadline passes (whichever first). */
async function waitTurn(p: Promise<void>, deadline: number, signal?: AbortSignal): Promise<boolean> {
  let settled = false;
  void p.then(() => (settled = true));
  while (!settled) {
    if (signal?.aborted || Date.now() >= deadline) return false;
    await Promise.race([p, sleep(Math.min(200, Math.max(1, deadline - Date.now())), signal)]);
  }
  return true;
}

/**
 * Runs `fn` while holding the lock at `opts.lockPath` (in this process and across processes).
 * @returns `fn`'s result.
 * @throws WorkspaceError `LOCK_TIMEOUT` after `timeoutMs` without the lock; `ABORTED` when the
 *   signal fires while waiting; whatever `fn` throws.
 */
export async function withFileLock<T>(opts: FileLockOptions, fn: () => Promise<T>): Promise<T> {
  const deadline = Date.now() + opts.timeoutMs;
  const previous = queues.get(opts.lockPath) ?? Promise.resolve();
  let leave!: () => void;
  const mine = new Promise<void>((resolve) => (leave = resolve));
  const tail = previous.then(() => mine);
  queues.set(opts.lockPath, tail);
  try {
    if (!(await waitTurn(previous, deadline, opts.signal))) throw timeoutOrAbort(opts);
    const release = await acquire(opts, deadline);
    try {
      return await fn();
    } finally {
      await release().catch((e: unknown) =>
        opts.logger.warn('mirror lock release failed', { lockPath: opts.lockPath, error: e instanceof Error ? e.message : String(e) }),
      );
    }
  } finally {
    leave();
    if (queues.get(opts.lockPath) === tail) queues.delete(opts.lockPath);
  }
}

function timeoutOrAbort(opts: FileLockOptions): WorkspaceError {
  return opts.signal?.aborted
    ? new WorkspaceError('ABORTED', `aborted while waiting for the lock ${opts.lockPath}`)
    : new WorkspaceError('LOCK_TIMEOUT', `lock ${opts.lockPath} not acquired within ${opts.timeoutMs} ms`, { lockPath: opts.lockPath, timeoutMs: opts.timeoutMs });
}

async function acquire(opts: FileLockOptions, deadline: number): Promise<() => Promise<void>> {
  let delay = 25;
  for (;;) {
    if (opts.signal?.aborted) throw timeoutOrAbort(opts);
    try {
      return await lockfile.lock(opts.lockPath, {
        realpath: false,
        lockfilePath: opts.lockPath,
        stale: Math.max(2000, opts.staleMs),
        retries: 0,
        // The default handler throws from a timer (an uncaught exception). A compromised lock
        // (our refresh failed, someone took it over) is logged; git's own ref locks still
        // protect the repository from a torn write.
        onCompromised: (err) => opts.logger.warn('mirror lock compromised', { lockPath: opts.lockPath, error: err.message }),
      });
    } catch (e) {
      if ((e as { code?: string }).code !== 'ELOCKED') throw e;
    }
    if (Date.now() >= deadline) throw timeoutOrAbort(opts);
    await sleep(Math.min(delay, Math.max(1, deadline - Date.now())) * (0.5 + Math.random()), opts.signal);
    delay = Math.min(delay * 2, 1000);
  }
}
