/**
 * Killing a run's process tree: its process group plus every process carrying its marker
 * (descendants that left the group with `setsid`). SIGTERM first, SIGKILL after a grace period,
 * then wait until the tree is gone. Linux finds escaped descendants through /proc (see
 * process-table.ts); elsewhere only the process group is signalled.
 */
import {
  groupExists,
  isProcessAlive,
  procAvailable,
  scanProcesses,
  signalGroup,
  signalProcess,
} from './process-table';

/** Which tree: the run's marker and, when known, its process group id (= pid of the run's direct child). */
export interface ReapTarget {
  marker: string;
  pgid?: number;
  /** Start time of the run's first process (clock ticks since boot): older processes are not examined for the marker. */
  startedFrom?: number | null;
}

/**
 * What a reap found and did: `found` processes belonged to the tree when it started, `killed` of
 * them are gone at the end, `remaining` processes of the tree are still alive (e.g. stuck in
 * uninterruptible sleep). Without /proc (non-Linux) the counts are of process groups (0 or 1).
 */
export interface ReapReport {
  found: number;
  killed: number;
  remaining: number;
}

/** Poll interval while waiting for processes to die, ms. */
const POLL_MS = 25;
/** How long to wait after SIGKILL before giving up on a process, ms. */
const AFTER_KILL_WAIT_MS = 3000;

const sleep = (ms: number) => new Promise<void>((resolve) => setTimeout(resolve, ms));

/**
 * Terminates one tree: {@link terminate} sends SIGTERM now and schedules SIGKILL after `graceMs`;
 * {@link waitGone} waits until nothing of the tree is alive.
 *
 * Identity: with `trustGroup` the process group is signalled as is (the supervisor, whose child
 * leads the group, knows it is its own). Without it (reaping after a crash, when the pgid may have
 * been reused) the group is signalled only when one of its live members carries the marker, and
 * otherwise only the processes carrying the marker are — so a stranger that got a recorded pid or
 * pgid is never killed. (Linux never hands out a pid still in use as a process group id, so a group
 * with a marked member is the run's group.)
 */
export class ProcessTreeKiller {
  private termAt: number | null = null;
  private killSent = false;
  private killTimer: NodeJS.Timeout | null = null;
  /** Every pid seen as part of the tree: a dying process's environ is unreadable before it turns zombie, so it is watched by pid. */
  private readonly seen = new Set<number>();

  constructor(
    private readonly target: ReapTarget,
    private readonly graceMs: number,
    private readonly trustGroup: boolean,
  ) {}

  /** True once {@link terminate} was called. */
  get terminating(): boolean {
    return this.termAt !== null;
  }

  /** When SIGTERM was sent (ms since the epoch), or null. */
  get terminatedAt(): number | null {
    return this.termAt;
  }

  /** True once SIGKILL was sent. */
  get killed(): boolean {
    return this.killSent;
  }

  /**
   * The tree's live processes now: pids on Linux; without /proc `[pgid]` while the group exists
   * (and only with `trustGroup`, as the group's identity cannot be checked).
   */
  async members(): Promise<number[]> {
    const { pgid, marker } = this.target;
    if (!procAvailable()) {
      return pgid !== undefined && this.trustGroup && groupExists(pgid) ? [pgid] : [];
    }
    const entries = await scanProcesses({ marker, pgid, startedFrom: this.target.startedFrom });
    const groupOurs = this.groupIsOurs(entries);
    const pids = new Set(entries.filter((e) => e.hasMarker || (groupOurs && e.pgid === pgid)).map((e) => e.pid));
    for (const pid of this.seen) if (!pids.has(pid) && isProcessAlive(pid)) pids.add(pid);
    for (const pid of pids) this.seen.add(pid);
    return [...pids];
  }

  /** SIGTERM to the tree now; SIGKILL after the grace period. Idempotent. */
  async terminate(): Promise<void> {
    if (this.termAt !== null) return;
    this.termAt = Date.now();
    this.killTimer = setTimeout(() => void this.kill(), this.graceMs);
    this.killTimer.unref?.();
    await this.signal('SIGTERM');
  }

  /** SIGKILL to the tree now (also when the grace period has not run out). */
  async kill(): Promise<void> {
    if (this.killTimer) clearTimeout(this.killTimer);
    this.killTimer = null;
    this.killSent = true;
    await this.signal('SIGKILL');
  }

  /**
   * Resolves with the pids still alive once the tree is gone (`[]`), or when processes survive
   * SIGKILL for {@link AFTER_KILL_WAIT_MS}. Sends SIGKILL itself when the grace period ran out.
   * Call it after {@link terminate}, or with nothing left to kill.
   */
  async waitGone(): Promise<number[]> {
    for (;;) {
      const alive = await this.members();
      if (alive.length === 0) return [];
      const now = Date.now();
      if (this.termAt === null) return alive;
      if (!this.killSent && now >= this.termAt + this.graceMs) await this.kill();
      else if (this.killSent) await this.signal('SIGKILL'); // catches processes forked meanwhile
      if (this.killSent && now >= this.termAt + this.graceMs + AFTER_KILL_WAIT_MS) return alive;
      await sleep(POLL_MS);
    }
  }

  /** Cancels the scheduled SIGKILL (when the caller gives up waiting). */
  dispose(): void {
    if (this.killTimer) clearTimeout(this.killTimer);
    this.killTimer = null;
  }

  private groupIsOurs(entries: { pgid: number; hasMarker: boolean }[]): boolean {
    const { pgid } = this.target;
    if (pgid === undefined) return false;
    return this.trustGroup || entries.some((e) => e.pgid === pgid && e.hasMarker);
  }

  private async signal(signal: NodeJS.Signals): Promise<void> {
    const { pgid, marker } = this.target;
    if (!procAvailable()) {
      if (pgid !== undefined && this.trustGroup) signalGroup(pgid, signal);
      return;
    }
    if (signal === 'SIGKILL') for (const pid of this.seen) if (isProcessAlive(pid)) signalProcess(pid, signal);
    // The group first and synchronously when it is known to be ours: no scan delays the signal.
    if (pgid !== undefined && this.trustGroup) signalGroup(pgid, signal);
    const entries = await scanProcesses({ marker, pgid, startedFrom: this.target.startedFrom });
    const groupOurs = this.groupIsOurs(entries);
    if (pgid !== undefined && groupOurs && !this.trustGroup && entries.some((e) => e.pgid === pgid)) {
      signalGroup(pgid, signal);
    }
    for (const e of entries) {
      if (e.hasMarker && !(groupOurs && e.pgid === pgid)) signalProcess(e.pid, signal);
    }
  }
}

/**
 * Kills what is left of a run's process tree — e.g. the orphans of a worker that was `kill -9`ed,
 * from the pid/pgid/marker recorded at spawn (`ProcessInfo`) — before the stage runs again.
 * SIGTERM to the tree, SIGKILL to what is left after `graceMs`, then waits until it is gone (or
 * processes survive SIGKILL for 3 s). Never kills a process that does not carry the marker unless
 * its process group has a member that does (see {@link ProcessTreeKiller}); on non-Linux systems,
 * where identity cannot be checked, it signals nothing but reports a still existing group as
 * `remaining: 1`. Never throws for processes that are gone.
 */
export async function reapProcesses(target: ReapTarget, graceMs: number): Promise<ReapReport> {
  if (!procAvailable()) {
    const exists = target.pgid !== undefined && groupExists(target.pgid);
    return { found: exists ? 1 : 0, killed: 0, remaining: exists ? 1 : 0 };
  }
  const killer = new ProcessTreeKiller(target, graceMs, false);
  try {
    const initial = await killer.members();
    if (initial.length === 0) return { found: 0, killed: 0, remaining: 0 };
    await killer.terminate();
    const remaining = await killer.waitGone();
    return {
      found: initial.length,
      killed: initial.filter((pid) => !isProcessAlive(pid)).length,
      remaining: remaining.length,
    };
  } finally {
    killer.dispose();
  }
}
