import { readdir, rm, stat } from 'node:fs/promises';
import { join } from 'node:path';
import { Logger } from '@nestjs/common';
import type { Queue } from 'bullmq';
import type { MongoRunRepository } from './mongo-run.repository';
import type { RunEngine } from './run-engine';
import type { StepAttempt, StepAttemptRepository } from './step-attempts';
import type { RunRecord } from './run.record';
import { stepMessageId, type StepMessage } from './step-queue';

/** Whether `run` took the attempt's result (its step's committed visit names the attempt): what it produced. */
function tookResult(run: RunRecord | null, a: StepAttempt): { produced: string[] } | null {
  const ctx = run?.snapshot.context;
  if (!ctx) return null;
  const step = ctx.steps[a.step] ?? ctx.spawned.find((s) => s.id === a.step);
  return step?.attemptId === a.id ? { produced: Object.values(step.artifacts ?? {}) } : null;
}

/**
 * The runs' sweeper pass (run by the same interval as the job sweeper's, in worker processes):
 * - applies version claims whose writer died between claim and write (FerretDB v1);
 * - marks running step attempts whose heartbeat is older than `heartbeatTimeoutMs` as lost
 *   (`WORKER_LOST`); their message is redelivered by BullMQ's stalled check and runs again — unless
 *   the run took the attempt's result, which makes it `succeeded` (also for an attempt marked lost
 *   in the last 2 × (heartbeat timeout + grace): a late report can land after the mark);
 * - for runs in `running` not updated for `graceMs`, makes sure every running step visit has a
 *   message that can still run it: a missing one is sent again, and one that ended (completed or
 *   failed) without its report reaching the run is removed and sent again;
 * - removes this worker's workspaces (`workRoot/<runId>`) of runs that succeeded or were canceled
 *   (or no longer exist) and were not touched for `graceMs`; a failed or quarantined run's stay
 *   for inspection and retry.
 */
export class RunSweeper {
  private readonly log = new Logger(RunSweeper.name);

  constructor(
    private readonly runs: MongoRunRepository,
    private readonly engine: RunEngine,
    private readonly attempts: StepAttemptRepository,
    private readonly queue: Queue<StepMessage>,
    private readonly options: { graceMs: number; heartbeatTimeoutMs: number; batch: number; workRoot?: string },
  ) {}

  /** @returns what it repaired. */
  async pass(): Promise<{ claims: number; lost: number; resent: number; workspacesRemoved: number }> {
    const claims = await this.runs.rollForwardStale(this.options.graceMs, this.options.batch);
    let lost = 0;
    const runs = new Map<string, Promise<RunRecord | null>>();
    const runOf = (id: string) => runs.get(id) ?? runs.set(id, this.runs.findById(id)).get(id)!;
    for (const a of await this.attempts.findDead(new Date(Date.now() - this.options.heartbeatTimeoutMs), this.options.batch)) {
      // Its worker died after the run took its result (reported, not yet recorded): succeeded.
      const took = tookResult(await runOf(a.runId), a);
      if (took) await this.attempts.markTaken(a.id, took.produced);
      else if (await this.attempts.markLost(a.id)) lost++;
    }
    // A worker whose heartbeat went stale while it reported (its attempt marked lost above, in
    // this or another process) may have had its result taken by the run after the mark, and died
    // before recording that: the run's word wins.
    const since = new Date(Date.now() - 2 * (this.options.heartbeatTimeoutMs + this.options.graceMs));
    for (const a of await this.attempts.findRecentlyLost(since, this.options.batch)) {
      const took = tookResult(await runOf(a.runId), a);
      if (took) await this.attempts.markTaken(a.id, took.produced);
    }
    let resent = 0;
    for (const run of await this.runs.findStale(['running'], new Date(Date.now() - this.options.graceMs), this.options.batch)) {
      const ctx = run.snapshot.context;
      const running = [
        ...Object.entries(ctx.steps).filter(([, s]) => s.status === 'running').map(([step, s]) => ({ step, visit: s.visit })),
        ...ctx.spawned.filter((s) => s.status === 'running').map((s) => ({ step: s.id, visit: s.visit })),
      ];
      let missing = false;
      for (const s of running) {
        const job = await this.queue.getJob(stepMessageId({ runId: run.id, ...s }));
        if (!job) {
          missing = true;
          continue;
        }
        const state = await job.getState();
        if (state === 'completed' || state === 'failed') {
          await job.remove().catch(() => undefined);
          missing = true;
        }
      }
      if (missing) resent += await this.engine.resend(run);
    }
    const workspacesRemoved = await this.removeEndedWorkspaces();
    if (claims || lost || resent) this.log.log(`runs sweeper: ${claims} claim(s) rolled forward, ${lost} lost attempt(s), ${resent} step message(s) re-sent`);
    return { claims, lost, resent, workspacesRemoved };
  }

  /**
   * Removes this worker's workspaces (`<workRoot>/run_*`) of runs that succeeded or were canceled
   * (or are unknown), older than the grace period by their mtime: at most `batch` per pass. Every
   * old enough directory is a candidate, in chunks of `batch` whose runs' statuses are one read:
   * the kept ones (a failed or quarantined run's, for inspection) never hide the others (taking the
   * first `batch` names in directory order did: 1,371 directories were left after a 10,000-run soak).
   * @returns how many were removed.
   */
  private async removeEndedWorkspaces(): Promise<number> {
    const root = this.options.workRoot;
    if (!root) return 0;
    let names: string[];
    try {
      names = (await readdir(root)).filter((n) => n.startsWith('run_'));
    } catch {
      return 0; // no runs here yet
    }
    const oldEnough: string[] = [];
    for (const name of names) {
      const info = await stat(join(root, name)).catch(() => null);
      if (info && Date.now() - info.mtimeMs >= this.options.graceMs) oldEnough.push(name);
    }
    let removed = 0;
    for (let i = 0; i < oldEnough.length && removed < this.options.batch; i += this.options.batch) {
      const chunk = oldEnough.slice(i, i + this.options.batch);
      const statuses = await this.runs.statusesOf(chunk);
      for (const name of chunk) {
        const status = statuses.get(name);
        if (status !== undefined && status !== 'succeeded' && status !== 'canceled') continue;
        if (removed >= this.options.batch) break;
        await rm(join(root, name), { recursive: true, force: true });
        removed++;
      }
    }
    return removed;
  }
}
