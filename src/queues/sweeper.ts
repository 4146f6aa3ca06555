import { Inject, Injectable, Logger, OnApplicationBootstrap, OnModuleDestroy } from '@nestjs/common';
import { IntervalTask } from '../common/interval-task';
import { APP_CONFIG, type AppConfig } from '../config/config';
import { StageAttemptRepository } from '../attempts/stage-attempt.repository';
import { JobRepository } from '../jobs/job.repository';
import { SWEPT_JOB_STATES } from '../jobs/job.record';
import { pendingStage } from '../jobs/pending-stage';
import { BullStageDispatcher } from './bull-stage.dispatcher';
import { stageMessageId } from './stage-queues';
import { Telemetry } from '../observability/telemetry';

/** What one sweep did. */
export interface SweepReport {
  /** Jobs examined (in a working state, not updated within the grace period). */
  examined: number;
  /** Stage messages that were missing and were sent. */
  enqueued: number;
  /** Dead-lettered stage messages (attempts spent on infrastructure errors) moved back to wait. */
  retried: number;
  /** Commits finished for a writer that died between claiming a version and writing the job. */
  rolledForward: number;
  /** Running stage attempts whose heartbeat was older than HEARTBEAT_TIMEOUT_MS, declared dead. */
  dead: number;
  /** Of those, the stages sent again as a new attempt (the job still waited for them). */
  rescued: number;
}

/**
 * The outbox repair: a commit and the next stage's enqueue are two writes to two stores, so a
 * crash between them would leave a job waiting for a message that never comes. Every
 * SWEEP_INTERVAL_MS the sweeper finds jobs that wait for a stage and were not updated for
 * SWEEP_GRACE_MS, and makes sure their message exists (the deterministic message id makes this
 * idempotent). A message that exhausted its attempts on infrastructure errors (the job is still
 * in the stage, not FAILED) is retried.
 */
@Injectable()
export class Sweeper implements OnApplicationBootstrap, OnModuleDestroy {
  private readonly log = new Logger(Sweeper.name);
  /** Passes of other persisted machines (pipeline runs), run after the jobs' on the same timer. */
  private readonly passes: { name: string; pass: () => Promise<Record<string, number>> }[] = [];
  private readonly task = new IntervalTask(
    async () => {
      const r = await this.sweep();
      if (r.enqueued || r.retried || r.rolledForward || r.dead) this.log.warn(`sweep repaired jobs: ${JSON.stringify(r)}`);
      for (const p of this.passes) {
        const repaired = await p.pass();
        if (Object.values(repaired).some((n) => n > 0)) this.log.warn(`sweep repaired ${p.name}: ${JSON.stringify(repaired)}`);
      }
    },
    (e) => this.log.warn(`sweep failed: ${e instanceof Error ? e.message : String(e)}`),
  );

  constructor(
    private readonly jobs: JobRepository,
    private readonly dispatcher: BullStageDispatcher,
    @Inject(APP_CONFIG) private readonly config: AppConfig,
    private readonly attempts: StageAttemptRepository,
    /** Observability hook (src/observability): counts each sweep's repairs. */
    private readonly telemetry: Telemetry,
  ) {}

  /**
   * Adds another persisted machine's repair pass (e.g. pipeline runs: claims, lost attempts,
   * missing step messages) to this sweeper: one timer, one grace period for every machine.
   * `pass` returns counts of what it repaired.
   */
  register(name: string, pass: () => Promise<Record<string, number>>): void {
    this.passes.push({ name, pass });
  }

  onApplicationBootstrap(): void {
    this.task.start(this.config.SWEEP_INTERVAL_MS);
  }

  onModuleDestroy(): void {
    this.task.stop();
  }

  /** One sweep over at most `limit` jobs, oldest first. @throws when Redis or MongoDB fails. */
  async sweep(graceMs: number = this.config.SWEEP_GRACE_MS, limit = 500): Promise<SweepReport> {
    const before = new Date(Date.now() - graceMs);
    // First finish commits whose writer died between claiming a version and writing the job.
    const rolledForward = await this.jobs.rollForwardStale(graceMs, limit);
    const { dead, rescued } = await this.rescueDeadAttempts(limit);
    const candidates = await this.jobs.findStale([...SWEPT_JOB_STATES], before, limit);
    const report: SweepReport = { examined: candidates.length, enqueued: 0, retried: 0, rolledForward, dead, rescued };
    for (const job of candidates) {
      const stage = pendingStage(job);
      if (!stage) continue;
      const queue = this.dispatcher.queue(stage);
      const message = await queue.getJob(stageMessageId(job.id, stage, job.version));
      if (!message) {
        await this.dispatcher.dispatch(job);
        report.enqueued++;
        continue;
      }
      const state = await message.getState();
      if (state === 'failed' || state === 'completed') {
        // The candidate was read before this message settled: if the job moved on meanwhile (the
        // usual case under a backlog), the message did its work and must not run again.
        const fresh = await this.jobs.findById(job.id);
        if (!fresh || fresh.version !== job.version || pendingStage(fresh) !== stage) continue;
      }
      if (state === 'failed') {
        // A snapshot this build cannot read will not get better by retrying.
        if (message.failedReason?.startsWith('UNKNOWN_MACHINE_VERSION')) continue;
        await message.retry('failed');
        report.retried++;
      } else if (state === 'completed') {
        // Processed without a commit (e.g. dropped as stale by a bug or a lost race): run again.
        await message.remove();
        await this.dispatcher.dispatch(job);
        report.enqueued++;
      }
    }
    this.telemetry.sweep(report); // observability hook: aicd_sweeper_repairs_total{kind}
    return report;
  }

  /**
   * Heartbeats: a running attempt whose heartbeat is older than HEARTBEAT_TIMEOUT_MS is declared
   * dead, and when the job still waits for that stage at that version, the stage is sent again as
   * a new attempt (`<jobId>-<stage>-<version>-a<attempt>`, counting the dead one) — even while
   * BullMQ still holds the dead worker's lock. The new attempt first reaps the dead one's process
   * tree (OrphanReaper). If the old worker was only slow, its next heartbeat finds the attempt
   * dead and stops it; either way the compare-and-set lets one result in.
   */
  private async rescueDeadAttempts(limit: number): Promise<{ dead: number; rescued: number }> {
    const now = new Date();
    const stale = await this.attempts.findStale(new Date(now.getTime() - this.config.HEARTBEAT_TIMEOUT_MS), limit);
    let dead = 0;
    let rescued = 0;
    for (const a of stale) {
      if (!(await this.attempts.markDead(a.id, a.heartbeatAt, now))) continue;
      dead++;
      const job = await this.jobs.findById(a.jobId);
      if (!job || job.version !== a.version || pendingStage(job) !== a.stage) continue;
      this.log.warn(`job ${a.jobId} ${a.stage} attempt ${a.attempt} on ${a.host} (worker ${a.workerId}) lost its heartbeat ${now.getTime() - a.heartbeatAt.getTime()} ms ago: running it again`);
      await this.dispatcher.dispatch(job, { attemptsBefore: a.attempt, idSuffix: `a${a.attempt}` });
      rescued++;
    }
    return { dead, rescued };
  }
}
