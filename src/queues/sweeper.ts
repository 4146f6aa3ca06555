import { Inject, Injectable, Logger, OnApplicationBootstrap, OnModuleDestroy } from '@nestjs/common';
import { APP_CONFIG, type AppConfig } from '../config/config';
import { JobRepository } from '../jobs/job.repository';
import { pendingStage } from '../jobs/pending-stage';
import { BullStageDispatcher } from './bull-stage.dispatcher';
import { stageMessageId } from './stage-queues';

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
  private timer?: NodeJS.Timeout;
  private running = false;

  constructor(
    private readonly jobs: JobRepository,
    private readonly dispatcher: BullStageDispatcher,
    @Inject(APP_CONFIG) private readonly config: AppConfig,
  ) {}

  onApplicationBootstrap(): void {
    if (this.config.SWEEP_INTERVAL_MS > 0) {
      this.timer = setInterval(() => void this.tick(), this.config.SWEEP_INTERVAL_MS);
      this.timer.unref();
    }
  }

  onModuleDestroy(): void {
    if (this.timer) clearInterval(this.timer);
  }

  private async tick(): Promise<void> {
    if (this.running) return;
    this.running = true;
    try {
      const r = await this.sweep();
      if (r.enqueued || r.retried || r.rolledForward) this.log.warn(`sweep repaired jobs: ${JSON.stringify(r)}`);
    } catch (e) {
      this.log.warn(`sweep failed: ${e instanceof Error ? e.message : String(e)}`);
    } finally {
      this.running = false;
    }
  }

  /** One sweep over at most `limit` jobs, oldest first. @throws when Redis or MongoDB fails. */
  async sweep(graceMs: number = this.config.SWEEP_GRACE_MS, limit = 500): Promise<SweepReport> {
    const before = new Date(Date.now() - graceMs);
    // First finish commits whose writer died between claiming a version and writing the job.
    const rolledForward = await this.jobs.rollForwardStale(graceMs, limit);
    const candidates = await this.jobs.findStale(['QUEUED', 'PLANNING', 'CODING', 'REVIEWING', 'PR_OPEN'], before, limit);
    const report: SweepReport = { examined: candidates.length, enqueued: 0, retried: 0, rolledForward };
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
    return report;
  }
}
